"""Speed benchmark: four regimes, each model, dtype, device, compile on/off.

- md: latency of one energy+forces call on one small molecule, neighbour
  list included, as a molecular-dynamics step sees it.
- batch: many molecules in one call; molecules/s and atoms/s per batch size.
- large: one water droplet of 1e2 to 1e5 atoms; time per atom and peak memory.
- train (asked for by name): one training step on a batch of aspirin copies
  (forces, loss, backward to the parameters, AdamW; :mod:`.train_step`); time
  per step and per structure. Eager only: ``torch.compile`` cannot take the
  second derivative that training on conservative forces needs.

With ``side_by_side`` the models take turns at every point
(:func:`bench_side_by_side`) instead of running one after another, so drift
in the machine's speed falls on all of them alike and their ratios hold; the
peers take their turns too, each served by its runner in its own process
(:class:`.peers.PeerServer`). Without it the peers run after our models.

Batch and large sizes grow until a call would take longer than
``max_call_s`` (predicted linearly from the previous size), memory runs out,
or the run's time budget is spent; the points left are recorded as skipped
with the reason. A compile failure is recorded, not raised.
"""

from __future__ import annotations

import gc
import json
import os
import tempfile
import time
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from ..local_paths import interpreter_name
from .machine import machine_info, resolve_device
from .memory import PeakMemory
from .resolve import as_dtype, expand_model_names, resolve_model
from .store import ResultWriter, new_run_id, now_iso
from .systems import batch_systems, md_systems, water_droplet
from .timing import measure, measure_rounds, summarize
from .units import ModelUnit, PeerUnit, Point, UnitRules

__all__ = ["SpeedSettings", "run_speed", "DEFAULT_LARGE_SIZES"]

REGIMES = ("md", "batch", "large", "train")
DEFAULT_REGIMES = ("md", "batch", "large")
DEFAULT_LARGE_SIZES = {"cpu": (100, 300, 1000, 3000, 10000), "cuda": (100, 300, 1000, 3000, 10000, 30000, 100000)}


