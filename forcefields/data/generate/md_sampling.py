"""Short molecular dynamics with the labelling method itself (GFN-xTB): the geometries a simulation visits.

Used for a fraction of the training molecules and for the held-out 500 K
frames. The integrator is ASE's Langevin; the labels of each snapshot are the
ones the MD step computed (same method, same settings).
"""

from __future__ import annotations

import warnings

import numpy as np

from .failures import GenerationFailure
from .sampling import is_sane

__all__ = ["md_snapshots"]


def md_snapshots(
    labeler,
    numbers: np.ndarray,
    positions: np.ndarray,
    bonds: np.ndarray,
    temperature: float,
    equilibration_steps: int,
    num_frames: int,
    interval: int,
    rng: np.random.Generator,
    timestep_fs: float = 0.5,
    friction_per_fs: float = 0.01,
    charge: int = 0,
) -> list[tuple[np.ndarray, float, np.ndarray]]:
    """Langevin MD at ``temperature`` K; frames every ``interval`` steps after equilibration.

    Parameters
    ----------
    labeler : a :class:`~.labelers.Labeler`
    numbers : (n,) atomic numbers
    positions : (n, 3) Å, the start (a thermal geometry is best: equilibrates at once)
    bonds : (b, 2) bonded pairs; a bond stretched past 2× its start length ends the run
    rng : numpy Generator for velocities and the thermostat noise

    Returns
    -------
    list of (positions (n, 3) Å, energy eV, forces (n, 3) eV/Å), ``num_frames`` long

    Raises
    ------
    GenerationFailure ``md`` (the run blew up) or ``scf``
    """
    from ase import Atoms, units
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary

    atoms = Atoms(numbers=numbers, positions=positions)
    atoms.calc = labeler.ase_calculator(charge)
    legacy_rng = np.random.RandomState(int(rng.integers(2**31 - 1)))
    with warnings.catch_warnings():  # ASE 3.28 renames it; the draw stays the same
        warnings.simplefilter("ignore", DeprecationWarning)
        MaxwellBoltzmannDistribution(atoms, temperature_K=temperature, rng=legacy_rng)
    Stationary(atoms)
    dyn = Langevin(atoms, timestep_fs * units.fs, temperature_K=temperature,
                   friction=friction_per_fs / units.fs, rng=legacy_rng, fixcm=False)
    frames = []
    reference = positions.copy()

    def check(steps: int) -> None:
        if not is_sane(atoms.get_positions(), bonds, reference, min_distance=0.6, max_stretch=2.0,
                       min_compression=0.6):
            raise GenerationFailure("md", f"MD at {temperature:.0f} K broke a bond or overlapped atoms after {steps} steps")

    try:
        if equilibration_steps > 0:
            dyn.run(equilibration_steps)
            check(equilibration_steps)
        for k in range(num_frames):
            dyn.run(interval)
            check(equilibration_steps + (k + 1) * interval)
            frames.append((atoms.get_positions().copy(), float(atoms.get_potential_energy()), atoms.get_forces().copy()))
    except GenerationFailure:
        raise
    except Exception as err:
        raise GenerationFailure("scf", f"MD step failed: {str(err).strip().splitlines()[0] if str(err) else err!r}")
    if len(frames) < num_frames:
        raise GenerationFailure("md", f"MD gave {len(frames)} of {num_frames} frames")
    return frames[:num_frames]
