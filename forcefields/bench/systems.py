"""The structures every regime times, built deterministically from a seed.

- md: one small molecule (rMD17-like, 9 to 21 atoms): ethanol and the other
  molecules of ASE's G2 set by name, aspirin from a geometry stored here (the
  first frame of rMD17 ``test_01``, CC0), or ``rmd17:<molecule>`` read from an
  rMD17 folder when one is given.
- batch: ``size`` copies of aspirin, each rattled by 0.01 Å.
- large: non-periodic water droplets at liquid density (1 g/cm^3): oxygens on
  a cubic grid of spacing 3.10 Å, the ``n`` grid points closest to the centre
  (a sphere), jittered by up to 0.2 Å, each molecule (O-H 0.9572 Å,
  H-O-H 104.52°) turned at random.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from ase import Atoms

__all__ = [
    "aspirin",
    "md_molecule",
    "md_systems",
    "batch_systems",
    "water_droplet",
    "to_batch",
    "WATER_SPACING",
]

# rMD17 aspirin, test_01 frame 0 (Å), CC0-1.0.
_ASPIRIN_Z = [6, 6, 6, 6, 6, 6, 6, 8, 8, 8, 6, 6, 8, 1, 1, 1, 1, 1, 1, 1, 1]
_ASPIRIN_POS = [
    (2.2814, -0.2714, 0.4966), (0.8952, 1.8062, -0.8219), (2.9741, 0.8598, 0.0164),
    (2.2437, 1.8587, -0.7590), (-3.5699, 0.9829, -0.7403), (0.9188, -0.4470, 0.1945),
    (0.1605, 0.6487, -0.4367), (-0.8369, -2.1382, 0.0951), (-2.0433, 0.8704, 1.2601),
    (1.1304, -2.6774, 0.8706), (0.3243, -1.8100, 0.2820), (-2.2399, 0.7154, 0.0867),
    (-1.1847, 0.3977, -0.7623), (0.6010, -3.4959, 0.8457), (2.8470, -1.1051, 0.9673),
    (0.3036, 2.6573, -1.2769), (4.0699, 1.0410, 0.3418), (2.8549, 2.5599, -1.3522),
    (-3.5582, 0.1758, -1.5761), (-4.4017, 0.7299, 0.0150), (-3.6570, 1.9985, -1.1539),
]

# G2 names of rMD17's other molecules, where ASE has them.
_G2_ALIASES = {"ethanol": "CH3CH2OH", "benzene": "C6H6"}

# Liquid water: 18.015 g/mol at 1 g/cm^3 is 29.9 Å^3 per molecule.
WATER_SPACING = (18.015 / 0.602214076) ** (1.0 / 3.0)  # Å
_OH = 0.9572  # Å
_HOH = math.radians(104.52)


def aspirin() -> Atoms:
    """Aspirin (C9H8O4, 21 atoms), rMD17 geometry, Å."""
    return Atoms(numbers=_ASPIRIN_Z, positions=_ASPIRIN_POS)


def md_molecule(name: str, rmd17_root: str | Path | None = None) -> Atoms:
    """One molecule by name.

    Parameters
    ----------
    name : "aspirin", a G2 name or alias ("ethanol", "benzene", "CH4", ...),
        or "rmd17:<molecule>" (first frame of ``rmd17_<molecule>_test_01.npz``
        under ``rmd17_root``)
    rmd17_root : folder of rMD17 npz files, needed for "rmd17:" names

    Raises
    ------
    KeyError : the name is not a molecule this module can build
    FileNotFoundError : an "rmd17:" name without its file
    """
    if name == "aspirin":
        return aspirin()
    if name.startswith("rmd17:"):
        mol = name.split(":", 1)[1]
        if rmd17_root is None:
            raise FileNotFoundError(f"{name!r} needs the rMD17 folder; pass --root with the rmd17 npz files.")
        path = Path(rmd17_root) / f"rmd17_{mol}_test_01.npz"
        if not path.is_file():
            raise FileNotFoundError(f"{path} does not exist; pass --root with the rMD17 npz files or use another molecule.")
        with np.load(path) as d:
            return Atoms(numbers=d["nuclear_charges"].astype(int), positions=d["coords"][0])
    from ase.build import molecule
    from ase.collections import g2

    g2_name = _G2_ALIASES.get(name, name)
    if g2_name not in g2.names:
        raise KeyError(
            f"unknown benchmark molecule {name!r}; use 'aspirin', a G2 name such as 'ethanol', "
            "or 'rmd17:<molecule>' with --root."
        )
    return molecule(g2_name)


def md_systems(names: list[str] | tuple[str, ...], rmd17_root: str | Path | None = None) -> list[tuple[str, Atoms]]:
    """(name, Atoms) for each molecule of the md regime."""
    return [(n, md_molecule(n, rmd17_root)) for n in names]


def batch_systems(size: int, base: Atoms | None = None, seed: int = 0, rattle: float = 0.01) -> list[Atoms]:
    """``size`` copies of ``base`` (aspirin by default), each rattled by ``rattle`` Å."""
    base = aspirin() if base is None else base
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(int(size)):
        a = base.copy()
        a.positions = a.positions + rng.normal(scale=rattle, size=a.positions.shape)
        out.append(a)
    return out


def _random_unit(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.normal(size=(n, 3))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def water_droplet(n_atoms: int, seed: int = 0, jitter: float = 0.2) -> Atoms:
    """A spherical cluster of water at liquid density with about ``n_atoms`` atoms.

    Parameters
    ----------
    n_atoms : target number of atoms; the droplet has ``3 * round(n_atoms / 3)``
        (at least one molecule)
    seed : fixes jitter and orientations
    jitter : largest displacement of an oxygen from its grid point per axis (Å)

    Returns
    -------
    ase.Atoms, non-periodic, ordered O, H, H per molecule, centred at the origin.
    """
    n_w = max(1, int(round(n_atoms / 3)))
    rng = np.random.default_rng(seed)
    k = int(math.ceil(0.5 * (6.0 * n_w / math.pi) ** (1.0 / 3.0))) + 2
    axis = np.arange(-k, k + 1, dtype=float)
    grid = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1).reshape(-1, 3) * WATER_SPACING
    order = np.lexsort((np.arange(len(grid)), np.round(np.linalg.norm(grid, axis=1), 6)))
    oxygens = grid[order[:n_w]] + rng.uniform(-jitter, jitter, size=(n_w, 3))
    u = _random_unit(rng, n_w)
    # A second unit vector at 104.52° from u, in a random plane through u.
    w = _random_unit(rng, n_w)
    w = w - (w * u).sum(1, keepdims=True) * u
    w = w / np.linalg.norm(w, axis=1, keepdims=True)
    v = math.cos(_HOH) * u + math.sin(_HOH) * w
    pos = np.empty((n_w, 3, 3))
    pos[:, 0] = oxygens
    pos[:, 1] = oxygens + _OH * u
    pos[:, 2] = oxygens + _OH * v
    numbers = np.tile([8, 1, 1], n_w)
    return Atoms(numbers=numbers, positions=pos.reshape(-1, 3))


def to_batch(structures: list[Atoms], device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32):
    """Atoms -> torch_geometric Batch with ``z`` (n,), ``pos`` (n, 3) Å, ``natoms`` (B,).

    No ``edge_index``: the model builds the neighbour list, as in an MD step.
    """
    from torch_geometric.data import Batch, Data

    data = [
        Data(
            z=torch.as_tensor(a.numbers, dtype=torch.long),
            pos=torch.as_tensor(a.positions, dtype=dtype),
            natoms=torch.tensor([len(a)]),
        )
        for a in structures
    ]
    return Batch.from_data_list(data).to(device)
