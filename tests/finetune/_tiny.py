"""Tiny labelled molecules and a tiny parent checkpoint for the fine-tuning tests.

Molecules come from ase.build, rattled, labelled with ASE's EMT calculator
(eV, Å). "New data" shifts EMT energies by a per-element offset, as if it came
from another code (the refit of E0 must absorb it).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch

CUTOFF = 4.0
# eV per atom added to EMT energies in the "new" data: another code's zero of energy
OFFSETS = {1: -13.6, 6: -1029.8, 7: -1485.3, 8: -2041.3}


def labelled(formulas, num: int, seed: int = 0, stdev: float = 0.08, offsets=None):
    """``num`` rattled molecules cycling through ``formulas``, EMT labels (+ per-element offsets)."""
    from ase.build import molecule
    from ase.calculators.emt import EMT

    rng = np.random.default_rng(seed)
    frames = []
    for k in range(num):
        atoms = molecule(formulas[k % len(formulas)])
        atoms.positions += rng.normal(scale=stdev, size=atoms.positions.shape)
        atoms.calc = EMT()
        energy, forces = float(atoms.get_potential_energy()), atoms.get_forces().copy()
        if offsets:
            energy += sum(offsets[int(z)] for z in atoms.numbers)
        atoms.calc = None
        atoms.info["REF_energy"] = energy
        atoms.arrays["REF_forces"] = forces
        frames.append(atoms)
    return frames


def write(path: Path, frames, **info) -> Path:
    import ase.io

    for atoms in frames:
        atoms.info.update(info)
    ase.io.write(str(path), frames, format="extxyz")
    return path


def tiny_parent(family: str = "mpnn-xs", elements=(1, 6, 8), seed: int = 0, **overrides):
    """An untrained, well-scaled tiny model (E0 near EMT's zero, i.e. the 'parent code')."""
    from forcefields.models import create_model

    config = dict(
        hidden=16, num_layers=2, num_rbf=6, cutoff=CUTOFF, elements=tuple(elements),
        atomic_energies={str(z): 0.1 * z for z in elements}, energy_scale=1.0, avg_num_neighbors=4.0,
    )
    config.update(overrides)
    return create_model(family, seed=seed, **config)


def tree_hashes(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder`` (relative path -> digest)."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(Path(folder).rglob("*"))
        if p.is_file()
    }


def predict(model, atoms):
    """Energy (eV) and forces (eV/Å) of one ase.Atoms with a forcefields model."""
    from forcefields.zoo.reference import predict as _predict

    return _predict(model, atoms.numbers, atoms.positions)


def same_parameters(a: torch.nn.Module, b: torch.nn.Module, names) -> bool:
    pa, pb = dict(a.named_parameters()), dict(b.named_parameters())
    return all(torch.equal(pa[n].detach().cpu(), pb[n].detach().cpu()) for n in names)