@dataclass
class SpeedSettings:
    """What ``forcefields bench speed`` measures and how.

    Attributes
    ----------
    models : names (registry variants or pretrained checkpoints), or "all"
    device : "cpu" or "cuda[:N]"
    dtype : "float32" or "float64"
    compile : also time each model under ``torch.compile`` (both modes are timed)
    regimes : subset of ("md", "batch", "large", "train"); "train" only when named
    md_molecules : molecules of the md regime (see ``systems.md_molecule``)
    batch_sizes : molecules per call in the batch regime (aspirin copies)
    train_batch_sizes : molecules per training step in the train regime (aspirin copies)
    large_sizes : atoms per droplet in the large regime; None: per-device default
    warmup, repeats, min_repeats : timing protocol (see ``timing.measure``)
    max_time_per_point_s : seconds of timed calls per point, at most
    max_call_s : stop growing a regime when one call would take longer (s)
    time_budget_s : whole run, shared equally by models (and peer models); None: no cap
    threads : torch intra-op threads on the CPU; None: torch's default
    seed : model initialisation and structure jitter
    overrides : config fields applied to every registry model (e.g. hidden=8)
    peer : peer name ("mace", "nequip"), a comma list of them, or None
    peer_python : the interpreter of each peer's environment (comma list, same order)
    peer_models : peer configurations, e.g. [{"channels": 64, "max_L": 1}]
    out : results root; fallback_cpu : CPU when CUDA is absent
    rmd17_root : rMD17 folder, for "rmd17:<molecule>" md molecules
    progress : show a rich progress bar
    side_by_side : time all models (and compile modes) at each point in turns
        instead of one model after another; all stay in memory
    warm_compile_cache : with ``compile``, keep torch's inductor cache of earlier
        runs; False (default): a fresh cache for the run (ours and the peers'),
        so ``first_call_s`` is the whole compilation, not a cache lookup
    """

    models: list[str] | str = "all"
    device: str = "cpu"
    dtype: str = "float32"
    compile: bool = False
    regimes: tuple[str, ...] = DEFAULT_REGIMES
    md_molecules: tuple[str, ...] = ("ethanol", "aspirin")
    batch_sizes: tuple[int, ...] = (1, 4, 16, 64, 256)
    train_batch_sizes: tuple[int, ...] = (4, 16, 64)
    large_sizes: tuple[int, ...] | None = None
    warmup: int = 3
    repeats: int = 20
    min_repeats: int = 3
    max_time_per_point_s: float = 10.0
    max_call_s: float = 20.0
    time_budget_s: float | None = None
    threads: int | None = None
    seed: int = 0
    overrides: dict[str, Any] = field(default_factory=dict)
    peer: str | None = None
    peer_python: str | None = None
    peer_models: list[dict] = field(default_factory=lambda: [{"channels": 64, "max_L": 1}])
    out: str = "benchmarks/results"
    fallback_cpu: bool = False
    rmd17_root: str | None = None
    progress: bool = True
    side_by_side: bool = False
    warm_compile_cache: bool = False

    def check(self) -> None:
        bad = [r for r in self.regimes if r not in REGIMES]
        if bad or not self.regimes:
            raise ValueError(f"regimes {bad or '(none)'} are not known; use a comma list of md, batch, large, train.")
        as_dtype(self.dtype)
        for name, sizes in (("batch sizes", self.batch_sizes), ("large sizes", self.large_sizes or (1,)),
                            ("train batch sizes", self.train_batch_sizes)):
            if any(int(s) < 1 for s in sizes):
                raise ValueError(f"{name} must be positive integers; got {list(sizes)}.")
        if self.repeats < 1 or self.warmup < 0:
            raise ValueError("repeats must be at least 1 and warmup at least 0.")
        if self.peer and len(self.peer_pairs()) != len(_split(self.peer)):
            raise ValueError(
                f"--peer {self.peer} needs one --peer-python per peer (comma list, same order): "
                "the interpreter of an environment with that peer installed."
            )

    def peer_pairs(self) -> list[tuple[str, str]]:
        """(peer name, interpreter) pairs."""
        names, pythons = _split(self.peer), _split(self.peer_python)
        return list(zip(names, pythons)) if len(names) == len(pythons) else []


def _split(text: str | list | tuple | None) -> list[str]:
    if not text:
        return []
    items = text.split(",") if isinstance(text, str) else list(text)
    return [str(x).strip() for x in items if str(x).strip()]


def build_points(s: SpeedSettings, device: torch.device) -> list[Point]:
    """Every call to time, in order: md molecules, then batch and droplet sizes by atoms (ascending)."""
    points: list[Point] = []
    if "md" in s.regimes:
        for name, atoms in md_systems(s.md_molecules, s.rmd17_root):
            points.append(Point("md", name, 1, [atoms]))
    grow: list[Point] = []
    if "batch" in s.regimes:
        for b in sorted({int(b) for b in s.batch_sizes}):
            grow.append(Point("batch", "aspirin", b, batch_systems(b, seed=s.seed)))
    if "train" in s.regimes:
        for b in sorted({int(b) for b in s.train_batch_sizes}):
            grow.append(Point("train", "aspirin", b, batch_systems(b, seed=s.seed)))
    if "large" in s.regimes:
        sizes = s.large_sizes or DEFAULT_LARGE_SIZES["cuda" if device.type == "cuda" else "cpu"]
        for n in sorted({int(n) for n in sizes}):
            grow.append(Point("large", "water-droplet", 1, [water_droplet(n, seed=s.seed)]))
    # Batch, train and large points interleaved by size, so a time budget cuts the
    # largest sizes of every regime rather than a whole regime.
    return points + sorted(grow, key=lambda p: p.n_atoms)


