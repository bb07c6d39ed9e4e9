"""Checks every frame before it becomes a graph: nothing bad passes silently.

A frame is bad when it has no atoms, an atomic number outside 1..118, a
non-finite position, energy or force, or two atoms closer than
``MIN_DISTANCE`` (0.1 Å, a duplicated atom or a unit mistake).
"""

from __future__ import annotations

import warnings

import numpy as np

from .errors import DataError
from .readers import FrameSet

__all__ = ["MIN_DISTANCE", "find_bad_frames", "check_frames"]

MIN_DISTANCE = 0.1  # Å


def _closest_pairs(frames: FrameSet, chunk_atoms: int = 1 << 21) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per frame, the smallest interatomic distance (Å) and the pair (local indices).

    Frames are grouped by atom count so that each group is one dense
    (frames, n, n) computation, in chunks.
    """
    num = frames.num_frames
    dmin = np.full(num, np.inf)
    pair_i = np.zeros(num, dtype=np.int64)
    pair_j = np.zeros(num, dtype=np.int64)
    ptr = frames.ptr
    for n in np.unique(frames.natoms):
        if n < 2:
            continue
        group = np.flatnonzero(frames.natoms == n)
        step = max(1, chunk_atoms // int(n * n))
        iu, ju = np.triu_indices(int(n), k=1)
        for lo in range(0, group.size, step):
            g = group[lo : lo + step]
            atoms = ptr[g][:, None] + np.arange(n)[None, :]
            pos = frames.positions[atoms]  # (g, n, 3)
            diff = pos[:, iu, :] - pos[:, ju, :]
            d = np.sqrt(np.einsum("gpk,gpk->gp", diff, diff))
            d = np.where(np.isfinite(d), d, np.inf)
            best = d.argmin(axis=1)
            dmin[g] = d[np.arange(g.size), best]
            pair_i[g], pair_j[g] = iu[best], ju[best]
    return dmin, pair_i, pair_j


def find_bad_frames(frames: FrameSet, min_distance: float = MIN_DISTANCE) -> dict[int, str]:
    """Frames that cannot be trained on, with the first reason found for each.

    Returns
    -------
    dict frame index -> reason (a phrase such as ``"energy is nan"``).
    """
    bad: dict[int, str] = {}
    ptr = frames.ptr
    frame_of_atom = np.repeat(np.arange(frames.num_frames), frames.natoms)

    def first_atom_problem(mask_atoms: np.ndarray, what: str, values: np.ndarray) -> None:
        for atom in np.flatnonzero(mask_atoms):
            f = int(frame_of_atom[atom])
            if f not in bad:
                bad[f] = f"{what} atom {int(atom - ptr[f])} is {values[atom]}"

    for f in np.flatnonzero(frames.natoms == 0):
        bad.setdefault(int(f), "it has no atoms")
    first_atom_problem((frames.numbers < 1) | (frames.numbers > 118), "atomic number of", frames.numbers)
    first_atom_problem(~np.isfinite(frames.positions).all(axis=1), "position of", frames.positions)
    for f in np.flatnonzero(~np.isfinite(frames.energy)):
        bad.setdefault(int(f), f"energy is {frames.energy[f]}")
    first_atom_problem(~np.isfinite(frames.forces).all(axis=1), "force on", frames.forces)
    dmin, pi, pj = _closest_pairs(frames)
    for f in np.flatnonzero(dmin < min_distance):
        bad.setdefault(
            int(f),
            f"atoms {int(pi[f])} and {int(pj[f])} are {dmin[f]:.3g} Å apart (closer than {min_distance} Å)",
        )
    return dict(sorted(bad.items()))


def check_frames(frames: FrameSet, skip_bad_frames: bool = False, min_distance: float = MIN_DISTANCE) -> np.ndarray:
    """Refuse bad frames, or leave them out with a warning when asked to.

    Parameters
    ----------
    frames : FrameSet
    skip_bad_frames : leave bad frames out (and warn how many) instead of raising

    Returns
    -------
    good : (F,) bool mask of frames to keep.

    Raises
    ------
    DataError naming the file and frame of the first bad frame.
    """
    bad = find_bad_frames(frames, min_distance)
    good = np.ones(frames.num_frames, dtype=bool)
    if not bad:
        return good
    first, reason = next(iter(bad.items()))
    if not skip_bad_frames:
        more = f" ({len(bad) - 1} more bad frames follow)" if len(bad) > 1 else ""
        raise DataError(
            f"{frames.where(first)}: {reason}{more}; fix or remove the frame, or pass "
            "skip_bad_frames=True to leave such frames out.",
            path=frames.paths[int(frames.file_index[first])],
            frame=int(frames.frame_in_file[first]),
        )
    good[list(bad)] = False
    warnings.warn(
        f"{frames.label}: skipped {len(bad)} of {frames.num_frames} frames that cannot be used "
        f"(first: {frames.where(first)}: {reason}).",
        stacklevel=2,
    )
    return good
