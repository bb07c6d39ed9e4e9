"""Many independent MD trajectories advanced together, one model call per step for all of them.

A small molecule's energy-and-forces call is mostly fixed cost (kernel launches
on a GPU, Python and small-op overhead on a CPU), so R trajectories of aspirin
in one batched call cost far less than R separate runs. Each *replica* is one
trajectory with its own start frame, temperature, seed and failure criterion;
a replica that fails stops and leaves the batch, the others go on.

Integrator: BAOAB Langevin (Leimkuhler & Matthews 2013), per replica at its own
temperature, or velocity Verlet with ``thermostat="nve"``. Initial velocities
are those :func:`forcefields.simulate.md.run_md` draws for the same seed
(Maxwell-Boltzmann, no net momentum or rotation); the random forces come from
each replica's own generator, so a replica's trajectory does not depend on
which others share its batch. Positions and velocities are kept in float64;
the model runs in its own dtype.

>>> results, timing = run_replicas(model, [atoms] * 3, temperatures_K=[300, 500, 1000],
...                                seeds=[0, 0, 0], steps=20000)            # doctest: +SKIP
"""

from __future__ import annotations

import collections
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable, Sequence

import numpy as np
import torch

from .md import LAST_FRAMES, _blowup_reason, _thermalize, energy_drift
from .replica_checkpoint import restore_state, run_fingerprint, save_state

__all__ = ["run_replicas", "ReplicaResult", "BatchTiming", "INTEGRATOR"]

INTEGRATOR = "baoab-batched"  # how bench stability records name this integrator


@dataclass
class ReplicaResult:
    """What one replica did.

    Attributes
    ----------
    natoms : int
    steps : int, steps completed before the end or the failure
    simulated_ps : float, ps
    blew_up : bool
    reason : str or None, the failure in one sentence ("at step S (T fs) ...")
    temperature_mean : float, K, over the steps (initial state excluded)
    energy_drift : float, eV/atom/ps, slope of the total energy (meaningful for NVE)
    last_frames : list of ase.Atoms (energies and forces attached) before a failure, else empty
    """

    natoms: int
    steps: int = 0
    simulated_ps: float = 0.0
    blew_up: bool = False
    reason: str | None = None
    temperature_mean: float = float("nan")
    energy_drift: float = float("nan")
    last_frames: list = field(default_factory=list)


@dataclass
class BatchTiming:
    """Cost of a batched run.

    Attributes
    ----------
    wall_time_s : s, the dynamics alone (after the first evaluations)
    first_calls_s : s, the untimed first evaluations (with ``compile``: the compilation)
    batch_steps : int, batched steps taken (the longest replica's)
    replica_steps : int, steps summed over the replicas
    ms_per_replica_step : float, ms of wall time per step of one trajectory (wall / replica_steps)
    """

    wall_time_s: float
    batch_steps: int
    replica_steps: int
    first_calls_s: float = 0.0

    @property
    def ms_per_replica_step(self) -> float:
        return 1e3 * self.wall_time_s / max(self.replica_steps, 1)


class _Replica:
    """One trajectory's state (float64, ASE units: Å, amu, Å / ASE time)."""

    def __init__(self, atoms, temperature_K: float, seed: int, stop_when, keep: int):
        from ase import units

        self.atoms = atoms.copy()
        self.rng = np.random.default_rng(seed)
        _thermalize(self.atoms, temperature_K, self.rng)  # the same draw as run_md for this seed
        self.masses = self.atoms.get_masses()[:, None]
        self.pos = self.atoms.positions.astype(np.float64).copy()
        self.vel = self.atoms.get_momenta() / self.masses
        self.kT = units.kB * temperature_K
        self.stop_when = stop_when
        self.energy = float("nan")
        self.forces = np.zeros_like(self.pos)
        self.times: list[float] = []
        self.total: list[float] = []
        self.temperatures: list[float] = []
        self.last: collections.deque = collections.deque(maxlen=keep)
        self.result = ReplicaResult(natoms=len(atoms))

    def kinetic(self) -> float:
        return float(0.5 * np.sum(self.masses * self.vel**2))


def _energies_forces(model, fn, replicas: list[_Replica], dtype: torch.dtype, device: torch.device):
    """One model call for the replicas: per-replica energies (eV) and forces (n_r, 3) eV/Å."""
    from torch_cluster import radius_graph

    sizes = [len(r.pos) for r in replicas]
    pos = torch.as_tensor(np.concatenate([r.pos for r in replicas]), dtype=dtype, device=device)
    z = torch.as_tensor(np.concatenate([r.atoms.numbers for r in replicas]), dtype=torch.long, device=device)
    batch = torch.repeat_interleave(torch.arange(len(replicas), device=device), torch.as_tensor(sizes, device=device))
    with torch.no_grad():
        edges = radius_graph(pos, r=float(model.cutoff), batch=batch, loop=False, max_num_neighbors=10_000)
    data = SimpleNamespace(z=z, pos=pos, batch=batch, num_graphs=len(replicas), edge_index=edges)
    with torch.enable_grad():
        out = fn(data, compute_forces=True)
    energies = out["energy"].detach().to("cpu", torch.float64).numpy()
    forces = np.split(out["forces"].detach().to("cpu", torch.float64).numpy(), np.cumsum(sizes)[:-1])
    return energies, forces


