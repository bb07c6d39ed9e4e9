"""``forcefields bench stability``: how long a potential survives molecular dynamics.

Force errors do not tell whether a potential survives MD (Fu et al. 2023,
"Forces are not enough"). For each model, start structure, temperature and
seed this runs Langevin dynamics (ASE, through :func:`forcefields.simulate.md.run_md`)
until ``ps`` picoseconds or the failure criterion trips, then a short NVE run
from the same start for the energy drift, and stores one record per run in
``<out>/<device_label>/stability.json`` (schema ``forcefields.bench/stability-v1``).

Failure criterion (:class:`Criterion`, stated in every record): a bond of the
start frame (ASE's covalent-radius neighbour list) stretched past
``bond_stretch`` Å (default 2.25), or two atoms closer than ``min_distance`` Å
(default 0.6), or a non-finite energy, force or position. A failed run writes
its last frames to ``stability-frames/`` next to the results.

Runs are independent tasks: they go to ``workers`` processes, every finished
one is written to ``stability.partial.json`` at once, and a run stopped early
is resumed by the same command (finished tasks are skipped; batched runs also
continue part-way from a checkpoint of their state, written every few minutes). With ``batched``
all tasks of a model run together as replicas of one batch (BAOAB Langevin,
:mod:`forcefields.simulate.replicas`): one model call per step for all of
them, far cheaper per trajectory for small molecules; workers then take one
model each. The records name their integrator, and the two kinds are kept
apart.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..local_paths import public_path
from .machine import machine_info, resolve_device
from .resolve import expand_model_names
from .store import ResultWriter, load_results, new_run_id, now_iso, record_key

__all__ = ["Criterion", "StabilitySettings", "run_stability", "start_structures", "run_one", "run_batch"]

ASE_LANGEVIN = "ase-langevin"  # one ASE Langevin run per task (run_one)
INTEGRATOR = "baoab-batched"  # forcefields.simulate.replicas (run_batch)


@dataclass(frozen=True)
class Criterion:
    """When an MD run counts as failed.

    Attributes
    ----------
    bond_stretch : Å; a bond of the start frame longer than this has broken
    min_distance : Å; two atoms closer than this have collapsed
    """

    bond_stretch: float = 2.25
    min_distance: float = 0.6

    def describe(self) -> str:
        return (f"a start-frame bond longer than {self.bond_stretch:g} Å, two atoms closer than "
                f"{self.min_distance:g} Å, or non-finite numbers")

    def check(self, bonds: np.ndarray):
        """A function of the positions (n, 3) Å returning why the run failed, or None."""
        i, j = bonds[:, 0], bonds[:, 1]

        def stop_when(positions: np.ndarray) -> str | None:
            if len(i):
                length = np.linalg.norm(positions[i] - positions[j], axis=1)
                k = int(np.argmax(length))
                if length[k] > self.bond_stretch:
                    return f"the bond {int(i[k])}-{int(j[k])} stretched to {length[k]:.2f} Å (> {self.bond_stretch:g} Å)"
            from scipy.spatial import cKDTree

            pairs = cKDTree(positions).query_pairs(self.min_distance, output_type="ndarray")
            if len(pairs):
                a, b = (int(x) for x in pairs[0])
                return f"atoms {a} and {b} came {np.linalg.norm(positions[a] - positions[b]):.2f} Å apart (< {self.min_distance:g} Å)"
            return None

        return stop_when


def start_bonds(atoms) -> np.ndarray:
    """(B, 2) atom pairs bonded in ``atoms`` by ASE's natural (covalent-radius) cutoffs, i < j."""
    from ase.neighborlist import build_neighbor_list, natural_cutoffs

    nl = build_neighbor_list(atoms, natural_cutoffs(atoms), self_interaction=False, bothways=False)
    matrix = nl.get_connectivity_matrix(sparse=True).tocoo()
    pairs = np.stack([matrix.row, matrix.col], axis=1)
    return pairs[pairs[:, 0] < pairs[:, 1]]


