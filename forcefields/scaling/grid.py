"""The run grid: families × widths, each an independent, resumable Lightning job.

    runs = plan_grid(["mpnn", "egnn", "esen-l2"], ["xs", "s", "m", "l"])
    run_grid("runs/scaling", ScalingSettings(data=["rmd17:aspirin"], root=..., max_structures=950), runs)

A family is a registered variant prefix (``mpnn``, ``egnn``, ``esen-l2``,
``esen-l4``, ...; ``forcefields list``) and a width one of its sizes, so run
``<family>-<size>`` trains the registered variant of that name with its
transferred learning rate (η(w) = η*·w_base/w). Each run lives in
``<out>/<family>-<size>/`` (see :mod:`.results`): a complete run is skipped,
a started one resumes from its last checkpoint, one that another live process
holds is left alone, so several processes (or cluster jobs, see
:mod:`.export`) can work through one grid side by side.

Training reuses the project's pieces: :func:`~forcefields.training.build_module`
and :func:`~forcefields.training.build_trainer` from a
:class:`~forcefields.training.TrainConfig`; the only additions are the
data stream cut at the evaluation points (:mod:`.stream`), the curve recorder
(:mod:`.curve`) and the FLOP count (:mod:`.flops`).
"""

from __future__ import annotations

import json
import math
import os
import socket
import time
import traceback
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import lightning as L

from ..models import create_model, get_variant, list_models
from ..models.registry import SIZES
from .curve import CurveRecorder, read_curve
from .errors import ScalingError
from .flops import measure_training_cost
from .results import lock_is_live, read_json, run_state, write_json
from .settings import ScalingSettings, compare_settings
from .stream import StreamDataModule

__all__ = ["RunSpec", "plan_grid", "prepare_grid", "run_one", "run_grid", "split_names"]


@dataclass(frozen=True)
class RunSpec:
    """One run of the grid.

    Attributes
    ----------
    family : variant prefix, e.g. ``"egnn"`` or ``"esen-l2"``
    size : one of the registry's sizes (``xs, s, m, l, xl``)
    """

    family: str
    size: str

    @property
    def name(self) -> str:
        """The registered variant and the run folder's name, e.g. ``"egnn-m"``."""
        return f"{self.family}-{self.size}"

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "family": self.family, "size": self.size}


def split_names(text: str | Sequence[str] | None) -> list[str]:
    """``"a,b"`` or ``["a", "b,c"]`` -> ``["a", "b", "c"]``."""
    if text is None:
        return []
    items = [text] if isinstance(text, str) else list(text)
    return [part.strip() for item in items for part in str(item).split(",") if part.strip()]


def _known_families() -> list[str]:
    return sorted({name.rsplit("-", 1)[0] for name in list_models()})


def plan_grid(families: Sequence[str], widths: Sequence[str]) -> list[RunSpec]:
    """The runs of a grid, checked against the registry.

    Raises
    ------
    ScalingError naming an unknown family or size, or a missing variant.
    """
    if not families:
        raise ScalingError("no families given; pass --families, e.g. --families mpnn,egnn,esen-l2.")
    if not widths:
        raise ScalingError(f"no widths given; pass --widths, e.g. --widths {','.join(SIZES[:4])}.")
    known = _known_families()
    runs = []
    for family in families:
        if family not in known:
            raise ScalingError(f"unknown family {family!r}; known families: {', '.join(known)} (`forcefields list`).")
        for size in widths:
            if size not in SIZES:
                raise ScalingError(f"unknown width {size!r}; use sizes among {', '.join(SIZES)}.")
            try:
                get_variant(f"{family}-{size}")
            except KeyError:
                raise ScalingError(f"{family}-{size} is not a registered variant; `forcefields list` shows them.") from None
            runs.append(RunSpec(family, size))
    return runs


