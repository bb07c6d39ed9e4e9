"""Readers: files on disk -> :class:`FrameSet` (flat arrays in eV and Å).

Two readers cover what users bring:

- :func:`read_npz` for NumPy archives: revised MD17 (``nuclear_charges``,
  ``coords``, ``energies``, ``forces``; kcal/mol), original MD17 / sGDML
  (``z``, ``R``, ``E``, ``F``; kcal/mol) or any archive with named keys.
- :func:`read_ase` for everything ASE reads (extended XYZ, ASE databases, ...),
  with configurable energy and force keys (e.g. ``REF_energy``).

Declared units convert on the way in; inside the package everything is eV, Å
and eV/Å.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from .errors import DataError, DataFileNotFoundError
from .units import (
    canonical_energy_unit,
    canonical_length_unit,
    energy_factor,
    forces_factor,
    length_factor,
)

__all__ = ["FrameSet", "ReaderOptions", "read_file", "read_npz", "read_ase", "concat_framesets"]


@dataclass(frozen=True)
class ReaderOptions:
    """How to read one source.

    Attributes
    ----------
    energy_key, forces_key : str or None
        Where the labels live (an npz key; an extxyz ``info``/``arrays`` key or
        calculator result; an ASE-db key-value pair or data entry). None: the
        format's usual name.
    positions_key, numbers_key : str or None
        npz only: keys of positions and atomic numbers when not the usual ones.
    units : str or None
        Energy unit of the file (``"eV"``, ``"meV"``, ``"kcal/mol"``,
        ``"kJ/mol"``, ``"hartree"``, ``"Ry"``). None: kcal/mol for (r)MD17
        archives, eV otherwise.
    length_unit : str or None
        Unit of positions (``"Å"``, ``"bohr"``, ``"nm"``); None: Å.
    forces_unit : str or None
        ``"<energy>/<length>"``; None: ``units`` per ``length_unit``.
    """

    energy_key: str | None = None
    forces_key: str | None = None
    positions_key: str | None = None
    numbers_key: str | None = None
    units: str | None = None
    length_unit: str | None = None
    forces_unit: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ReaderOptions":
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(d) - known)
        if unknown:
            raise DataError(
                f"unknown source option(s) {unknown}; the options are {sorted(known)}."
            )
        return cls(**d)


@dataclass
class FrameSet:
    """Frames of one source, atoms of all frames concatenated.

    Attributes
    ----------
    numbers : (n,) int64, atomic numbers
    positions : (n, 3) float64, Å
    energy : (F,) float64, total energy, eV
    forces : (n, 3) float64, eV/Å
    natoms : (F,) int64, atoms per frame
    paths : list of str, the files read
    file_index : (F,) int64, which of ``paths`` each frame came from
    frame_in_file : (F,) int64, the frame's index inside its file
    units : dict str -> str, units the file declared (``energy``, ``length``, ``forces``)
    groups : dict str -> (k,) int64, predefined subsets (e.g. rMD17 ``train_01``), frame indices
    label : str, the source this came from (for messages)
    layout : str, how the files were recognised (for ``data info``)
    """

    numbers: np.ndarray
    positions: np.ndarray
    energy: np.ndarray
    forces: np.ndarray
    natoms: np.ndarray
    paths: list[str]
    file_index: np.ndarray
    frame_in_file: np.ndarray
    units: dict[str, str] = field(default_factory=dict)
    groups: dict[str, np.ndarray] = field(default_factory=dict)
    label: str = ""
    layout: str = ""
    ids: np.ndarray | None = None  # (F,) stable frame ids when the files carry them (rMD17 old_indices)
    molecules: np.ndarray | None = None  # (F,) molecule id of each frame when a file holds many molecules (corpora)

    @property
    def num_frames(self) -> int:
        return int(self.natoms.shape[0])

    @property
    def ptr(self) -> np.ndarray:
        """(F + 1,) int64, first atom of each frame, then the total."""
        ptr = np.zeros(self.num_frames + 1, dtype=np.int64)
        np.cumsum(self.natoms, out=ptr[1:])
        return ptr

    def largest_force(self) -> np.ndarray:
        """(F,) float64, the largest atomic force norm of each frame, eV/Å."""
        if self.num_frames == 0:
            return np.zeros(0)
        return np.maximum.reduceat(np.linalg.norm(self.forces, axis=1), self.ptr[:-1])

    def where(self, frame: int) -> str:
        """'<file> frame <k>' for messages."""
        return f"{self.paths[int(self.file_index[frame])]} frame {int(self.frame_in_file[frame])}"

    def atom_index(self, frames: np.ndarray) -> np.ndarray:
        """Indices of the atoms of ``frames`` (in that order)."""
        frames = np.asarray(frames, dtype=np.int64)
        ptr = self.ptr
        counts = self.natoms[frames]
        starts = np.repeat(ptr[frames], counts)
        offsets = np.arange(int(counts.sum()), dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
        return starts + offsets

    def subset(self, frames: np.ndarray) -> "FrameSet":
        """A new FrameSet with ``frames`` (in that order); groups are dropped."""
        frames = np.asarray(frames, dtype=np.int64)
        atoms = self.atom_index(frames)
        return replace(
            self,
            numbers=self.numbers[atoms],
            positions=self.positions[atoms],
            energy=self.energy[frames],
            forces=self.forces[atoms],
            natoms=self.natoms[frames],
            file_index=self.file_index[frames],
            frame_in_file=self.frame_in_file[frames],
            groups={},
            ids=None if self.ids is None else self.ids[frames],
            molecules=None if self.molecules is None else self.molecules[frames],
        )


def concat_framesets(parts: list[FrameSet], label: str, layout: str) -> FrameSet:
    """Frames of several files, one after the other (groups are not carried over)."""
    paths: list[str] = []
    file_index = []
    for p in parts:
        file_index.append(p.file_index + len(paths))
        paths.extend(p.paths)
    ids = None
    if all(p.ids is not None for p in parts):
        ids = np.concatenate([p.ids for p in parts])
    return FrameSet(
        numbers=np.concatenate([p.numbers for p in parts]),
        positions=np.concatenate([p.positions for p in parts]),
        energy=np.concatenate([p.energy for p in parts]),
        forces=np.concatenate([p.forces for p in parts]),
        natoms=np.concatenate([p.natoms for p in parts]),
        paths=paths,
        file_index=np.concatenate(file_index),
        frame_in_file=np.concatenate([p.frame_in_file for p in parts]),
        units=dict(parts[0].units) if parts else {},
        label=label,
        layout=layout,
        ids=ids,
    )


# ---------------------------------------------------------------- helpers
def _check_exists(path: Path) -> None:
    if not path.is_file():
        where = "folder" if path.is_dir() else "file"
        raise DataFileNotFoundError(
            f"no data file at {path}" + (f" (it is a {where})" if path.is_dir() else "")
            + "; check the path, or give a dataset name such as 'rmd17:aspirin'.",
            path=str(path),
        )


def _units(options: ReaderOptions, default_energy: str, default_length: str = "Å") -> tuple[dict[str, str], float, float, float]:
    e_unit = canonical_energy_unit(options.units or default_energy)
    l_unit = canonical_length_unit(options.length_unit or default_length)
    f_unit = options.forces_unit or f"{e_unit}/{l_unit}"
    declared = {"energy": e_unit, "length": l_unit, "forces": f_unit}
    return declared, energy_factor(e_unit), length_factor(l_unit), forces_factor(f_unit)


def _finish(
    path: Path,
    numbers: np.ndarray,
    positions: np.ndarray,
    energy: np.ndarray,
    forces: np.ndarray,
    natoms: np.ndarray,
    declared: dict[str, str],
    factors: tuple[float, float, float],
    layout: str,
    ids: np.ndarray | None = None,
) -> FrameSet:
    e, l, f = factors
    num_frames = natoms.shape[0]
    return FrameSet(
        numbers=np.ascontiguousarray(numbers, dtype=np.int64),
        positions=np.ascontiguousarray(positions, dtype=np.float64) * l,
        energy=np.ascontiguousarray(energy, dtype=np.float64) * e,
        forces=np.ascontiguousarray(forces, dtype=np.float64) * f,
        natoms=np.asarray(natoms, dtype=np.int64),
        paths=[str(path)],
        file_index=np.zeros(num_frames, dtype=np.int64),
        frame_in_file=np.arange(num_frames, dtype=np.int64),
        units=declared,
        label=str(path),
        layout=layout,
        ids=ids,
    )


# ---------------------------------------------------------------- npz
_NPZ_LAYOUTS = {
    # layout: (numbers, positions, energy, forces, default energy unit)
    "rmd17": ("nuclear_charges", "coords", "energies", "forces", "kcal/mol"),
    "md17": ("z", "R", "E", "F", "kcal/mol"),
    "generic": ("numbers", "positions", "energy", "forces", "eV"),
}
_SGDML_UNITS = {"kcal/mol": "kcal/mol", "ev": "eV", "hartree": "hartree", "ha": "hartree"}


def read_npz(path: str | Path, options: ReaderOptions | None = None) -> FrameSet:
    """Read a NumPy archive of frames of one molecule.

    Parameters
    ----------
    path : the ``.npz`` file
    options : ReaderOptions; keys default to the layout recognised from the
        archive's keys (rMD17, MD17 or ``numbers/positions/energy/forces``)

    Returns
    -------
    FrameSet in eV and Å.
    """
    path = Path(path)
    options = options or ReaderOptions()
    _check_exists(path)
    try:
        archive = np.load(path, allow_pickle=False)
    except Exception as err:  # zipfile.BadZipFile, ValueError, OSError
        raise DataError(f"cannot read {path} as a NumPy .npz archive ({err}); check the file is complete.", path=str(path)) from err
    with archive:
        keys = set(archive.files)
        layout = next(
            (name for name, spec in _NPZ_LAYOUTS.items() if {spec[1], spec[2]} <= keys),
            "generic",
        )
        z_key, r_key, e_key, f_key, default_unit = _NPZ_LAYOUTS[layout]
        z_key = options.numbers_key or z_key
        r_key = options.positions_key or r_key
        e_key = options.energy_key or e_key
        f_key = options.forces_key or f_key
        for what, key in (("atomic numbers", z_key), ("positions", r_key), ("energies", e_key), ("forces", f_key)):
            if key not in keys:
                option = {"atomic numbers": "numbers_key", "positions": "positions_key", "energies": "energy_key", "forces": "forces_key"}[what]
                raise DataError(
                    f"{path} has no key {key!r} for the {what}; its keys are {sorted(keys)}; "
                    f"pass {option}=<one of them>.",
                    path=str(path),
                )
        numbers = np.asarray(archive[z_key])
        positions = np.asarray(archive[r_key])
        energy = np.asarray(archive[e_key])
        forces = np.asarray(archive[f_key])
        ids = np.asarray(archive["old_indices"], dtype=np.int64) if "old_indices" in keys else None
        default_length = "Å"
        if options.units is None and "e_unit" in keys:  # sGDML archives declare their units
            default_unit = _SGDML_UNITS.get(str(archive["e_unit"]).strip().lower(), default_unit)
        if options.length_unit is None and "r_unit" in keys and str(archive["r_unit"]).strip().lower() in ("bohr",):
            default_length = "bohr"

    if positions.ndim == 2:  # a single frame
        positions, forces = positions[None], forces.reshape((1,) + forces.shape)
    if positions.ndim != 3 or positions.shape[-1] != 3:
        raise DataError(f"{path}: positions {r_key!r} have shape {positions.shape}; expected (frames, atoms, 3).", path=str(path))
    num_frames, num_atoms = positions.shape[:2]
    if numbers.ndim == 2:
        if numbers.shape != (num_frames, num_atoms):
            raise DataError(
                f"{path}: atomic numbers {z_key!r} have shape {numbers.shape} but positions have "
                f"{positions.shape}; each frame needs one atomic number per atom.",
                path=str(path),
            )
        numbers = numbers.reshape(-1)
    elif numbers.ndim == 1 and numbers.shape[0] == num_atoms:
        numbers = np.tile(numbers, num_frames)
    else:
        raise DataError(
            f"{path}: atomic numbers {z_key!r} have shape {numbers.shape} but positions have "
            f"{positions.shape}; expected ({num_atoms},) or ({num_frames}, {num_atoms}).",
            path=str(path),
        )
    energy = energy.reshape(-1) if energy.ndim == 2 and energy.shape[1] == 1 else energy
    if energy.shape != (num_frames,):
        raise DataError(
            f"{path}: energies {e_key!r} have shape {energy.shape} but there are {num_frames} frames; "
            "expected one total energy per frame.",
            path=str(path),
        )
    if forces.shape != positions.shape:
        raise DataError(
            f"{path}: forces {f_key!r} have shape {forces.shape} but positions have {positions.shape}; "
            "expected one force vector per atom.",
            path=str(path),
        )
    if ids is not None and ids.shape != (num_frames,):
        ids = None
    declared, *factors = _units(options, default_unit, default_length)
    return _finish(
        path,
        numbers,
        positions.reshape(-1, 3),
        energy,
        forces.reshape(-1, 3),
        np.full(num_frames, num_atoms, dtype=np.int64),
        declared,
        tuple(factors),
        layout=f"npz ({layout} keys: {z_key}, {r_key}, {e_key}, {f_key})",
        ids=ids,
    )


# ---------------------------------------------------------------- ASE
def _ase_energy(atoms, key: str | None, path: Path, frame: int) -> float:
    results = getattr(atoms.calc, "results", {}) if atoms.calc is not None else {}
    names = [key] if key else ["energy", "free_energy"]
    for name in names:
        if name in atoms.info:
            return float(atoms.info[name])
        if name in results:
            return float(results[name])
    available = sorted(set(atoms.info) | set(results))
    raise DataError(
        f"{path} frame {frame} has no energy under {names[0]!r}; per-frame keys present: "
        f"{available}; pass energy_key=<one of them>.",
        path=str(path),
        frame=frame,
    )


def _ase_forces(atoms, key: str | None, path: Path, frame: int) -> np.ndarray:
    results = getattr(atoms.calc, "results", {}) if atoms.calc is not None else {}
    name = key or "forces"
    if name in atoms.arrays:
        return np.asarray(atoms.arrays[name])
    if name in results:
        return np.asarray(results[name])
    available = sorted((set(atoms.arrays) - {"numbers", "positions"}) | {k for k in results if k != "energy"})
    raise DataError(
        f"{path} frame {frame} has no forces under {name!r}; per-atom keys present: {available}; "
        "pass forces_key=<one of them>.",
        path=str(path),
        frame=frame,
    )


def _db_frames(path: Path, options: ReaderOptions):
    """(atoms, energy, forces) per row of an ASE database."""
    from ase.db import connect

    with connect(str(path)) as db:
        for frame, row in enumerate(db.select()):
            atoms = row.toatoms()
            e_key, f_key = options.energy_key or "energy", options.forces_key or "forces"
            energy = row.key_value_pairs.get(e_key, row.data.get(e_key) if row.get("data") else None)
            if energy is None and e_key == "energy":
                energy = row.get("energy")
            forces = row.data.get(f_key) if row.get("data") else None
            if forces is None and f_key == "forces":
                forces = row.get("forces")
            if energy is None:
                raise DataError(
                    f"{path} row {frame} has no energy under {e_key!r}; keys present: "
                    f"{sorted(row.key_value_pairs) + sorted(row.get('data') or {})}; pass energy_key=<one of them>.",
                    path=str(path),
                    frame=frame,
                )
            if forces is None:
                raise DataError(
                    f"{path} row {frame} has no forces under {f_key!r}; data keys present: "
                    f"{sorted(row.get('data') or {})}; pass forces_key=<one of them>.",
                    path=str(path),
                    frame=frame,
                )
            yield atoms, float(energy), np.asarray(forces)


def read_ase(path: str | Path, options: ReaderOptions | None = None) -> FrameSet:
    """Read every frame of a file ASE understands (extxyz, ASE ``.db``, ...).

    Parameters
    ----------
    path : the file
    options : ReaderOptions; ``energy_key``/``forces_key`` name the labels
        (default ``energy``/``forces``, from ``info``/``arrays`` or the
        attached calculator); ``units`` default eV

    Returns
    -------
    FrameSet in eV and Å. Periodic frames are refused (molecules only for now).
    """
    path = Path(path)
    options = options or ReaderOptions()
    _check_exists(path)
    if path.suffix == ".db":
        frames = list(_db_frames(path, options))
    else:
        import ase.io

        try:
            images = ase.io.read(str(path), index=":")
        except Exception as err:
            raise DataError(
                f"ASE cannot read {path} ({type(err).__name__}: {err}); check the format, "
                "or convert it to extended XYZ.",
                path=str(path),
            ) from err
        frames = [
            (a, _ase_energy(a, options.energy_key, path, k), _ase_forces(a, options.forces_key, path, k))
            for k, a in enumerate(images)
        ]
    if not frames:
        raise DataError(f"{path} holds no frames; check the file.", path=str(path))
    numbers, positions, energy, forces, natoms = [], [], [], [], []
    for k, (atoms, e, f) in enumerate(frames):
        if atoms.pbc.any():
            raise DataError(
                f"{path} frame {k} is periodic (pbc={atoms.pbc.tolist()}); only molecules are "
                "supported so far; set pbc=False if the cell is only a box.",
                path=str(path),
                frame=k,
            )
        if f.shape != (len(atoms), 3):
            raise DataError(
                f"{path} frame {k}: forces have shape {f.shape} for {len(atoms)} atoms; "
                "expected one force vector per atom.",
                path=str(path),
                frame=k,
            )
        numbers.append(atoms.numbers)
        positions.append(atoms.positions)
        energy.append(e)
        forces.append(f)
        natoms.append(len(atoms))
    declared, *factors = _units(options, "eV")
    return _finish(
        path,
        np.concatenate(numbers),
        np.concatenate(positions),
        np.asarray(energy),
        np.concatenate(forces),
        np.asarray(natoms),
        declared,
        tuple(factors),
        layout="ASE database" if path.suffix == ".db" else f"ASE ({path.suffix.lstrip('.') or 'auto'})",
    )


def read_file(path: str | Path, options: ReaderOptions | None = None) -> FrameSet:
    """Read ``path`` with :func:`read_npz` (``.npz``) or :func:`read_ase` (anything else)."""
    path = Path(path)
    if path.suffix == ".npz":
        return read_npz(path, options)
    return read_ase(path, options)