@dataclass
class StabilitySettings:
    """What ``forcefields bench stability`` runs.

    Attributes
    ----------
    models : pretrained names or checkpoint folders (comma list), or "all-pretrained"
    temperatures : K, one Langevin run per temperature (and seed)
    ps : ps, target simulated time of each Langevin run
    seeds : runs per temperature; seed k starts from start frame k with velocities of seed k
    timestep_fs : fs
    friction : 1/fs, Langevin friction
    nve_ps : ps of the NVE run for the energy drift (0: none)
    structures : an extxyz file of start frames for every model (default: rMD17 ``test_01``
        frames of each model's own molecules, read under ``root``)
    root : folder of the rMD17 npz files
    bond_stretch, min_distance : Å, the failure criterion (see :class:`Criterion`)
    workers : processes running tasks in parallel
    dtype : "float32" or "float64"
    device : "cpu" or "cuda[:N]" (the results go under that device's label)
    compile : run each model under ``torch.compile``; the compilation happens in a warm-up
        before the run (recorded as ``compile_s``), so ``ms_per_step`` times the compiled steps
    batched : run all tasks of a model as replicas of one batch (:mod:`forcefields.simulate.replicas`,
        BAOAB Langevin, one model call per step for all of them) instead of one ASE run each;
        ``ms_per_step`` is then the wall time per step of one trajectory (batch step / replicas)
    out : results root
    checkpoint_every_s : s of wall time between checkpoints of a batched run's state (in
        ``stability-checkpoints/`` next to the results, deleted when its records are written);
        the same command continues a stopped batched run from its last checkpoint
    """

    models: str = "all-pretrained"
    temperatures: tuple[float, ...] = (300.0, 500.0, 1000.0)
    ps: float = 100.0
    seeds: int = 3
    timestep_fs: float = 0.5
    friction: float = 0.01
    nve_ps: float = 5.0
    structures: str | None = None
    root: str = "../shared/data/rmd17"
    bond_stretch: float = 2.25
    min_distance: float = 0.6
    workers: int = 1
    dtype: str = "float32"
    device: str = "cpu"
    compile: bool = False
    batched: bool = False
    out: str = "benchmarks/results"
    progress: bool = True
    checkpoint_every_s: float = 300.0
    extra: dict[str, Any] = field(default_factory=dict)

    def criterion(self) -> Criterion:
        return Criterion(self.bond_stretch, self.min_distance)

    def check(self) -> None:
        if self.ps <= 0 or self.timestep_fs <= 0 or self.seeds < 1 or self.workers < 1 or self.nve_ps < 0:
            raise ValueError(
                f"--ps {self.ps}, --timestep {self.timestep_fs} fs, --seeds {self.seeds}, --workers {self.workers} and "
                f"--nve-ps {self.nve_ps} must be positive (--nve-ps may be 0); fix the value named."
            )
        if not self.temperatures or min(self.temperatures) <= 0:
            raise ValueError(f"--temperatures {self.temperatures} must be positive kelvins, e.g. 300,500,1000.")
        if not 0 < self.min_distance < self.bond_stretch:
            raise ValueError(f"--min-distance {self.min_distance} Å must be positive and below --bond-stretch {self.bond_stretch} Å.")


# Start molecules of models trained on no rMD17 molecule (general potentials).
GENERAL_START_MOLECULES = ("aspirin", "ethanol")


def start_structures(name: str, s: StabilitySettings) -> list[tuple[str, Any]]:
    """(label, ase.Atoms) start frames of one model: ``seeds`` frames per molecule.

    From ``s.structures`` (frames 0..seeds-1, cycled) when given, else from the
    rMD17 ``test_01`` file of each ``rmd17:<molecule>`` the model was trained on;
    a model trained on other data (a general potential) starts from
    :data:`GENERAL_START_MOLECULES`.
    """
    if s.structures:
        from ase.io import read

        path = Path(s.structures)
        if not path.is_file():
            raise FileNotFoundError(f"--structures {path} does not exist; give an extxyz file of start frames.")
        frames = read(str(path), index=":")
        return [(f"{path.name}#{k % len(frames)}", frames[k % len(frames)]) for k in range(s.seeds)]
    from ase import Atoms

    from forcefields.zoo import pretrained_info

    from .accuracy import _training_data

    sources, _ = _training_data(pretrained_info(name).config or {})
    molecules = [src.split(":", 1)[1] for src in sources if src.startswith("rmd17:")]
    if not molecules:
        if not sources:
            raise ValueError(f"{name} records no training data to pick start frames from; "
                             "pass --structures with an extxyz of start frames.")
        # A general potential (trained on a corpus, e.g. xtb:corpus/qm9-xtb): the molecules the
        # specialists are run on, so the two can be compared; none of them is in the corpus.
        molecules = list(GENERAL_START_MOLECULES)
    out = []
    for mol in molecules:
        path = Path(s.root) / f"rmd17_{mol}_test_01.npz"
        if not path.is_file():
            raise FileNotFoundError(f"{path} does not exist; pass --root with the rMD17 npz files, or --structures.")
        with np.load(path) as d:
            for k in range(s.seeds):
                out.append((f"rmd17:{mol}#{k}", Atoms(numbers=d["nuclear_charges"].astype(int), positions=d["coords"][k])))
    return out


