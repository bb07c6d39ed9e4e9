"""Dataset statistics that models are built with, so they start well scaled.

Computed from the training split only (see :func:`compute_statistics`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

__all__ = ["DatasetStatistics", "fit_atomic_energies"]


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
