"""Energy and force losses.

Three kinds, each a weighted sum of an energy term and a force term:

``"mse"``
    ``w_E * mean_b((ΔE_b / n_b)^2) + w_F * mean_{i,k}(ΔF_ik^2)``:
    squared per-atom energy error averaged over molecules, squared force
    error averaged over all force components of the batch.
``"l1norm"``
    ``w_E * mean_b(|ΔE_b| / n_b) + w_F * mean_b( (1/n_b) Σ_{i∈b} ‖ΔF_i‖ )``:
    the loss of Ngo & Ravanbakhsh (arXiv 2510.09768), per-atom absolute
    energy error plus the per-atom Euclidean norm of the force error, each
    averaged within a molecule and then over the molecules of the batch.
``"huber"``
    like ``"mse"`` with the square replaced by a Huber function of width
    ``huber_delta`` (eV/atom for energies, eV/Å for force components).

Energies are in eV, forces in eV/Å; the loss has the units of its terms and
only its minimiser matters.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn import functional as F

__all__ = ["LOSSES", "DEFAULT_WEIGHTS", "EnergyForceLoss", "per_molecule_mean"]

LOSSES = ("mse", "l1norm", "huber")
# (energy weight, force weight) used when a weight is not given.
DEFAULT_WEIGHTS = {"mse": (1.0, 100.0), "l1norm": (1.0, 1.0), "huber": (1.0, 100.0)}


def per_molecule_mean(values: torch.Tensor, batch: torch.Tensor, num_graphs: int) -> torch.Tensor:
    """Mean of per-atom ``values`` (n,) within each molecule -> (B,)."""
    total = torch.zeros(num_graphs, dtype=values.dtype, device=values.device).index_add(0, batch, values)
    counts = torch.bincount(batch, minlength=num_graphs).clamp(min=1).to(values.dtype)
    return total / counts


@dataclass
class EnergyForceLoss:
    """Weighted energy + force loss.

    Parameters
    ----------
    kind : {"mse", "l1norm", "huber"}
    energy_weight, forces_weight : float, optional
        Weights of the two terms; ``None`` takes :data:`DEFAULT_WEIGHTS` of ``kind``.
    huber_delta : float
        Width of the Huber function (``kind="huber"`` only).
    """

    kind: str = "mse"
    energy_weight: float | None = None
    forces_weight: float | None = None
    huber_delta: float = 0.01

    def __post_init__(self) -> None:
        if self.kind not in LOSSES:
            raise ValueError(f"loss {self.kind!r} is not known; use one of {', '.join(LOSSES)}.")
        w_e, w_f = DEFAULT_WEIGHTS[self.kind]
        self.energy_weight = float(w_e if self.energy_weight is None else self.energy_weight)
        self.forces_weight = float(w_f if self.forces_weight is None else self.forces_weight)
        if self.energy_weight < 0 or self.forces_weight < 0:
            raise ValueError(
                f"loss weights must be non-negative; got energy_weight={self.energy_weight}, "
                f"forces_weight={self.forces_weight}."
            )
        if self.huber_delta <= 0:
            raise ValueError(f"huber_delta={self.huber_delta} must be positive.")

    def __call__(
        self,
        energy: torch.Tensor,
        forces: torch.Tensor,
        target_energy: torch.Tensor,
        target_forces: torch.Tensor,
        natoms: torch.Tensor,
        batch: torch.Tensor,
    ) -> dict[str, torch.Tensor]:
        """Loss of one batch.

        Parameters
        ----------
        energy, target_energy : (B,) total energies, eV
        forces, target_forces : (n, 3) forces, eV/Å
        natoms : (B,) atoms per molecule
        batch : (n,) molecule of each atom

        Returns
        -------
        dict with ``total``, ``energy`` and ``forces`` (the unweighted terms), scalars.
        """
        num_graphs = energy.shape[0]
        de = (energy - target_energy) / natoms.to(energy.dtype)
        df = forces - target_forces
        if self.kind == "mse":
            e_term = de.pow(2).mean()
            f_term = df.pow(2).mean()
        elif self.kind == "l1norm":
            e_term = de.abs().mean()
            # sqrt has an infinite gradient at 0; a tiny floor keeps it finite.
            norms = (df.pow(2).sum(-1) + 1e-18).sqrt()
            f_term = per_molecule_mean(norms, batch, num_graphs).mean()
        else:
            zero_e, zero_f = torch.zeros_like(de), torch.zeros_like(df)
            e_term = F.huber_loss(de, zero_e, delta=self.huber_delta)
            f_term = F.huber_loss(df, zero_f, delta=self.huber_delta)
        total = self.energy_weight * e_term + self.forces_weight * f_term
        return {"total": total, "energy": e_term, "forces": f_term}
