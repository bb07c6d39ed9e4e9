"""Thermal geometries around a conformer: classical normal-mode sampling.

For a harmonic molecule at temperature T, classical molecular dynamics visits
mass-weighted normal coordinates q_i with the Boltzmann distribution
q_i ~ N(0, k_B T / ω_i²). Drawing each mode independently gives geometries
distributed as MD at T visits them near a minimum, without running MD.
Soft modes (torsions, where the harmonic picture overshoots) are stiffened to
a floor frequency, and geometries with atoms too close or bonds broken are
redrawn.
"""

from __future__ import annotations

import numpy as np

from .failures import GenerationFailure

__all__ = ["normal_modes", "sample_normal_modes", "is_sane"]

KB_KCAL = 0.0019872043  # kcal/mol/K
# sqrt(kcal/mol/Å²/amu) in cm⁻¹
WAVENUMBER_PER_SQRT_UNIT = 108.5913


def normal_modes(hessian: np.ndarray, masses: np.ndarray, floor_cm: float = 100.0) -> tuple[np.ndarray, np.ndarray]:
    """Vibrational modes of a Hessian.

    Parameters
    ----------
    hessian : (3n, 3n) kcal/mol/Å²
    masses : (n,) amu
    floor_cm : cm⁻¹, softer modes are sampled as if this stiff

    Returns
    -------
    (eigenvalues (m,) kcal/mol/Å²/amu, floored; displacement vectors (m, n, 3),
    Cartesian, mass-unweighted: x = Σ q_i v_i with q_i in Å·amu^½). The six
    (five for a line, none for an atom) smallest modes, translations and
    rotations, are left out.
    """
    n = masses.shape[0]
    inv_sqrt_m = np.repeat(1.0 / np.sqrt(masses), 3)
    weighted = hessian * inv_sqrt_m[:, None] * inv_sqrt_m[None, :]
    values, vectors = np.linalg.eigh(weighted)
    rigid = 0 if n == 1 else (5 if n == 2 else 6)
    order = np.argsort(np.abs(values))[rigid:]
    floor = (floor_cm / WAVENUMBER_PER_SQRT_UNIT) ** 2
    vals = np.maximum(np.abs(values[order]), floor)
    vecs = (vectors[:, order] * inv_sqrt_m[:, None]).T.reshape(-1, n, 3)
    return vals, vecs


def is_sane(positions: np.ndarray, bonds: np.ndarray, reference: np.ndarray,
            min_distance: float = 1.0, max_stretch: float = 1.4, min_compression: float = 0.75) -> bool:
    """Whether a geometry is one thermal motion can reach from ``reference``.

    No two non-bonded atoms closer than ``min_distance`` Å, no bond longer than
    ``max_stretch`` × or shorter than ``min_compression`` × its length in ``reference``.
    (Generator 1.0 checked only a 0.6 Å floor for every pair and stretching: it
    let through 0.4 % of geometries with heavy atoms squeezed to ~0.6 Å, whose
    GFN2-xTB forces reach hundreds of eV/Å.)
    """
    n = positions.shape[0]
    if n > 1:
        d = np.linalg.norm(positions[:, None] - positions[None], axis=-1)
        d[np.diag_indices(n)] = np.inf
        if bonds.size:
            d[bonds[:, 0], bonds[:, 1]] = np.inf
            d[bonds[:, 1], bonds[:, 0]] = np.inf
        if d.min() < min_distance:
            return False
    if bonds.size:
        i, j = bonds[:, 0], bonds[:, 1]
        length = np.linalg.norm(positions[i] - positions[j], axis=1)
        ref = np.linalg.norm(reference[i] - reference[j], axis=1)
        if np.any(length > max_stretch * ref) or np.any(length < min_compression * ref):
            return False
    return True


def sample_normal_modes(
    positions: np.ndarray,
    hessian: np.ndarray,
    masses: np.ndarray,
    bonds: np.ndarray,
    temperature: float,
    rng: np.random.Generator,
    floor_cm: float = 100.0,
    tries: int = 10,
) -> np.ndarray:
    """One geometry drawn as classical MD at ``temperature`` K visits it around ``positions``.

    Parameters
    ----------
    positions : (n, 3) Å, a force-field minimum
    hessian : (3n, 3n) kcal/mol/Å² at that minimum
    masses : (n,) amu
    bonds : (b, 2) bonded pairs, for the sanity check
    temperature : K
    rng : numpy Generator (seeded per molecule by the caller)

    Returns
    -------
    (n, 3) Å

    Raises
    ------
    GenerationFailure ``geometry`` when ``tries`` draws all fail :func:`is_sane`.
    """
    if positions.shape[0] == 1:
        return positions.copy()
    values, vectors = normal_modes(hessian, masses, floor_cm)
    sigma = np.sqrt(KB_KCAL * temperature / values)
    for _ in range(tries):
        q = rng.normal(size=values.shape[0]) * sigma
        candidate = positions + np.tensordot(q, vectors, axes=1)
        if is_sane(candidate, bonds, positions):
            return candidate
    raise GenerationFailure("geometry", f"{tries} normal-mode draws at {temperature:.0f} K all broke a bond or overlapped atoms")