def _free(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()


def bench_model(
    name: str,
    compiled: bool,
    points: list[Point],
    s: SpeedSettings,
    device: torch.device,
    base: dict,
    deadline: float,
    on_point: Callable[[str], None] = lambda _: None,
) -> list[dict]:
    """All points of one model in one compile mode, one after another; never raises for a point."""
    unit = ModelUnit(name, compiled, s, device, base)
    for p in points:
        on_point(f"{unit.label}: {p.regime} {p.system} {p.n_atoms} atoms")
        if unit.skip(p, out_of_time=time.perf_counter() > deadline):
            continue
        try:
            call, n_edges = unit.prepare(p)
            with PeakMemory(device) as peak:
                timing = measure(
                    call, device, warmup=s.warmup, repeats=s.repeats, min_repeats=s.min_repeats,
                    max_time_s=max(min(s.max_time_per_point_s, deadline - time.perf_counter()), 0.0),
                )
            unit.done(p, timing, peak, n_edges)
        except KeyboardInterrupt:
            raise
        except Exception as err:  # recorded: one point must not sink the run
            unit.failed(p, err)
        finally:
            call = None
            _free(device)
    return unit.records


def bench_side_by_side(
    units: list[tuple[str, bool]],
    points: list[Point],
    s: SpeedSettings,
    device: torch.device,
    base: dict,
    share: float | None,
    on_point: Callable[[str], None] = lambda _: None,
    on_records: Callable[[list[dict]], None] = lambda _: None,
    peer_units: list[UnitRules] = (),
) -> list[dict]:
    """Every point timed for all units side by side (:func:`.timing.measure_rounds`); never raises for a point.

    ``units`` are (model name, compiled) pairs; ``peer_units`` peer models
    served by their own processes (:class:`.units.PeerUnit`), which take
    their turns among ours. ``share`` is each unit's time budget (s; None: no
    cap), counted over its own calls only, so a slow model spends its share
    and not the others'. ``on_records`` receives each point's records as soon
    as it is done (the harness saves them, so an interrupted run keeps its
    finished points).

    All models stay in memory for the whole run. Each unit is warmed up on its
    own (its peak memory is read then, since a peak while the others run in
    between would not be its own); then the units take turns. The time per
    point is ``max_time_per_point_s`` per unit, as when they run one after another.
    """
    built = [ModelUnit(name, compiled, s, device, base) for name, compiled in units] + list(peer_units)
    spent = {unit: 0.0 for unit in built}  # seconds of each unit's own calls

    def left(unit) -> float:
        return share - spent[unit] if share else float("inf")

    for p in points:
        before = {unit: len(unit.records) for unit in built}
        calls, edges, peaks, warm = {}, {}, {}, {}
        for unit in built:
            on_point(f"{unit.label}: {p.regime} {p.system} {p.n_atoms} atoms (side by side)")
            if unit.skip(p, out_of_time=left(unit) < 0):
                continue
            try:
                t0 = time.perf_counter()
                call, first, last, peak, n_edges = unit.warm(p, s.warmup)
                spent[unit] += time.perf_counter() - t0
                calls[unit], edges[unit], peaks[unit], warm[unit] = call, n_edges, peak, (first, last)
            except KeyboardInterrupt:
                raise
            except Exception as err:
                unit.failed(p, err)
        if calls:
            budget = max(min(s.max_time_per_point_s * len(calls), sum(left(u) for u in calls)), 0.0)
            timed = measure_rounds(calls, device, repeats=s.repeats, min_repeats=s.min_repeats, max_time_s=budget,
                                   call_s={u: warm[u][1] for u in calls})
            for unit, times in timed.items():
                if isinstance(times, BaseException):
                    unit.failed(p, times)
                else:
                    spent[unit] += sum(times)
                    timing = summarize(times, warmup=max(s.warmup, 1), first_call_s=warm[unit][0])
                    unit.done(p, timing, peaks[unit], edges[unit])
        calls = None
        _free(device)
        on_records([r for unit in built for r in unit.records[before[unit]:]])
    return [r for unit in built for r in unit.records]


def _progress(enabled: bool, total: int):
    if not enabled:
        return nullcontext(None)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    transient=False)