def prepare_grid(out: str | Path, settings: ScalingSettings, runs: Sequence[RunSpec]) -> dict[str, Any]:
    """Create or extend ``<out>/grid.json``; refuse settings different from an existing grid's."""
    settings.validate()
    out = Path(out)
    grid = read_json(out / "grid.json")
    protocol = settings.protocol()
    if grid is not None:
        diff = compare_settings(grid.get("settings", {}), protocol)
        if diff:
            raise ScalingError(
                f"{out} holds a grid made with different settings ({'; '.join(diff)}); "
                "use another --out folder or the grid's own settings."
            )
        planned = {r["name"]: r for r in grid.get("runs", [])}
    else:
        planned = {}
    for spec in runs:
        planned.setdefault(spec.name, spec.to_dict())
    grid = {
        "settings": protocol,
        "execution": {k: v for k, v in settings.to_dict().items() if k not in protocol},
        "eval_points": settings.eval_points(),
        "runs": list(planned.values()),
    }
    write_json(out / "grid.json", grid)
    return grid


# ---------------------------------------------------------------- one run
class _Lock:
    """``running.json`` in a run folder: claimed exclusively, refreshed at every evaluation."""

    def __init__(self, folder: Path):
        self.path = folder / "running.json"
        self.held = False

    def _record(self) -> dict[str, Any]:
        return {"host": socket.gethostname(), "pid": os.getpid(), "heartbeat": time.time()}

    def acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        existing = read_json(self.path)
        if existing is not None and lock_is_live(existing):
            return False
        if existing is not None or self.path.exists():
            self.path.unlink(missing_ok=True)  # a dead process's lock
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:  # another process claimed it first
            return False
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(self._record(), f)
        self.held = True
        return True

    def beat(self) -> None:
        if self.held:
            write_json(self.path, self._record())

    def release(self) -> None:
        if self.held:
            self.path.unlink(missing_ok=True)
            self.held = False


def _train_config(spec: RunSpec, settings: ScalingSettings, folder: Path, lr: float, cutoff: float, chunks: int):
    from ..training import TrainConfig

    return TrainConfig(
        model=spec.name,
        data=list(settings.data),
        root=settings.root,
        split=settings.split,
        cutoff=cutoff,
        model_args=dict(settings.model_args),
        force_mode=settings.force_mode,
        dtype=settings.dtype,
        max_epochs=chunks,  # one Lightning epoch per chunk of the single pass
        batch_size=settings.batch_size,
        num_workers=settings.num_workers,
        lr=lr,
        loss=settings.loss,
        energy_weight=settings.energy_weight,
        forces_weight=settings.forces_weight,
        optimizer=settings.optimizer,
        weight_decay=settings.weight_decay,
        schedule="constant",  # evaluations along one run are valid only without a length-tied schedule
        warmup_steps=settings.warmup_steps,
        ema_decay=settings.ema_decay,
        gradient_clip=settings.gradient_clip,
        accelerator=settings.accelerator,
        devices=settings.devices,
        strategy=settings.strategy,
        out=str(folder),
        seed=settings.seed,
        progress_bar=settings.progress_bar,
        log_every_n_steps=10,
    )


def _datamodule(settings: ScalingSettings, cutoff: float, points: list[int], verbose: bool) -> StreamDataModule:
    from ..data.datamodule import MolecularDataModule

    inner = MolecularDataModule(
        sources=list(settings.data),
        root=settings.root,
        cutoff=cutoff,
        split=settings.split,
        batch_size=settings.batch_size,
        dtype=settings.dtype,
        num_workers=settings.num_workers,
        seed=settings.seed,
        verbose=verbose,
    )
    return StreamDataModule(inner, points, seed=settings.seed, label=",".join(settings.data))


