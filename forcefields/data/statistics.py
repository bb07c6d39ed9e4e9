"""Dataset statistics that models are built with, so they start well scaled.

Computed from the training split only (see :func:`compute_statistics`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

__all__ = ["DatasetStatistics", "fit_atomic_energies", "compute_statistics", "statistics_from_arrays"]


@dataclass
class DatasetStatistics:
    """Summary of a training split.

    Attributes
    ----------
    elements : list of int
        Atomic numbers present, sorted.
    atomic_energies : dict int -> float
        Per-element reference energy E0 (eV), least-squares fit of total
        energies on element counts.
    force_rms : float
        Root mean square of all force components (eV/Å).
    energy_residual_std : float
        Standard deviation of per-atom energy after removing E0 (eV/atom).
    avg_num_neighbors : float
        Mean number of neighbours per atom within the cutoff.
    cutoff : float
        The cutoff (Å) the neighbour count was taken at.
    num_frames, num_atoms : int
        Frames and atoms in the split.
    """

    elements: list[int]
    atomic_energies: dict[int, float]
    force_rms: float
    energy_residual_std: float = 0.0
    avg_num_neighbors: float = 10.0
    cutoff: float = 5.0
    num_frames: int = 0
    num_atoms: int = 0
    sources: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["atomic_energies"] = {str(k): float(v) for k, v in self.atomic_energies.items()}
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "DatasetStatistics":
        d = dict(d)
        d["atomic_energies"] = {int(k): float(v) for k, v in d["atomic_energies"].items()}
        d["elements"] = [int(z) for z in d["elements"]]
        return cls(**d)


def fit_atomic_energies(
    counts: np.ndarray, energies: np.ndarray, elements: list[int], rcond: float | None = None
) -> dict[int, float]:
    """Least-squares per-element reference energies.

    Parameters
    ----------
    counts : (F, K) array, number of atoms of each of the K ``elements`` per frame
    energies : (F,) array, total energies (eV)
    elements : list of K atomic numbers

    Returns
    -------
    dict int -> float, E0 per element (eV). For a single molecule the counts
    are collinear; ``lstsq`` then returns the minimum-norm solution, which
    still reproduces the mean energy exactly.
    """
    counts = np.asarray(counts, dtype=np.float64)
    energies = np.asarray(energies, dtype=np.float64)
    coef, *_ = np.linalg.lstsq(counts, energies, rcond=rcond)
    return {int(z): float(c) for z, c in zip(elements, coef)}


def statistics_from_arrays(
    z: np.ndarray,
    natoms: np.ndarray,
    energy: np.ndarray,
    forces: np.ndarray,
    num_edges: np.ndarray | None = None,
    cutoff: float = 5.0,
    sources: list[str] | None = None,
    avg_num_neighbors: float | None = None,
) -> DatasetStatistics:
    """Statistics of frames given as flat arrays.

    Parameters
    ----------
    z : (n,) atomic numbers of all atoms, frame after frame
    natoms : (F,) atoms per frame
    energy : (F,) total energies (eV)
    forces : (n, 3) forces (eV/Å)
    num_edges : (F,) directed edges per frame within ``cutoff``; gives
        ``avg_num_neighbors`` = edges / atoms
    cutoff : Å, recorded with the neighbour count
    avg_num_neighbors : overrides the value from ``num_edges`` (e.g. measured on a sample)

    Returns
    -------
    DatasetStatistics. E0 is the least-squares fit of energies on element
    counts; ``energy_residual_std`` is the standard deviation of
    (E - sum E0) / natoms (eV/atom).
    """
    z = np.asarray(z, dtype=np.int64)
    natoms = np.asarray(natoms, dtype=np.int64)
    energy = np.asarray(energy, dtype=np.float64)
    forces = np.asarray(forces, dtype=np.float64)
    if natoms.size == 0:
        raise ValueError("cannot compute statistics of an empty training split; give it some frames.")
    elements = sorted(int(e) for e in np.unique(z))
    frame_of_atom = np.repeat(np.arange(natoms.size), natoms)
    column = np.searchsorted(elements, z)
    counts = np.zeros((natoms.size, len(elements)))
    np.add.at(counts, (frame_of_atom, column), 1.0)
    e0 = fit_atomic_energies(counts, energy, elements)
    residual = (energy - counts @ np.array([e0[e] for e in elements])) / natoms
    if avg_num_neighbors is None:
        avg_num_neighbors = float(np.sum(num_edges) / natoms.sum()) if num_edges is not None else 0.0
    return DatasetStatistics(
        elements=elements,
        atomic_energies=e0,
        force_rms=float(np.sqrt(np.mean(forces**2))) if forces.size else 0.0,
        energy_residual_std=float(residual.std()),
        avg_num_neighbors=float(avg_num_neighbors),
        cutoff=float(cutoff),
        num_frames=int(natoms.size),
        num_atoms=int(natoms.sum()),
        sources=list(sources or []),
    )


def compute_statistics(dataset, cutoff: float | None = None, sources: list[str] | None = None) -> DatasetStatistics:
    """Statistics of a training set (call it on the training split only).

    Parameters
    ----------
    dataset : a split from :class:`~forcefields.data.MolecularDataModule`
        (``GraphDataset``, or a ``ConcatDataset`` of them: fast path on flat
        arrays), or any iterable of ``torch_geometric.data.Data`` with ``z``,
        ``energy`` (eV), ``forces`` (eV/Å) and ``edge_index``
    cutoff : Å of the neighbour lists; default the dataset's own
    sources : names recorded in the statistics

    Returns
    -------
    DatasetStatistics (E0 per element, force RMS, mean neighbours per atom,
    energy residual std).
    """
    parts = getattr(dataset, "datasets", [dataset])
    if all(hasattr(p, "arrays") for p in parts):
        arrays = [p.arrays() for p in parts]
        if cutoff is None:
            cutoff = float(parts[0].store.cutoff) if hasattr(parts[0], "store") else 5.0
        if sources is None:
            sources = list(dict.fromkeys(getattr(p, "label", "") for p in parts if getattr(p, "label", "")))
        cat = {k: np.concatenate([a[k] for a in arrays]) for k in arrays[0]}
        return statistics_from_arrays(
            cat["z"], cat["natoms"], cat["energy"], cat["forces"], cat["num_edges"], cutoff, sources
        )
    z, natoms, energy, forces, num_edges = [], [], [], [], []
    for data in dataset:
        z.append(np.asarray(data.z).reshape(-1))
        natoms.append(len(z[-1]))
        energy.append(float(np.asarray(data.energy, dtype=np.float64).reshape(-1)[0]))
        forces.append(np.asarray(data.forces, dtype=np.float64).reshape(-1, 3))
        edge_index = getattr(data, "edge_index", None)
        num_edges.append(0 if edge_index is None else int(edge_index.shape[1]))
    if not natoms:
        raise ValueError("cannot compute statistics of an empty training split; give it some frames.")
    return statistics_from_arrays(
        np.concatenate(z),
        np.asarray(natoms),
        np.asarray(energy),
        np.concatenate(forces),
        np.asarray(num_edges),
        5.0 if cutoff is None else cutoff,
        sources,
    )