def run_speed(settings: SpeedSettings) -> dict:
    """Run the speed benchmark and store its results.

    Returns
    -------
    dict with ``path`` (complete results file), ``device_label``, ``run_id``
    and ``records`` (this run's records).

    Raises
    ------
    ValueError / KeyError / FileNotFoundError : bad settings, unknown model,
        missing device, peer interpreter without its package (checked before
        anything is timed)
    """
    s = settings
    s.check()
    device = resolve_device(s.device, s.fallback_cpu)
    if s.threads:
        torch.set_num_threads(int(s.threads))
    names = expand_model_names(s.models)
    # Resolve every name before timing anything, so a typo fails in a second.
    for name in names:
        resolve_model(name, dtype=s.dtype, device="cpu", seed=s.seed, overrides=s.overrides)
    peer_runs = []  # (name, python, runner)
    if s.peer:
        from .peers import preflight, runner_path

        for peer, python in s.peer_pairs():
            runner = runner_path(peer)
            preflight(python, runner)
            peer_runs.append((peer, python, runner))

    points = build_points(s, device)
    machine = machine_info(device)
    label = machine["device_label"]
    run_id = new_run_id()
    settings_dict = {k: v for k, v in asdict(s).items() if k not in ("progress",)}
    settings_dict.update(device=str(device), models=names)
    if s.peer_python:  # results are shared: interpreters by environment name, not by absolute path
        settings_dict["peer_python"] = ",".join(interpreter_name(p) for p in _split(s.peer_python))
    run = {"run_id": run_id, "created": now_iso(), "complete": False, "machine": machine,
           "settings": settings_dict, "peers": []}
    writer = ResultWriter(s.out, "speed", label, f"speed-{s.dtype}", run)
    base = {"run_id": run_id, "dtype": s.dtype, "device": str(device)}

    compile_modes = [False, True] if s.compile else [False]
    n_peer_units = len(s.peer_models) * len(compile_modes) * len(peer_runs)
    units = [(n, c) for n in names for c in compile_modes]
    budget = s.time_budget_s
    share = budget / (len(units) + n_peer_units) if budget else None

    total = len(points) * (len(units) + n_peer_units) if s.side_by_side else len(points) * len(units) + len(peer_runs)
    with _progress(s.progress, total) as progress, ExitStack() as stack:
        if s.compile and not s.warm_compile_cache:
            stack.enter_context(_fresh_compile_cache())
        task = progress.add_task("speed", total=total) if progress else None

        def on_point(desc: str) -> None:
            if progress is not None:
                progress.update(task, description=desc)
                progress.advance(task)

        if s.side_by_side:
            peer_units = []
            for peer, python, runner in peer_runs:
                on_point(f"peer {peer}: starting its runner ({len(s.peer_models)} model(s), its own process)")
                server, point_ids = stack.enter_context(_serve_peer(s, python, runner, points, device, compile_modes, share))
                writer.run["peers"].append(dict(server.peer, models=s.peer_models, runner=runner.name,
                                                python=interpreter_name(python), side_by_side=True))
                peer_units += [PeerUnit(server, i, point_ids, s.max_call_s, base) for i in range(len(server.units))]
            bench_side_by_side(units, points, s, device, base, share, on_point, on_records=writer.add,
                               peer_units=peer_units)
            gc.collect()
        else:
            for name, compiled in units:
                deadline = time.perf_counter() + share if share else float("inf")
                writer.add(bench_model(name, compiled, points, s, device, base, deadline, on_point))
                gc.collect()  # the model of this unit is gone; free its memory before the next
            for peer, python, runner in peer_runs:
                on_point(f"peer {peer} ({len(s.peer_models)} model(s), its own process)")
                peer_recs, peer_info = _run_peer(s, python, runner, points, device, compile_modes, share, base)
                writer.run["peers"].append(peer_info)
                writer.add(peer_recs)

    path = writer.commit()
    return {"path": path, "device_label": label, "run_id": run_id, "records": writer.records}


