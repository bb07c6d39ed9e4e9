"""Is a structure inside a model's training data? The shortest-distance check.

Each checkpoint records the shortest distance per element pair seen in its
training data (``config.min_pair_distance``, from
:func:`forcefields.data.statistics.store_min_pair_distances`). A pair much
closer than that is a configuration the potential never saw: its energy and
forces there are extrapolated and may be arbitrary (a missing repulsive wall
is the usual failure).

"Much closer" is ``EXTRAPOLATION_FACTOR`` × the recorded minimum, 0.85. Why
0.85: the recorded minimum is the extreme of many thermal samples, so MD at or
a little above the training temperature legitimately visits a few per cent
below it (a C-H bond vibrating at 500 K reaches some 5 % below its shortest
300 K sample); 15 % below is far outside that spread (for C-H, ~0.80 Å instead
of ~0.95 Å, several eV up the repulsive wall in DFT), so the warning does not
fire on normal dynamics and does fire well before atoms come to the
0.5–0.6 Å at which simulations are declared blown up.
"""

from __future__ import annotations

import torch

__all__ = ["EXTRAPOLATION_FACTOR", "ExtrapolationWarning", "PairDistanceGuard"]

EXTRAPOLATION_FACTOR = 0.85

_SYMBOLS = (
    "X H He Li Be B C N O F Ne Na Mg Al Si P S Cl Ar K Ca Sc Ti V Cr Mn Fe Co Ni Cu Zn Ga Ge As Se Br Kr "
    "Rb Sr Y Zr Nb Mo Tc Ru Rh Pd Ag Cd In Sn Sb Te I Xe Cs Ba La Ce Pr Nd Pm Sm Eu Gd Tb Dy Ho Er Tm Yb "
    "Lu Hf Ta W Re Os Ir Pt Au Hg Tl Pb Bi Po At Rn Fr Ra Ac Th Pa U Np Pu Am Cm Bk Cf Es Fm Md No Lr Rf "
    "Db Sg Bh Hs Mt Ds Rg Cn Nh Fl Mc Lv Ts Og"
).split()


class ExtrapolationWarning(UserWarning):
    """A structure has a pair of atoms closer than the model's training data ever had them."""


def _symbol(z: int) -> str:
    return _SYMBOLS[z] if 0 <= z < len(_SYMBOLS) else f"Z={z}"


class PairDistanceGuard:
    """Finds pairs clearly closer than the training data's shortest distance of their elements.

    Parameters
    ----------
    min_pair_distance : dict ``"<Z1>-<Z2>"`` -> Å, the model's record (empty: never fires)
    factor : a pair is reported below ``factor`` × its recorded minimum

    Attributes
    ----------
    active : bool, whether there is a record to check against
    """

    def __init__(self, min_pair_distance: dict[str, float] | None, factor: float = EXTRAPOLATION_FACTOR):
        self.factor = float(factor)
        self.record = {str(k): float(v) for k, v in (min_pair_distance or {}).items()}
        self.active = bool(self.record)
        # (119, 119) thresholds in Å; 0 where a pair has no record (never fires)
        self._threshold = torch.zeros(119, 119, dtype=torch.float64)
        for key, value in self.record.items():
            a, b = (int(x) for x in key.split("-"))
            self._threshold[a, b] = self._threshold[b, a] = self.factor * value
        self._cache: dict[tuple, torch.Tensor] = {}

    def _table(self, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        key = (device, dtype)
        if key not in self._cache:
            self._cache[key] = self._threshold.to(device=device, dtype=dtype)
        return self._cache[key]

    def check(self, z: torch.Tensor, pos: torch.Tensor, edge_index: torch.Tensor) -> str | None:
        """A sentence about the pair furthest below its threshold, or None when all are above.

        Parameters
        ----------
        z : (n,) long, atomic numbers
        pos : (n, 3) positions, Å
        edge_index : (2, E) long, the pairs within the model's cutoff (both directions or one)

        Returns
        -------
        str naming the atoms, the elements, the distance and the recorded minimum, or None.
        """
        if not self.active or edge_index.numel() == 0:
            return None
        with torch.no_grad():
            i, j = edge_index[0], edge_index[1]
            d = (pos[i] - pos[j]).norm(dim=1)
            limit = self._table(pos.device, pos.dtype)[z[i], z[j]]
            below = d < limit
            if not bool(below.any()):
                return None
            ratio = torch.where(below, d / limit, torch.full_like(d, float("inf")))
            k = int(torch.argmin(ratio))
        a, b = sorted((int(i[k]), int(j[k])))
        za, zb = int(z[a]), int(z[b])
        pair = f"{min(za, zb)}-{max(za, zb)}"
        sa, sb = _symbol(min(za, zb)), _symbol(max(za, zb))
        return (
            f"atoms {a} ({_symbol(za)}) and {b} ({_symbol(zb)}) are {float(d[k]):.3f} Å apart, well below the "
            f"shortest {sa}-{sb} distance in the model's training data ({self.record[pair]:.3f} Å; warned below "
            f"{self.factor:g}×): the potential is extrapolating here and its energies and forces may be "
            "unphysical (this warning is given once per calculator)."
        )