def _device_name(trainer: L.Trainer) -> str:
    import platform

    import torch

    device = trainer.strategy.root_device
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def run_one(
    spec: RunSpec,
    settings: ScalingSettings,
    out: str | Path,
    *,
    callbacks: Iterable[L.Callback] = (),
    verbose: bool = True,
) -> str:
    """Train (or resume, or skip) one run of the grid.

    Parameters
    ----------
    spec : the run
    settings : the grid's settings
    out : the grid folder; the run lives in ``<out>/<spec.name>``
    callbacks : extra Lightning callbacks (tests use one to stop a run part-way)
    verbose : print progress lines

    Returns
    -------
    The run's state afterwards: ``"complete"``, ``"diverged"``, ``"partial"``
    (stopped before its end), ``"running"`` (held by another live process: skipped).
    """
    from ..training import build_module, build_trainer

    settings.validate()
    folder = Path(out) / spec.name
    state = run_state(folder)
    if state in ("complete", "diverged"):
        if verbose:
            print(f"{spec.name}: {state}, skipped")
        return state
    lock = _Lock(folder)
    if not lock.acquire():
        if verbose:
            print(f"{spec.name}: held by another live process ({folder / 'running.json'}), skipped")
        return "running"
    try:
        (folder / "error.txt").unlink(missing_ok=True)
        return _train(spec, settings, folder, lock, list(callbacks), verbose, build_module, build_trainer)
    except BaseException as err:
        if not isinstance(err, KeyboardInterrupt):
            (folder / "error.txt").write_text(
                f"{type(err).__name__}: {err}\n\n{traceback.format_exc()}", encoding="utf-8"
            )
        raise
    finally:
        lock.release()


