"""Molecular dynamics with a potential: ASE's integrators, a progress bar and a summary.

>>> s = run_md(atoms, "egnn-m.qm9-xtb", temperature_K=300, steps=2000, out="md.extxyz")   # doctest: +SKIP
>>> s.energy_drift, s.temperature_mean, s.ms_per_step, s.blew_up                          # doctest: +SKIP

The run stops early when it blows up: a non-finite energy, force or position,
or two atoms closer than ``BLOWUP_DISTANCE`` (0.5 Å, shorter than any bond; the
H–H bond is 0.74 Å). The last frames before the failure are then written next
to ``out`` for inspection, and the summary says so.
"""

from __future__ import annotations

import collections
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ._progress import StepProgress

__all__ = ["run_md", "MDSummary", "BLOWUP_DISTANCE", "energy_drift", "as_calculator"]

BLOWUP_DISTANCE = 0.5  # Å
LAST_FRAMES = 10  # frames kept in memory for the blow-up file


@dataclass
class MDSummary:
    """What a run did.

    Attributes
    ----------
    natoms : int
    steps : int, steps completed (fewer than ``steps_requested`` when it blew up)
    steps_requested : int
    timestep_fs : float, fs
    simulated_ps : float, ps simulated (steps × timestep)
    thermostat : "langevin" or "nve"
    temperature_target : float, K
    temperature_mean, temperature_std : float, K, over the steps (initial state excluded)
    energy_drift : float, eV/atom/ps, slope of a linear fit of the total energy
        against time (meaningful for NVE; a thermostat exchanges energy, so it is
        reported but says little there)
    wall_time_s : float, s, the dynamics alone (not loading or the first evaluation)
    ms_per_step : float, ms
    blew_up : bool
    reason : str or None, what went wrong when it blew up
    out : str or None, trajectory written (extxyz)
    frames_written : int, frames in ``out``
    last_frames : str or None, file with the last frames before a blow-up
    """

    natoms: int
    steps: int
    steps_requested: int
    timestep_fs: float
    simulated_ps: float
    thermostat: str
    temperature_target: float
    temperature_mean: float
    temperature_std: float
    energy_drift: float
    wall_time_s: float
    ms_per_step: float
    blew_up: bool = False
    reason: str | None = None
    out: str | None = None
    frames_written: int = 0
    last_frames: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _BlowUp(Exception):
    """Raised by the step observer to stop the integrator."""


def as_calculator(calculator: Any, dtype: str | None = None, device: str = "cpu", compile: bool = False):
    """An ASE calculator as is; a pretrained name, folder or ForceField wrapped in one.

    Parameters
    ----------
    calculator : ase Calculator, or anything :func:`forcefields.calculator` takes
    dtype : "float32" or "float64" for a name, folder or ForceField (None: float32 for a name)
    device : "cpu" or "cuda"
    compile : bool, run a wrapped model under ``torch.compile`` (an ASE calculator is kept as it is)
    """
    from ase.calculators.calculator import BaseCalculator

    if isinstance(calculator, BaseCalculator):
        return calculator
    from ..ase_calculator import ForceFieldCalculator

    return ForceFieldCalculator(calculator, device=device, dtype=dtype, compile=compile)


def energy_drift(times_fs: np.ndarray, total_energy: np.ndarray, natoms: int) -> float:
    """Slope of a least-squares line through the total energy, eV/atom/ps.

    Parameters
    ----------
    times_fs : (T,) fs
    total_energy : (T,) eV
    natoms : int
    """
    if len(times_fs) < 2 or natoms == 0:
        return float("nan")
    slope_ev_per_fs = np.polyfit(np.asarray(times_fs, float), np.asarray(total_energy, float), 1)[0]
    return float(slope_ev_per_fs * 1e3 / natoms)