def run_replicas(
    model: Any,
    structures: Sequence[Any],
    temperatures_K: Sequence[float],
    seeds: Sequence[int],
    steps: int,
    timestep_fs: float = 0.5,
    friction: float = 0.01,
    thermostat: str = "langevin",
    stop_when: Sequence[Callable[[np.ndarray], str | None] | None] | None = None,
    compile: bool = False,
    device: str = "cpu",
    progress: bool = False,
    checkpoint: str | Path | None = None,
    checkpoint_every_s: float = 300.0,
) -> tuple[list[ReplicaResult], BatchTiming]:
    """Advance every replica ``steps`` steps (or to its failure) with one model call per step.

    Parameters
    ----------
    model : ForceField (conservative forces), or a pretrained name or folder (loaded in float32)
    structures : R ase.Atoms, the start frames (not periodic; any mix of molecules)
    temperatures_K : R floats, K, of the initial velocities and of each replica's bath
    seeds : R ints, the initial velocities and the random forces of each replica
    steps : int
    timestep_fs : float, fs
    friction : float, 1/fs (ignored for NVE)
    thermostat : "langevin" (BAOAB) or "nve" (velocity Verlet)
    stop_when : R optional failure criteria (see :func:`forcefields.simulate.md.run_md`); a
        non-finite number or two atoms closer than 0.5 Å always count as failure
    compile : run the model under ``torch.compile`` (first calls compile)
    device : "cpu" or "cuda"
    progress : show a progress bar (replicas still running, mean temperature)
    checkpoint : an ``.npz`` file for the run's state, optional. When it exists the run
        continues from it (the same trajectories as an uninterrupted run); it is rewritten every
        ``checkpoint_every_s`` seconds and at the end (:mod:`forcefields.simulate.replica_checkpoint`).
        The caller deletes it once the results are safe.
    checkpoint_every_s : float, s of wall time between checkpoints

    Returns
    -------
    results : R ReplicaResult, in the order given
    timing : BatchTiming
    """
    from ase import units

    from ..bench.machine import resolve_device
    from ._progress import StepProgress

    r = len(structures)
    if not (len(temperatures_K) == len(seeds) == r) or (stop_when is not None and len(stop_when) != r):
        raise ValueError(f"give one temperature, seed (and criterion) per structure: {r} structures, "
                         f"{len(temperatures_K)} temperatures, {len(seeds)} seeds.")
    thermostat = str(thermostat).lower()
    if thermostat not in ("langevin", "nve"):
        raise ValueError(f"thermostat {thermostat!r} is not known; use 'langevin' (BAOAB) or 'nve'.")
    if steps < 0 or timestep_fs <= 0 or friction < 0 or min(temperatures_K, default=0) < 0:
        raise ValueError(f"steps={steps}, timestep={timestep_fs} fs, friction={friction} /fs and the temperatures "
                         "must be non-negative (timestep > 0).")
    if isinstance(model, torch.nn.Module):
        dev = resolve_device(device)
        model = model.to(dev)
    else:
        from ..zoo import load

        dev = resolve_device(device)
        model = load(model, device=dev, dtype="float32")
    model = model.eval()
    dtype = next(p for p in model.parameters() if p.is_floating_point()).dtype
    if compile:
        from ..models.compiled import compile_force_field

        fn = compile_force_field(model)
    else:
        fn = model
    for atoms in structures:
        if any(atoms.pbc):
            raise ValueError("batched replicas handle isolated molecules only; set atoms.pbc = False.")
        model.element_index(torch.as_tensor(atoms.numbers, dtype=torch.long))  # refuses unknown elements
    criteria = list(stop_when) if stop_when is not None else [None] * r
    reps = [_Replica(a, t, s, c, LAST_FRAMES) for a, t, s, c in zip(structures, temperatures_K, seeds, criteria)]
    fingerprint = run_fingerprint(structures, temperatures_K, seeds, steps, timestep_fs, friction, thermostat)
    restored = restore_state(checkpoint, fingerprint, reps) if checkpoint is not None else None
    start_step, before = (0, {}) if restored is None else restored
    for rep in reps:
        if rep.result.blew_up:  # failed before the checkpoint: its frames are in the file
            rep.result.last_frames = _last_frames(rep, timestep_fs)

    dt = timestep_fs * units.fs
    c1 = float(np.exp(-friction / units.fs * dt)) if thermostat == "langevin" else 1.0
    c2 = float(np.sqrt(1.0 - c1 * c1))
    active = [rep for rep in reps if not rep.result.blew_up]
    t_first = time.perf_counter()
    if compile:
        # A slightly moved copy usually has other edge counts: torch.compile recompiles once with
        # dynamic shapes here, not inside the timed steps.
        moved = [_Replica(rep.atoms, 0.0, k, None, 1) for k, rep in enumerate(active)]
        for k, rep in enumerate(moved):
            rep.pos = rep.pos + np.random.default_rng(k).normal(scale=0.05, size=rep.pos.shape)
        _energies_forces(model, fn, moved, dtype, dev)
    if active:
        energies, forces = _energies_forces(model, fn, active, dtype, dev)  # refuses bad input before step 0
    first_calls = time.perf_counter() - t_first + before.get("first_calls_s", 0.0)
    if restored is None:
        for k, rep in enumerate(active):
            rep.energy, rep.forces = float(energies[k]), forces[k]
        active = [rep for rep in active if not _observe(rep, 0, timestep_fs)]

    bar = StepProgress(progress, steps, f"{r} replicas, {thermostat}", start=start_step)
    t0 = last_save = time.perf_counter()
    replica_steps, batch_steps = int(before.get("replica_steps", 0)), start_step

    def counters() -> dict:
        return {"wall_time_s": before.get("wall_time_s", 0.0) + time.perf_counter() - t0,
                "replica_steps": replica_steps, "first_calls_s": first_calls}

    with bar:
        for step in range(start_step + 1, steps + 1):
            if not active:
                break
            for rep in active:  # B, A, O, A
                rep.vel += 0.5 * dt * rep.forces / rep.masses
                rep.pos += 0.5 * dt * rep.vel
                if c1 < 1.0:
                    noise = rep.rng.standard_normal(rep.vel.shape)
                    rep.vel = c1 * rep.vel + c2 * np.sqrt(rep.kT / rep.masses) * noise
                rep.pos += 0.5 * dt * rep.vel
            bad = [rep for rep in active if not np.all(np.isfinite(rep.pos))]
            for rep in bad:
                _fail(rep, step, timestep_fs, "positions became non-finite")
            active = [rep for rep in active if rep not in bad]
            if not active:
                break
            energies, forces = _energies_forces(model, fn, active, dtype, dev)
            still = []
            for k, rep in enumerate(active):  # B, then the observer
                rep.energy, rep.forces = float(energies[k]), forces[k]
                rep.vel += 0.5 * dt * rep.forces / rep.masses
                if not _observe(rep, step, timestep_fs):
                    still.append(rep)
            replica_steps += len(active)
            batch_steps = step
            active = still
            if active:
                bar.advance(float(np.mean([rep.temperatures[-1] for rep in active])))
            if checkpoint is not None and time.perf_counter() - last_save > checkpoint_every_s:
                save_state(checkpoint, fingerprint, step, counters(), reps)
                last_save = time.perf_counter()
    wall = counters()["wall_time_s"]
    if checkpoint is not None:
        save_state(checkpoint, fingerprint, steps, counters(), reps)
    for rep in reps:
        res = rep.result
        temps = np.asarray(rep.temperatures[1:] or rep.temperatures or [np.nan])
        res.temperature_mean = float(np.mean(temps))
        res.energy_drift = energy_drift(np.asarray(rep.times), np.asarray(rep.total), len(rep.pos))
        if not res.blew_up:
            res.steps = len(rep.times) - 1
        res.simulated_ps = res.steps * timestep_fs * 1e-3
    return [rep.result for rep in reps], BatchTiming(wall, batch_steps, replica_steps, first_calls)


