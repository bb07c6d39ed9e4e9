"""Dataset statistics that models are built with, so they start well scaled.

Computed from the training split only (see :func:`compute_statistics`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import torch

__all__ = [
    "DatasetStatistics",
    "fit_atomic_energies",
    "compute_statistics",
    "statistics_from_arrays",
    "pair_key",
    "min_pair_distances",
    "store_min_pair_distances",
    "merge_min_pair_distances",
]

_ZMAX = 119  # atomic numbers 0..118 index the pair table


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
    min_pair_distance : dict str -> float
        Shortest distance (Å) seen between two atoms of each element pair, keyed
        ``"<Z1>-<Z2>"`` with Z1 <= Z2 (e.g. ``"1-6"`` for C-H), over the pairs
        within ``cutoff``. A model records it to tell when a structure leaves its
        training data; empty for statistics computed before it was recorded.
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
    min_pair_distance: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["atomic_energies"] = {str(k): float(v) for k, v in self.atomic_energies.items()}
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "DatasetStatistics":
        d = dict(d)
        d["atomic_energies"] = {int(k): float(v) for k, v in d["atomic_energies"].items()}
        d["elements"] = [int(z) for z in d["elements"]]
        d["min_pair_distance"] = {str(k): float(v) for k, v in (d.get("min_pair_distance") or {}).items()}
        return cls(**d)


def pair_key(z1: int, z2: int) -> str:
    """``"<Z1>-<Z2>"`` with the smaller atomic number first: ``pair_key(6, 1) == "1-6"``."""
    a, b = sorted((int(z1), int(z2)))
    return f"{a}-{b}"


def _new_table() -> torch.Tensor:
    """(119*119,) float64 minima per pair key, +inf where the pair was never seen."""
    return torch.full((_ZMAX * _ZMAX,), float("inf"), dtype=torch.float64)


def _table_to_dict(table: torch.Tensor) -> dict[str, float]:
    """Minima per pair key -> ``{"Z1-Z2": Å}``, rounded to 1e-4 Å."""
    values = table.numpy()
    seen = np.flatnonzero(np.isfinite(values))
    return {f"{k // _ZMAX}-{k % _ZMAX}": round(float(values[k]), 4) for k in seen}


def _fold_pairs(table: torch.Tensor, z, pos, src, dst) -> None:
    """Lower ``table[key(z_src, z_dst)]`` to the shortest |pos_src - pos_dst| of each pair (in place).

    ``z`` (n,), ``pos`` (n, 3) Å, ``src`` and ``dst`` (E,) atom indices; tensors or arrays.
    """
    src, dst = torch.as_tensor(src, dtype=torch.long), torch.as_tensor(dst, dtype=torch.long)
    if src.numel() == 0:
        return
    z, pos = torch.as_tensor(z, dtype=torch.long), torch.as_tensor(pos)
    d = (pos[src] - pos[dst]).norm(dim=1).to(torch.float64)
    za, zb = z[src], z[dst]
    key = torch.minimum(za, zb) * _ZMAX + torch.maximum(za, zb)
    table.scatter_reduce_(0, key, d, reduce="amin")


def min_pair_distances(z, pos, edge_index) -> dict[str, float]:
    """Shortest distance per element pair over the given edges.

    Parameters
    ----------
    z : (n,) atomic numbers
    pos : (n, 3) positions, Å
    edge_index : (2, E) atom indices into ``z`` and ``pos`` (global, not per frame)

    Returns
    -------
    dict ``"<Z1>-<Z2>"`` (Z1 <= Z2) -> shortest distance (Å) among the edges joining those elements.
    """
    table = _new_table()
    edge_index = torch.as_tensor(edge_index, dtype=torch.long)
    _fold_pairs(table, z, pos, edge_index[0], edge_index[1])
    return _table_to_dict(table)


def store_min_pair_distances(store, frames: np.ndarray, chunk_frames: int = 20_000) -> dict[str, float]:
    """Shortest distance per element pair over some frames of a graph store, from its edges.

    Vectorised over chunks of frames (each edge once, the direction with source < target),
    so memory stays bounded; 200k molecules of 21 atoms (30M pairs) take seconds on one core.

    Parameters
    ----------
    store : :class:`~forcefields.data.dataset.GraphStore` (``z``, ``pos`` Å, per-frame local
        ``edge_index``, ``num_edges``, ``atom_ptr``, ``edge_ptr``)
    frames : (k,) store positions of the frames to use (the training split)
    chunk_frames : frames per vectorised step

    Returns
    -------
    dict ``"<Z1>-<Z2>"`` -> Å, see :func:`min_pair_distances`.
    """
    selected = torch.zeros(len(store), dtype=torch.bool)
    selected[torch.as_tensor(np.asarray(frames, dtype=np.int64))] = True
    edges, num_edges = store.edge_index, store.num_edges.long()
    atom_ptr, edge_ptr = store.atom_ptr, store.edge_ptr
    table = _new_table()
    for f0 in range(0, len(store), chunk_frames):
        f1 = min(f0 + chunk_frames, len(store))
        if not bool(selected[f0:f1].any()):
            continue
        e0, e1 = int(edge_ptr[f0]), int(edge_ptr[f1])
        counts = num_edges[f0:f1]
        offset = torch.repeat_interleave(atom_ptr[f0:f1], counts)
        keep = torch.repeat_interleave(selected[f0:f1], counts)
        src = edges[0, e0:e1].long() + offset
        dst = edges[1, e0:e1].long() + offset
        keep &= src < dst
        _fold_pairs(table, store.z, store.pos, src[keep], dst[keep])
    return _table_to_dict(table)


def merge_min_pair_distances(*records: dict[str, float]) -> dict[str, float]:
    """The shorter distance of each pair over several records (e.g. a parent's and fine-tuning data's)."""
    out: dict[str, float] = {}
    for record in records:
        for key, value in (record or {}).items():
            out[key] = min(float(value), out.get(key, float("inf")))
    return dict(sorted(out.items(), key=lambda kv: tuple(int(x) for x in kv[0].split("-"))))


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
    min_pair_distance: dict[str, float] | None = None,
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
    min_pair_distance : shortest distance per element pair (Å), see :func:`min_pair_distances`

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
        min_pair_distance=dict(min_pair_distance or {}),
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
    energy residual std, shortest distance per element pair).
    """
    parts = getattr(dataset, "datasets", [dataset])
    if all(hasattr(p, "arrays") for p in parts):
        arrays = [p.arrays() for p in parts]
        if cutoff is None:
            cutoff = float(parts[0].store.cutoff) if hasattr(parts[0], "store") else 5.0
        if sources is None:
            sources = list(dict.fromkeys(getattr(p, "label", "") for p in parts if getattr(p, "label", "")))
        cat = {k: np.concatenate([a[k] for a in arrays]) for k in arrays[0]}
        shortest = merge_min_pair_distances(
            *(store_min_pair_distances(p.store, p.indices) for p in parts if hasattr(p, "store") and hasattr(p, "indices"))
        )
        return statistics_from_arrays(
            cat["z"], cat["natoms"], cat["energy"], cat["forces"], cat["num_edges"], cutoff, sources,
            min_pair_distance=shortest,
        )
    z, natoms, energy, forces, num_edges = [], [], [], [], []
    table = _new_table()
    for data in dataset:
        z.append(np.asarray(data.z).reshape(-1))
        natoms.append(len(z[-1]))
        energy.append(float(np.asarray(data.energy, dtype=np.float64).reshape(-1)[0]))
        forces.append(np.asarray(data.forces, dtype=np.float64).reshape(-1, 3))
        edge_index = getattr(data, "edge_index", None)
        num_edges.append(0 if edge_index is None else int(edge_index.shape[1]))
        if edge_index is not None and getattr(data, "pos", None) is not None:
            e = torch.as_tensor(edge_index, dtype=torch.long)
            _fold_pairs(table, z[-1], torch.as_tensor(data.pos, dtype=torch.float64), e[0], e[1])
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
        min_pair_distance=_table_to_dict(table),
    )