def run_md(
    atoms,
    calculator: Any,
    temperature_K: float = 300.0,
    steps: int = 1000,
    timestep_fs: float = 0.5,
    thermostat: str = "langevin",
    friction: float = 0.01,
    seed: int = 0,
    out: str | Path | None = None,
    interval: int = 10,
    progress: bool = True,
    stop_when: Callable[[np.ndarray], str | None] | None = None,
) -> MDSummary:
    """Run Langevin (NVT) or velocity-Verlet (NVE) dynamics from Maxwell-Boltzmann velocities.

    ``atoms`` moves in place and keeps the calculator.

    Parameters
    ----------
    atoms : ase.Atoms, positions (n, 3) Å, not periodic
    calculator : ase Calculator, or a pretrained name / folder / ForceField (then float32)
    temperature_K : float, K, of the initial velocities and of the Langevin bath
    steps : int, integration steps
    timestep_fs : float, fs
    thermostat : "langevin" (NVT, ASE ``Langevin``) or "nve" (ASE ``VelocityVerlet``)
    friction : float, 1/fs, Langevin friction
    seed : int, seeds the initial velocities and the Langevin noise
    out : path of an extxyz trajectory (positions Å, momenta, energy eV, forces eV/Å,
        step, time_fs, temperature_K), or None
    interval : int, write a frame every ``interval`` steps (step 0 included:
        ``steps // interval + 1`` frames)
    progress : bool, show a rich progress bar on stderr
    stop_when : optional extra failure criterion: called with the positions (n, 3) Å after
        every step, it returns why the run has failed (a sentence) or None; a failure
        is handled like a blow-up (stop, last frames written)

    Returns
    -------
    MDSummary

    Raises
    ------
    ValueError : bad settings, or a structure the potential refuses (unknown
        element, coincident atoms, periodic cell) before the first step
    """
    from ase import units
    from ase.md.langevin import Langevin
    from ase.md.verlet import VelocityVerlet

    thermostat = str(thermostat).lower()
    if thermostat not in ("langevin", "nve"):
        raise ValueError(f"thermostat {thermostat!r} is not known; use 'langevin' (NVT) or 'nve'.")
    if steps < 0 or interval < 1 or timestep_fs <= 0 or temperature_K < 0 or friction < 0:
        raise ValueError(
            f"steps={steps}, interval={interval}, timestep={timestep_fs} fs, temperature={temperature_K} K and "
            f"friction={friction} /fs must be non-negative (interval ≥ 1, timestep > 0)."
        )
    atoms.calc = as_calculator(calculator)
    n = len(atoms)
    rng = np.random.default_rng(seed)
    _thermalize(atoms, temperature_K, rng)
    # The first evaluation refuses what the potential cannot handle, before anything is written.
    atoms.get_forces()

    dt = timestep_fs * units.fs
    if thermostat == "langevin":
        dyn = Langevin(atoms, dt, temperature_K=temperature_K, friction=friction / units.fs, fixcm=False, rng=rng)
    else:
        dyn = VelocityVerlet(atoms, dt)

    writer = _Writer(out, interval)
    record = _Recorder(atoms, dyn, writer, timestep_fs, stop_when)
    dyn.attach(record, interval=1)  # ASE calls it at step 0, then after every step
    bar = StepProgress(progress, steps, f"MD {thermostat} {temperature_K:g} K")
    t0 = time.perf_counter()
    blew_up, reason = False, None
    try:
        with bar:
            record.bar = bar
            dyn.run(steps)
    except _BlowUp as err:
        blew_up, reason = True, str(err)
    except ValueError as err:  # the calculator refuses non-finite positions: the step before blew up
        if np.all(np.isfinite(atoms.positions)):
            raise
        blew_up, reason = True, f"positions became non-finite at step {record.step + 1} ({err})"
    finally:
        writer.close()
    wall = time.perf_counter() - t0
    done = max(record.step, 0)
    last = writer.write_last(record.last, atoms) if blew_up else None
    temps = np.asarray(record.temperatures[1:] or record.temperatures or [np.nan])
    return MDSummary(
        natoms=n,
        steps=done,
        steps_requested=int(steps),
        timestep_fs=float(timestep_fs),
        simulated_ps=done * timestep_fs * 1e-3,
        thermostat=thermostat,
        temperature_target=float(temperature_K),
        temperature_mean=float(np.mean(temps)),
        temperature_std=float(np.std(temps)),
        energy_drift=energy_drift(np.asarray(record.times), np.asarray(record.total_energies), n),
        wall_time_s=wall,
        ms_per_step=wall / max(done, 1) * 1e3,
        blew_up=blew_up,
        reason=reason,
        out=str(out) if out is not None else None,
        frames_written=writer.count,
        last_frames=last,
    )


def _thermalize(atoms, temperature_K: float, rng) -> None:
    """Maxwell-Boltzmann momenta at ``temperature_K``, no net momentum or rotation."""
    from ase.md import velocitydistribution as vd

    if hasattr(vd, "thermalize_momenta"):  # ASE >= 3.29
        vd.thermalize_momenta(atoms, temperature_K=temperature_K, rng=rng)
    else:  # pragma: no cover - older ASE
        vd.MaxwellBoltzmannDistribution(atoms, temperature_K=temperature_K, rng=rng)
    vd.Stationary(atoms)
    vd.ZeroRotation(atoms)


