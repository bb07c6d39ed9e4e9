"""Geometry optimisation with a potential: ASE's optimizers, a progress bar and a summary.

>>> s = relax(atoms, "egnn-m.qm9-xtb", fmax=0.01, out="relaxed.xyz")   # doctest: +SKIP
>>> s.converged, s.steps, s.final_energy, s.final_fmax                  # doctest: +SKIP

A name, folder or ForceField is evaluated in float64: near a minimum the
forces are small differences, and float32 round-off (about 1e-3 eV/Å on a
molecule) stalls optimizers short of a tight ``fmax``.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ._progress import StepProgress

__all__ = ["relax", "RelaxSummary", "OPTIMIZERS"]

OPTIMIZERS = ("BFGS", "FIRE", "LBFGS")


@dataclass
class RelaxSummary:
    """What a relaxation did.

    Attributes
    ----------
    natoms : int
    optimizer : "BFGS", "FIRE" or "LBFGS"
    converged : bool, the largest force fell below ``fmax_target``
    steps : int, optimizer steps taken
    steps_max : int
    fmax_target : float, eV/Å
    initial_energy, final_energy : float, eV
    initial_fmax, final_fmax : float, eV/Å, largest per-atom force norm
    wall_time_s : float, s
    out : str or None, file with the final geometry (energy and forces attached)
    """

    natoms: int
    optimizer: str
    converged: bool
    steps: int
    steps_max: int
    fmax_target: float
    initial_energy: float
    final_energy: float
    initial_fmax: float
    final_fmax: float
    wall_time_s: float
    out: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def relax(
    atoms,
    calculator: Any,
    fmax: float = 0.01,
    steps: int = 1000,
    optimizer: str = "BFGS",
    out: str | Path | None = None,
    progress: bool = True,
) -> RelaxSummary:
    """Minimise the energy of ``atoms`` until every force is below ``fmax``.

    ``atoms`` moves in place and keeps the calculator.

    Parameters
    ----------
    atoms : ase.Atoms, positions (n, 3) Å, not periodic
    calculator : ase Calculator, or a pretrained name / folder / ForceField (then float64)
    fmax : float, eV/Å, convergence threshold on the largest per-atom force norm
    steps : int, most optimizer steps
    optimizer : "BFGS", "FIRE" or "LBFGS" (ASE's, with their default settings)
    out : path of the final geometry, any format ASE writes from its extension
        (.xyz and .extxyz keep the energy and forces), or None
    progress : bool, show a rich progress bar on stderr

    Returns
    -------
    RelaxSummary

    Raises
    ------
    ValueError : bad settings, or a structure the potential refuses (unknown
        element, coincident atoms, periodic cell)
    """
    import ase.optimize

    from .md import as_calculator

    name = {o.upper(): o for o in OPTIMIZERS}.get(str(optimizer).upper())
    if name is None:
        raise ValueError(f"optimizer {optimizer!r} is not offered; use one of {', '.join(OPTIMIZERS)}.")
    if fmax <= 0 or steps < 0:
        raise ValueError(f"fmax={fmax} eV/Å must be positive and steps={steps} non-negative.")
    atoms.calc = as_calculator(calculator, dtype="float64")
    initial_energy = float(atoms.get_potential_energy())
    initial_fmax = _fmax(atoms.get_forces())

    opt = getattr(ase.optimize, name)(atoms, logfile=None)
    bar = StepProgress(progress, steps, f"relax {name}")

    def observe() -> None:
        if progress and opt.nsteps > 0:
            bar.advance(status=f"fmax = {_fmax(atoms.get_forces()):.4f} eV/Å")

    opt.attach(observe, interval=1)
    t0 = time.perf_counter()
    with bar:
        opt.run(fmax=fmax, steps=steps)
    wall = time.perf_counter() - t0
    final_fmax = _fmax(atoms.get_forces())
    summary = RelaxSummary(
        natoms=len(atoms),
        optimizer=name,
        converged=bool(final_fmax < fmax),
        steps=int(opt.nsteps),
        steps_max=int(steps),
        fmax_target=float(fmax),
        initial_energy=initial_energy,
        final_energy=float(atoms.get_potential_energy()),
        initial_fmax=initial_fmax,
        final_fmax=final_fmax,
        wall_time_s=wall,
        out=str(out) if out is not None else None,
    )
    if out is not None:
        _write(atoms, out, summary)
    return summary


def _fmax(forces: np.ndarray) -> float:
    """Largest per-atom force norm, eV/Å, of forces (n, 3)."""
    return float(np.sqrt((np.asarray(forces) ** 2).sum(axis=1).max())) if len(forces) else 0.0


def _write(atoms, out: str | Path, summary: RelaxSummary) -> None:
    """The final geometry with its energy (eV) and forces (eV/Å), in the format of ``out``'s extension."""
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.io import write

    frame = atoms.copy()
    frame.info.update(relaxed_converged=summary.converged, relax_steps=summary.steps,
                      relax_fmax=summary.final_fmax)
    frame.calc = SinglePointCalculator(frame, energy=summary.final_energy, forces=np.array(atoms.get_forces()))
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    write(out, frame)