def _new_record(task: dict, s: StabilitySettings, **extra) -> dict:
    """A task's record before its run: status "error" until the run says otherwise."""
    return dict(task["base"], model=public_path(task["model"]), structure=task["structure"],
                n_atoms=len(task["atoms"]), temperature_k=float(task["temperature_k"]), seed=int(task["seed"]),
                timestep_fs=s.timestep_fs, target_ps=s.ps, criterion=s.criterion().describe(), status="error",
                reason=None, survived_ps=None, ms_per_step=None, family="unknown", compiled=bool(s.compile), **extra)


def run_one(task: dict) -> dict:
    """One task (model, structure, temperature, seed) -> its record. Runs in a worker process.

    Parameters
    ----------
    task : dict with ``model``, ``structure`` (label), ``atoms`` (ase.Atoms), ``temperature_k``,
        ``seed``, ``settings`` (dict of :class:`StabilitySettings`), ``frames_dir``, ``base`` (record fields)
    """
    import torch

    from forcefields.simulate.md import as_calculator, run_md

    torch.set_num_threads(1)
    s = StabilitySettings(**task["settings"])
    crit = s.criterion()
    atoms = task["atoms"].copy()
    rec = _new_record(task, s, integrator=ASE_LANGEVIN)
    try:
        from forcefields.zoo import load

        model = load(task["model"], dtype=s.dtype, device=s.device)
        rec["family"] = str(getattr(model, "family", "unknown"))
        calc = as_calculator(model, compile=s.compile, device=s.device)
        if s.compile:
            rec["compile_s"] = warm_up(calc, atoms)
        stop = crit.check(start_bonds(atoms))
        steps = int(round(s.ps * 1000 / s.timestep_fs))
        with tempfile.TemporaryDirectory() as tmp:
            traj = Path(tmp) / "run.extxyz"
            summary = run_md(atoms, calc, temperature_K=rec["temperature_k"], steps=steps, timestep_fs=s.timestep_fs,
                             friction=s.friction, seed=rec["seed"], out=traj, interval=max(steps, 1), progress=False,
                             stop_when=stop)
            last = None
            if summary.last_frames:
                frames_dir = Path(task["frames_dir"])
                frames_dir.mkdir(parents=True, exist_ok=True)
                fname = _frames_name(rec["model"], task["structure"], rec["temperature_k"], rec["seed"])
                shutil.copy(summary.last_frames, frames_dir / fname)
                last = f"{frames_dir.name}/{fname}"
        rec.update(status="failed" if summary.blew_up else "survived", reason=summary.reason,
                   survived_ps=summary.simulated_ps if summary.blew_up else s.ps,
                   ms_per_step=summary.ms_per_step,
                   ns_per_day=86400e3 / summary.ms_per_step * s.timestep_fs * 1e-6 if summary.ms_per_step else None,
                   last_frames=last)
        if s.nve_ps > 0:
            nve = run_md(task["atoms"].copy(), calc, temperature_K=rec["temperature_k"],
                         steps=int(round(s.nve_ps * 1000 / s.timestep_fs)), timestep_fs=s.timestep_fs,
                         thermostat="nve", seed=rec["seed"], progress=False, stop_when=stop)
            rec.update(nve_ps=nve.simulated_ps,
                       nve_drift_mev_atom_ps=1e3 * nve.energy_drift if np.isfinite(nve.energy_drift) else None)
    except (ValueError, KeyError, FileNotFoundError, RuntimeError) as err:
        rec.update(status="error", reason=(str(err).strip().splitlines() or [type(err).__name__])[0][:300])
    return rec


def warm_up(calc, atoms) -> float:
    """Seconds of the first calls of ``calc`` (compilation), on ``atoms`` and a slightly moved copy.

    The moved copy (0.05 Å rattle) usually changes the number of edges, which
    makes torch.compile recompile once with dynamic shapes; that happens here
    instead of inside the timed run.
    """
    import time

    start = time.perf_counter()
    for k, shift in enumerate((0.0, 0.05)):
        probe = atoms.copy()
        if shift:
            probe.rattle(stdev=shift, seed=k)
        probe.calc = calc
        probe.get_forces()
    return time.perf_counter() - start