class _Recorder:
    """Step observer: energies and temperature, blow-up checks, frames, progress."""

    def __init__(self, atoms, dyn, writer: "_Writer", timestep_fs: float, stop_when=None):
        self.atoms, self.dyn, self.writer, self.timestep_fs = atoms, dyn, writer, timestep_fs
        self.stop_when = stop_when
        self.step = -1
        self.times: list[float] = []
        self.total_energies: list[float] = []
        self.temperatures: list[float] = []
        self.last: collections.deque = collections.deque(maxlen=LAST_FRAMES)
        self.bar: StepProgress | None = None

    def __call__(self) -> None:
        a = self.atoms
        self.step = step = int(self.dyn.nsteps)
        epot, forces = _current(a)
        momenta = a.get_momenta()
        ekin = a.get_kinetic_energy()
        temperature = a.get_temperature()
        state = _State(step, step * self.timestep_fs, a.positions.copy(), momenta, epot, np.array(forces), temperature)
        self.last.append(state)
        problem = _blowup_reason(a.positions, epot, forces)
        if problem is None and self.stop_when is not None:
            problem = self.stop_when(a.positions)
        if problem:
            self.step = max(step - 1, 0)  # the last good step
            raise _BlowUp(f"at step {step} ({step * self.timestep_fs:g} fs) {problem}")
        self.times.append(step * self.timestep_fs)
        self.total_energies.append(epot + ekin)
        self.temperatures.append(temperature)
        if self.writer.due(step):
            self.writer.write(state.atoms(a))
        if self.bar is not None and step > 0:
            self.bar.advance(temperature)


def _current(atoms) -> tuple[float, np.ndarray]:
    """Energy (eV) and forces (n, 3) eV/Å the integrator has just computed for these positions.

    Read from the calculator's results: asking the Atoms again would make ASE
    compare the whole state with the last one, which costs more than a small
    molecule's force call.
    """
    results = getattr(atoms.calc, "results", {})
    if "energy" in results and "forces" in results:
        return float(results["energy"]), results["forces"]
    return float(atoms.get_potential_energy()), atoms.get_forces()


@dataclass
class _State:
    """One step, kept cheaply; made into ase.Atoms only when written."""

    step: int
    time_fs: float
    positions: np.ndarray
    momenta: np.ndarray
    energy: float
    forces: np.ndarray
    temperature: float

    def atoms(self, template):
        """ase.Atoms with this state, its energy (eV) and forces (eV/Å) attached."""
        from ase.calculators.singlepoint import SinglePointCalculator

        f = template.copy()
        f.positions = self.positions
        f.set_momenta(self.momenta, apply_constraint=False)
        f.info.update(step=self.step, time_fs=self.time_fs, temperature_K=self.temperature)
        f.calc = SinglePointCalculator(f, energy=self.energy, forces=self.forces)
        return f


def _blowup_reason(positions: np.ndarray, energy: float, forces: np.ndarray) -> str | None:
    """Why this state counts as a blown-up simulation, or None."""
    if not np.isfinite(energy) or not np.all(np.isfinite(forces)) or not np.all(np.isfinite(positions)):
        return "the energy, forces or positions are no longer finite"
    if len(positions) > 1:
        from scipy.spatial import cKDTree

        pairs = cKDTree(positions).query_pairs(BLOWUP_DISTANCE, output_type="ndarray")
        if len(pairs):
            i, j = (int(k) for k in pairs[0])
            d = float(np.linalg.norm(positions[i] - positions[j]))
            return f"atoms {i} and {j} came {d:.3f} Å apart (closer than {BLOWUP_DISTANCE} Å)"
    return None


class _Writer:
    """Appends frames to an extxyz trajectory every ``interval`` steps."""

    def __init__(self, out: str | Path | None, interval: int):
        self.path = Path(out) if out is not None else None
        self.interval = interval
        self.count = 0
        self._fh = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(self.path, "w")

    def due(self, step: int) -> bool:
        return self._fh is not None and step % self.interval == 0

    def write(self, frame) -> None:
        if self._fh is not None:
            from ase.io import write

            write(self._fh, frame, format="extxyz")
            self._fh.flush()
            self.count += 1

    def write_last(self, states, template) -> str | None:
        """The states kept before a blow-up, to ``<out>.last-frames.extxyz``; its path, or None."""
        if self.path is None or not states:
            return None
        from ase.io import write

        path = self.path.with_name(self.path.stem + ".last-frames.extxyz")
        write(path, [st.atoms(template) for st in states], format="extxyz")
        return str(path)

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