def _observe(rep: _Replica, step: int, timestep_fs: float) -> bool:
    """Record the state after ``step``; True when the replica has just failed."""
    from ase import units

    ekin = rep.kinetic()
    temperature = 2.0 * ekin / (3 * len(rep.pos) * units.kB)
    rep.last.append((step, rep.pos.copy(), rep.vel * rep.masses, rep.energy, rep.forces.copy()))
    problem = _blowup_reason(rep.pos, rep.energy, rep.forces)
    if problem is None and rep.stop_when is not None:
        problem = rep.stop_when(rep.pos)
    if problem:
        _fail(rep, step, timestep_fs, problem)
        return True
    rep.times.append(step * timestep_fs)
    rep.total.append(rep.energy + ekin)
    rep.temperatures.append(temperature)
    return False


def _fail(rep: _Replica, step: int, timestep_fs: float, problem: str) -> None:
    res = rep.result
    res.blew_up = True
    res.steps = max(step - 1, 0)  # the last good step
    res.reason = f"at step {step} ({step * timestep_fs:g} fs) {problem}"
    res.last_frames = _last_frames(rep, timestep_fs)


def _last_frames(rep: _Replica, timestep_fs: float) -> list:
    """The frames kept before a failure as ase.Atoms, with energies and forces where finite."""
    from ase import Atoms
    from ase.calculators.singlepoint import SinglePointCalculator

    frames = []
    for k, pos, momenta, energy, forces in rep.last:
        atoms = Atoms(numbers=rep.atoms.numbers, positions=pos, momenta=momenta)
        if np.isfinite(energy) and np.all(np.isfinite(forces)):
            atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=forces)
        atoms.info.update(step=int(k), time_fs=k * timestep_fs)
        frames.append(atoms)
    return frames