def _tasks(s: StabilitySettings, names: list[str], base: dict, frames_dir: Path) -> list[dict]:
    settings = {k: v for k, v in asdict(s).items()}
    tasks = []
    for name in names:
        for k, (label, atoms) in enumerate(start_structures(name, s)):
            for t in s.temperatures:
                tasks.append(dict(model=name, structure=label, atoms=atoms, temperature_k=float(t),
                                  seed=k % s.seeds, settings=settings, frames_dir=str(frames_dir), base=base))
    return tasks


def _task_key(task: dict, s: StabilitySettings) -> tuple:
    return record_key("stability", dict(model=public_path(task["model"]), structure=task["structure"], temperature_k=task["temperature_k"],
                                        seed=task["seed"], target_ps=s.ps, timestep_fs=s.timestep_fs,
                                        criterion=s.criterion().describe(),
                                        integrator=INTEGRATOR if s.batched else ASE_LANGEVIN))


def _frames_name(model: str, structure: str, temperature_k: float, seed: int) -> str:
    """One file name (no folders) for a failed run's frames; a model given as a folder path is flattened."""
    model = model.strip("/").replace("/", "-").replace("\\", "-")
    return f"{model}__{structure.replace(':', '-').replace('#', '-')}__{temperature_k:g}K__s{seed}.extxyz"


def _checkpoints(job: dict) -> dict[str, Path]:
    """The replica checkpoint files of a batched job, Langevin and NVE, under ``stability-checkpoints/``.

    Named by the model and a hash of the job's tasks, so another set of tasks of the same
    model never picks them up.
    """
    import hashlib

    s = StabilitySettings(**job["settings"])
    keys = sorted(repr(_task_key(t, s)) for t in job["tasks"])
    digest = hashlib.sha256("\n".join(keys).encode()).hexdigest()[:12]
    folder = Path(job["tasks"][0]["frames_dir"]).parent / "stability-checkpoints"
    stem = f"{Path(str(job['model'])).name}__{digest}"
    return {phase: folder / f"{stem}-{phase}.npz" for phase in ("langevin", "nve")}


def run_batch(job: dict) -> list[dict]:
    """Every task of one model as replicas of one batch -> their records. Runs in a worker process.

    Langevin (BAOAB) for all of them together, then NVE from the same starts for the drift.

    Parameters
    ----------
    job : dict with ``model``, ``tasks`` (as :func:`run_one` takes them, same model), ``settings``

    Both phases checkpoint every ``settings["checkpoint_every_s"]`` seconds (:func:`_checkpoints`);
    the same command continues a stopped job from there, and the caller deletes the files
    once the records are written.
    """
    import torch
    from ase.io import write

    from forcefields.simulate.replicas import run_replicas

    torch.set_num_threads(1)
    s = StabilitySettings(**job["settings"])
    crit = s.criterion()
    tasks = job["tasks"]
    checkpoints = _checkpoints(job)
    recs = []
    for t in tasks:
        recs.append(_new_record(t, s, integrator=INTEGRATOR, replicas=len(tasks)))
    try:
        from forcefields.zoo import load

        model = load(job["model"], dtype=s.dtype, device=s.device)
        starts = [t["atoms"] for t in tasks]
        temps = [float(t["temperature_k"]) for t in tasks]
        seeds = [int(t["seed"]) for t in tasks]
        steps = int(round(s.ps * 1000 / s.timestep_fs))
        results, timing = run_replicas(model, starts, temps, seeds, steps, timestep_fs=s.timestep_fs,
                                       friction=s.friction, stop_when=[crit.check(start_bonds(a)) for a in starts],
                                       compile=s.compile, device=s.device, progress=s.progress and s.workers == 1,
                                       checkpoint=checkpoints["langevin"], checkpoint_every_s=s.checkpoint_every_s)
        drifts = [None] * len(tasks)
        if s.nve_ps > 0:
            nve, _ = run_replicas(model, starts, temps, seeds, int(round(s.nve_ps * 1000 / s.timestep_fs)),
                                  timestep_fs=s.timestep_fs, thermostat="nve", compile=s.compile, device=s.device,
                                  stop_when=[crit.check(start_bonds(a)) for a in starts],
                                  checkpoint=checkpoints["nve"], checkpoint_every_s=s.checkpoint_every_s)
            drifts = [(r.simulated_ps, 1e3 * r.energy_drift if np.isfinite(r.energy_drift) else None) for r in nve]
        ms = timing.ms_per_replica_step
        for t, rec, res, drift in zip(tasks, recs, results, drifts):
            last = None
            if res.blew_up and res.last_frames:
                frames_dir = Path(t["frames_dir"])
                frames_dir.mkdir(parents=True, exist_ok=True)
                name = _frames_name(rec["model"], t["structure"], rec["temperature_k"], rec["seed"])
                write(str(frames_dir / name), res.last_frames, format="extxyz")
                last = f"{frames_dir.name}/{name}"
            rec.update(family=str(getattr(model, "family", "unknown")),
                       status="failed" if res.blew_up else "survived", reason=res.reason,
                       survived_ps=res.simulated_ps if res.blew_up else s.ps, ms_per_step=ms,
                       ns_per_day=86400e3 / ms * s.timestep_fs * 1e-6 if ms else None, last_frames=last)
            if s.compile:
                rec["compile_s"] = timing.first_calls_s
            if drift is not None:
                rec.update(nve_ps=drift[0], nve_drift_mev_atom_ps=drift[1])
    except (ValueError, KeyError, FileNotFoundError, RuntimeError) as err:
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0][:300]
        for rec in recs:
            rec.update(status="error", reason=reason)
    return recs


