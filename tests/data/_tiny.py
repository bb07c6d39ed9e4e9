"""Tiny labelled data for the data tests (helpers; fixtures in conftest.py): ASE molecules, rattled, labelled with EMT.

Written in every layout the readers know: extxyz (default and custom keys),
ASE db, rMD17 per-split files and official archive layout, MD17 sGDML
archives (kcal/mol).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ase import Atoms
from ase.build import molecule
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator
from ase.units import kcal, mol

KCAL = kcal / mol  # eV per kcal/mol

# ASE's names of the molecules used as stand-ins for rMD17 molecules
ASE_NAME = {"ethanol": "CH3CH2OH", "benzene": "C6H6", "water": "H2O", "methane": "CH4"}


def labelled(name: str, n: int, seed: int = 0, stdev: float = 0.05) -> list[Atoms]:
    """``n`` rattled copies of an ASE molecule with EMT energies (eV) and forces (eV/Å)."""
    base = molecule(ASE_NAME.get(name, name))
    frames = []
    for k in range(n):
        atoms = base.copy()
        atoms.rattle(stdev=stdev, seed=seed * 1000 + k)
        atoms.calc = EMT()
        energy, forces = atoms.get_potential_energy(), atoms.get_forces()
        atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=forces)
        frames.append(atoms)
    return frames


def energies(frames) -> np.ndarray:
    return np.array([a.get_potential_energy() for a in frames])


def forces(frames) -> np.ndarray:
    return np.stack([a.get_forces() for a in frames])


def write_extxyz(path: Path, frames, energy_key: str | None = None, forces_key: str | None = None) -> Path:
    """Extended XYZ; labels under custom keys when given, else as calculator results."""
    import ase.io

    out = []
    for a in frames:
        b = a.copy()
        if energy_key:
            b.info[energy_key] = a.get_potential_energy()
            b.arrays[forces_key] = a.get_forces().copy()
        else:
            b.calc = SinglePointCalculator(b, energy=a.get_potential_energy(), forces=a.get_forces())
        out.append(b)
    ase.io.write(path, out, format="extxyz")
    return path


def rmd17_arrays(frames, old_indices=None) -> dict[str, np.ndarray]:
    """The rMD17 npz keys, labels in kcal/mol and kcal/mol/Å."""
    n = len(frames)
    return {
        "nuclear_charges": frames[0].numbers.astype(np.uint8),
        "coords": np.stack([a.positions for a in frames]),
        "energies": energies(frames) / KCAL,
        "forces": forces(frames) / KCAL,
        "old_indices": np.arange(n) if old_indices is None else np.asarray(old_indices),
        "old_energies": energies(frames) / KCAL,
        "old_forces": forces(frames) / KCAL,
    }


def write_rmd17_per_split(root: Path, name: str, frames, splits: dict[str, np.ndarray]) -> Path:
    """``rmd17_<name>_<split>.npz`` per split (e.g. ``{"train_01": idx, "test_01": idx}``)."""
    root.mkdir(parents=True, exist_ok=True)
    for split, idx in splits.items():
        arrays = rmd17_arrays([frames[i] for i in idx], old_indices=np.asarray(idx) * 7 + 3)
        np.savez(root / f"rmd17_{name}_{split}.npz", **arrays)
    return root


def write_rmd17_archive(root: Path, name: str, frames, splits: dict[str, np.ndarray]) -> Path:
    """The official layout: ``npz_data/rmd17_<name>.npz`` + ``splits/index_<split>.csv``."""
    (root / "npz_data").mkdir(parents=True, exist_ok=True)
    (root / "splits").mkdir(parents=True, exist_ok=True)
    np.savez(root / "npz_data" / f"rmd17_{name}.npz", **rmd17_arrays(frames, np.arange(len(frames)) * 7 + 3))
    for split, idx in splits.items():
        np.savetxt(root / "splits" / f"index_{split}.csv", np.asarray(idx), fmt="%d")
    return root


def write_md17(path: Path, frames) -> Path:
    """sGDML archive: z, R, E (F, 1), F in kcal/mol."""
    np.savez(
        path,
        z=frames[0].numbers,
        R=np.stack([a.positions for a in frames]),
        E=(energies(frames) / KCAL)[:, None],
        F=forces(frames) / KCAL,
        name=np.array("test"),
        theory=np.array("EMT"),
    )
    return path