def _train(spec, settings, folder: Path, lock: _Lock, callbacks, verbose, build_module, build_trainer) -> str:
    protocol = settings.protocol()
    previous = read_json(folder / "settings.json")
    if previous is not None:
        diff = compare_settings(previous.get("grid", {}), protocol)
        if diff:
            raise ScalingError(
                f"{folder} was started with different settings ({'; '.join(diff)}); "
                "use another --out folder, or delete the run folder to restart it."
            )
    variant = get_variant(spec.name)
    overrides = {**settings.model_args, "force_mode": settings.force_mode}
    cutoff = float(variant.build_config(**overrides).cutoff)
    points = settings.eval_points()
    lr = variant.lr * settings.lr_scale
    cfg = _train_config(spec, settings, folder, lr, cutoff, len(points))

    L.seed_everything(settings.seed, workers=True, verbose=False)
    stream = _datamodule(settings, cutoff, points, verbose)
    stream.prepare_data()
    stream.setup("fit")
    model = create_model(spec.name, statistics=stream.statistics, dtype=settings.dtype, seed=settings.seed, **overrides)
    module = build_module(cfg, model, stream.statistics)
    config = model.config
    run_info = {
        "name": spec.name,
        "family": spec.family,
        "size": spec.size,
        "model_family": model.family,
        "width": int(getattr(config, "hidden", 0)),
        "num_layers": int(getattr(config, "num_layers", 0)),
        "lr": lr,
        "lr_rule": "registry η(w) = η*·w_base/w, times lr_scale",
        "num_parameters": int(model.num_parameters()),
        "cutoff": cutoff,
        "elements": list(config.elements),
        "eval_points": points,
        "train_structures_available": len(stream.inner.train_dataset),
        "schedule": cfg.schedule,
        "evaluation_weights": "ema" if settings.ema_decay is not None else (
            "schedule-free averaged x" if settings.optimizer == "schedulefree" else "current"),
        "loss_weights": [module.loss_fn.energy_weight, module.loss_fn.forces_weight],
    }
    write_json(folder / "settings.json", {"grid": protocol, "run": run_info})

    flops = read_json(folder / "flops.json")
    if flops is None:
        flops = measure_training_cost(model, module.loss_fn, stream.first_batches(settings.flop_batches))
        flops["measured_on"] = "cpu"
        write_json(folder / "flops.json", flops)

    recorder = CurveRecorder(folder / "curve.jsonl", points, flops["flops_per_structure"], heartbeat=lock.beat)
    from lightning.pytorch.callbacks import ModelCheckpoint
    from lightning.pytorch.loggers import CSVLogger

    # The newest chunk's end only, overwritten in place: checkpoints/last.ckpt.
    checkpoint = ModelCheckpoint(
        dirpath=folder / "checkpoints", filename="last", monitor=None, save_top_k=1,
        save_on_train_epoch_end=False, enable_version_counter=False,
    )
    val_batches = max(1, math.ceil(settings.val_structures / settings.batch_size))
    trainer = build_trainer(
        cfg,
        folder,
        checkpoints=False,
        loggers=False,
        callbacks=[recorder, checkpoint, *callbacks],
        enable_checkpointing=True,
        logger=CSVLogger(folder, name="logs"),
        reload_dataloaders_every_n_epochs=1,
        num_sanity_val_steps=0,
        enable_model_summary=verbose,
        limit_val_batches=val_batches,
    )
    last = folder / "checkpoints" / "last.ckpt"
    resume = str(last) if last.is_file() else None
    if verbose:
        what = f"resuming from {last}" if resume else "starting"
        print(f"{spec.name}: {what}; {model.num_parameters():,} parameters, lr {lr:.3g}, "
              f"{points[-1]:,} structures, {len(points)} evaluations")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*Trying to infer the `batch_size`.*")
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        warnings.filterwarnings("ignore", message=".*Checkpoint directory .* exists and is not empty.*")
        warnings.filterwarnings("ignore", message=".*smaller than the logging interval.*")
        warnings.filterwarnings("ignore", message=".*LeafSpec.*")
        trainer.fit(module, datamodule=stream, ckpt_path=resume)

    curve = read_curve(folder / "curve.jsonl")
    seen = int(curve[-1]["structures"]) if curve else 0
    if recorder.diverged:
        status = "diverged"
    elif seen >= points[-1]:
        status = "complete"
    else:
        return "partial"
    if not trainer.is_global_zero:
        return status
    seconds = recorder.train_seconds + recorder.eval_seconds
    summary = {
        "status": status,
        "reason": recorder.diverged,
        "name": spec.name,
        "family": spec.family,
        "size": spec.size,
        "num_parameters": run_info["num_parameters"],
        "lr": lr,
        "structures_seen": seen,
        "flops_per_structure": flops["flops_per_structure"],
        "flops_total": flops["flops_per_structure"] * seen,
        "kappa": flops["kappa"],
        "kappa_paper": flops["kappa_paper"],
        "train_seconds": recorder.train_seconds,
        "eval_seconds": recorder.eval_seconds,
        "device": _device_name(trainer),
        "devices": int(trainer.world_size),
        "device_hours": seconds * trainer.world_size / 3600.0,
        "final": curve[-1] if curve else None,
        "units": {"val_loss": "loss units (eV/atom + eV/Å for l1norm)", "val_forces_mae": "meV/Å",
                  "val_energy_mae": "meV", "flops": "FLOP", "seconds": "s"},
    }
    write_json(folder / "summary.json", summary)
    if verbose:
        print(f"{spec.name}: {status} after {seen:,} structures, {seconds:.1f} s")
    return status


def run_grid(
    out: str | Path,
    settings: ScalingSettings,
    runs: Sequence[RunSpec],
    *,
    only: Sequence[str] | None = None,
    callbacks: Iterable[L.Callback] = (),
    verbose: bool = True,
) -> dict[str, str]:
    """Run (or resume, or skip) every run of a grid, one after the other.

    Parameters
    ----------
    out : the grid folder
    settings : shared settings (written to ``grid.json``)
    runs : the planned runs (:func:`plan_grid`)
    only : run names to work on (default all); others stay as they are

    Returns
    -------
    dict run name -> state afterwards (see :func:`run_one`).
    """
    prepare_grid(out, settings, runs)
    chosen = list(runs)
    if only:
        names = {r.name for r in runs}
        unknown = [n for n in only if n not in names]
        if unknown:
            raise ScalingError(f"--only names {', '.join(unknown)}, not in this grid ({', '.join(sorted(names))}).")
        chosen = [r for r in runs if r.name in set(only)]
    return {spec.name: run_one(spec, settings, out, callbacks=callbacks, verbose=verbose) for spec in chosen}