def run_stability(settings: StabilitySettings) -> dict:
    """Run every task not already in the results, in parallel, and merge into ``stability.json``.

    Returns
    -------
    dict with ``path`` (the result file), ``device_label``, ``run_id``, ``records`` (this run's)
    and ``skipped`` (tasks found finished in the results and not run again).
    """
    s = settings
    s.check()
    device = resolve_device(s.device)
    names = expand_model_names(s.models)
    machine = machine_info(device)
    run_id = new_run_id()
    settings_dict = {k: v for k, v in asdict(s).items() if k not in ("progress", "extra", "checkpoint_every_s")}
    settings_dict.update(models=names, temperatures=list(s.temperatures), criterion=s.criterion().describe())
    run = {"run_id": run_id, "created": now_iso(), "complete": False, "machine": machine, "settings": settings_dict}
    writer = ResultWriter(s.out, "stability", machine["device_label"], "stability", run)
    done: dict[tuple, dict] = {}
    partial = writer.paths["partial"]
    if partial.exists():  # a stopped run: continue it (its header and finished records are kept)
        old = load_results(partial)
        writer.run = dict(old["runs"][0], complete=False)
        writer.records = list(old["records"])
        done.update({record_key("stability", r): r for r in old["records"]})
    if writer.paths["json"].exists():
        done.update({record_key("stability", r): r for r in load_results(writer.paths["json"])["records"]})
    base = {"run_id": writer.run["run_id"]}
    frames_dir = writer.paths["json"].parent / "stability-frames"
    every = _tasks(s, names, base, frames_dir)
    tasks = [t for t in every if _task_key(t, s) not in done]
    skipped = len(every) - len(tasks)
    if s.batched:
        jobs: dict[str, list[dict]] = {}
        for t in tasks:
            jobs.setdefault(t["model"], []).append(t)
        payloads = [dict(model=name, tasks=group, settings=asdict(s)) for name, group in jobs.items()]
        def finished(job: dict, records: list[dict]) -> None:
            writer.add(records)
            if all(r["status"] != "error" for r in records):  # the records are safe: the checkpoints go
                for path in _checkpoints(job).values():
                    path.unlink(missing_ok=True)

        if s.workers == 1 or len(payloads) <= 1:
            for job in payloads:
                finished(job, run_batch(job))
        else:
            import multiprocessing as mp

            with ProcessPoolExecutor(max_workers=s.workers, mp_context=mp.get_context("spawn")) as pool:
                futures = {pool.submit(run_batch, job): job for job in payloads}
                for fut in as_completed(futures):
                    finished(futures[fut], fut.result())
    elif s.workers == 1 or len(tasks) <= 1:
        for t in tasks:
            writer.add([run_one(t)])
    else:
        import multiprocessing as mp

        with ProcessPoolExecutor(max_workers=s.workers, mp_context=mp.get_context("spawn")) as pool:
            for fut in as_completed([pool.submit(run_one, t) for t in tasks]):
                writer.add([fut.result()])
    new = list(writer.records)
    path = writer.commit()
    return {"path": path, "device_label": machine["device_label"], "run_id": writer.run["run_id"], "records": new,
            "skipped": skipped, "ran": len(tasks)}