@contextmanager
def _fresh_compile_cache():
    """An empty inductor cache for the run (the peers' runners inherit it), removed afterwards.

    A compiled model's first call is its compile time only with nothing cached:
    inductor's on-disk cache turns minutes into seconds, depending on what
    earlier runs on the machine left there.
    """
    previous = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
    with tempfile.TemporaryDirectory(prefix="ff-bench-inductor-") as folder:
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = folder
        try:
            yield folder
        finally:
            if previous is None:
                os.environ.pop("TORCHINDUCTOR_CACHE_DIR", None)
            else:
                os.environ["TORCHINDUCTOR_CACHE_DIR"] = previous


def _peer_request(s: SpeedSettings, points: list[Point], device: torch.device, compile_modes: list[bool],
                  share: float | None) -> tuple[dict, list[tuple[dict, list]], list[Point]]:
    """(peer settings, point headers with their structures, the points they stand for) of a peer request."""
    peer_settings = {
        "device": str(device),
        "dtype": s.dtype,
        "warmup": s.warmup,
        "repeats": s.repeats,
        "min_repeats": s.min_repeats,
        "max_time_per_point_s": s.max_time_per_point_s,
        "max_call_s": s.max_call_s,
        "time_budget_s": share * len(s.peer_models) * len(compile_modes) if share else None,
        "compile_modes": compile_modes,
        "seed": s.seed,
        "threads": torch.get_num_threads() if device.type == "cpu" else None,
    }
    # Peers are timed in md, batch and large; their runners take no training step.
    kept = [p for p in points if p.regime != "train"]
    headers = [({"regime": p.regime, "system": p.system, "n_atoms": p.n_atoms, "n_molecules": p.n_molecules}, p.structures)
               for p in kept]
    return peer_settings, headers, kept


def _run_peer(s: SpeedSettings, python: str, runner: Path, points: list[Point], device: torch.device,
              compile_modes: list[bool], share: float | None, base: dict) -> tuple[list[dict], dict]:
    """Every point of one peer, timed by its runner after our models (protocol step 3)."""
    from .peers import peer_records, run_peer, write_request

    peer_settings, headers, _ = _peer_request(s, points, device, compile_modes, share)
    with tempfile.TemporaryDirectory(prefix="ff-bench-peer-") as tmp:
        request_path = write_request(tmp, headers, peer_settings, s.peer_models)
        request = json.loads(request_path.read_text(encoding="utf-8"))
        # Generous: the runner enforces the budget itself; this only catches a hung runner.
        timeout = 3 * peer_settings["time_budget_s"] + 600 if peer_settings["time_budget_s"] else None
        out = run_peer(python, request_path, runner, timeout_s=timeout)
    records = peer_records(out, request, base)
    info = dict(out["peer"], models=s.peer_models, runner=runner.name, python=interpreter_name(python))
    return records, info


@contextmanager
def _serve_peer(s: SpeedSettings, python: str, runner: Path, points: list[Point], device: torch.device,
                compile_modes: list[bool], share: float | None):
    """A peer's runner in serve mode for a side-by-side run: yields (server, id(point) -> request point number)."""
    from .peers import PeerServer, write_request

    peer_settings, headers, kept = _peer_request(s, points, device, compile_modes, share)
    with tempfile.TemporaryDirectory(prefix="ff-bench-peer-") as tmp:
        request_path = write_request(tmp, headers, peer_settings, s.peer_models)
        with PeerServer(python, request_path, runner) as server:
            yield server, {id(p): k for k, p in enumerate(kept)}
