"""The trainer factory and :func:`train`, the whole run in one call.

:func:`build_trainer` makes a ``lightning.Trainer`` the way this project needs
it: ``inference_mode=False`` (conservative forces are gradients, so validation
and testing need autograd), checkpoints of the last and the best epoch (by
validation force MAE), optional early stopping, gradient clipping, CSV and
TensorBoard logs, a progress bar, and float64 precision on request.

:func:`train` builds the data module, the model (with the training data
statistics) and the :class:`ForceFieldModule`, fits, tests with the evaluation
(EMA) weights, writes ``metrics.json`` and exports the model to ``<out>/model``.

Run folder layout::

    <out>/config.yaml           the resolved TrainConfig
    <out>/checkpoints/          last.ckpt, best.ckpt (Lightning, for --resume)
    <out>/logs/version_*/       CSV metrics (+ hparams.yaml)
    <out>/tensorboard/version_*/
    <out>/metrics.json          test metrics (meV, meV/Å), time per epoch, parameters
    <out>/model/                config.json + model.safetensors (evaluation weights)
"""

from __future__ import annotations

import inspect
import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import EarlyStopping, LearningRateMonitor, ModelCheckpoint, RichProgressBar
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.utilities import rank_zero_only

from ..models import create_model, get_variant
from .callbacks import EpochTimer
from .config import TrainConfig, save_config
from .export import export_model
from .metrics import METRIC_UNITS, errors_of
from .module import MONITOR, ForceFieldModule
from .report import print_summary

__all__ = ["build_trainer", "build_module", "train", "TrainResult", "resolve_resume", "initialise_from"]


def build_trainer(
    config: TrainConfig | None = None,
    out_dir: str | Path | None = None,
    *,
    checkpoints: bool = True,
    loggers: bool = True,
    callbacks: list[L.Callback] | None = None,
    **trainer_kwargs: Any,
) -> L.Trainer:
    """A Lightning Trainer set up for force-field training.

    Parameters
    ----------
    config : TrainConfig, optional (defaults when omitted)
    out_dir : run folder for checkpoints and logs (default ``config.out`` or ``runs/<model>``)
    checkpoints : add ModelCheckpoint (``last.ckpt`` and ``best.ckpt`` on val force MAE)
    loggers : add CSV and TensorBoard loggers
    callbacks : extra callbacks
    **trainer_kwargs : passed to ``lightning.Trainer``, overriding the config
        (``inference_mode`` must stay False)

    Returns
    -------
    lightning.Trainer, with an :class:`EpochTimer` among its callbacks.
    """
    cfg = config or TrainConfig()
    out = Path(out_dir or cfg.out or Path("runs") / cfg.model)
    if trainer_kwargs.get("inference_mode", False):
        raise ValueError(
            "inference_mode=True breaks conservative forces in validation and testing; leave it False."
        )
    trainer_kwargs.pop("inference_mode", None)
    cbs: list[L.Callback] = [EpochTimer()]
    if checkpoints:
        cbs.append(
            ModelCheckpoint(
                dirpath=out / "checkpoints",
                filename="best",
                monitor=MONITOR,
                mode="min",
                save_top_k=1,
                save_last=True,
                auto_insert_metric_name=False,
            )
        )
    if cfg.early_stopping_patience:
        cbs.append(EarlyStopping(monitor=MONITOR, mode="min", patience=cfg.early_stopping_patience))
    logger: Any = False
    if loggers:
        logger = [CSVLogger(out, name="logs")]
        try:
            from lightning.pytorch.loggers import TensorBoardLogger

            logger.append(TensorBoardLogger(out, name="tensorboard", default_hp_metric=False))
        except ModuleNotFoundError:  # tensorboard missing: CSV only
            pass
        cbs.append(LearningRateMonitor(logging_interval="step"))
    if cfg.progress_bar and trainer_kwargs.get("enable_progress_bar", True):
        cbs.append(RichProgressBar())
    cbs.extend(callbacks or [])
    options: dict[str, Any] = dict(
        default_root_dir=out,
        max_epochs=cfg.max_epochs,
        max_steps=cfg.max_steps,
        max_time=cfg.max_time,
        accelerator=cfg.accelerator,
        devices=cfg.devices,
        strategy=cfg.strategy,
        precision="64-true" if cfg.dtype == "float64" else "32-true",
        gradient_clip_val=cfg.gradient_clip,
        log_every_n_steps=cfg.log_every_n_steps,
        enable_progress_bar=cfg.progress_bar,
        callbacks=cbs,
        logger=logger,
        enable_checkpointing=checkpoints,
    )
    options.update(trainer_kwargs)
    return L.Trainer(inference_mode=False, **options)


def build_module(config: TrainConfig, model: torch.nn.Module, statistics: Any = None) -> ForceFieldModule:
    """The :class:`ForceFieldModule` a config asks for, wrapping ``model``."""
    lr = config.lr if config.lr is not None else get_variant(config.model).lr
    return ForceFieldModule(
        model,
        loss=config.loss,
        energy_weight=config.energy_weight,
        forces_weight=config.forces_weight,
        huber_delta=config.huber_delta,
        optimizer=config.optimizer,
        lr=lr,
        weight_decay=config.weight_decay,
        schedule=config.schedule,
        warmup_steps=config.warmup_steps,
        min_lr=config.min_lr,
        plateau_factor=config.plateau_factor,
        plateau_patience=config.plateau_patience,
        ema_decay=config.ema_decay,
        augment_rotations=config.augment_rotations,
        symmetry_rotations=config.symmetry_loss,
        symmetry_weight=config.symmetry_weight,
        statistics=statistics.to_dict() if hasattr(statistics, "to_dict") else statistics,
    )


def resolve_resume(resume: str | None, out_dir: str | Path) -> str | None:
    """``None``, ``"last"`` (``<out>/checkpoints/last.ckpt``) or a checkpoint path -> path."""
    if not resume:
        return None
    path = Path(out_dir) / "checkpoints" / "last.ckpt" if resume == "last" else Path(resume)
    if not path.is_file():
        raise FileNotFoundError(
            f"cannot resume: checkpoint {path} does not exist; give an existing .ckpt, or 'last' "
            "with the --out folder of the run to continue."
        )
    return str(path)


def _make_datamodule(config: TrainConfig, cutoff: float):
    from ..data.datamodule import MolecularDataModule

    wanted: dict[str, Any] = dict(
        sources=list(config.data),
        root=config.root,
        cutoff=cutoff,
        split=config.split,
        batch_size=config.batch_size,
        num_workers=config.num_workers,
        seed=config.seed,
        dtype=config.dtype,
        max_force=config.max_force,
    )
    accepted = inspect.signature(MolecularDataModule).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values())
    # None means "the data module's default"; settings it does not know are left out.
    kwargs = {k: v for k, v in wanted.items() if v is not None and (takes_any or k in accepted)}
    return MolecularDataModule(**kwargs)


@dataclass
class TrainResult:
    """What :func:`train` returns.

    Attributes
    ----------
    metrics : dict, the content of ``metrics.json`` (test metrics in meV, meV/Å)
    out_dir : Path, the run folder
    model_dir : Path or None, the exported model (None on non-zero ranks)
    module : ForceFieldModule; trainer : lightning.Trainer
    """

    metrics: dict[str, Any]
    out_dir: Path
    model_dir: Path | None
    module: ForceFieldModule
    trainer: L.Trainer


def _has_loader(datamodule: Any, stage: str) -> bool:
    method = getattr(datamodule, f"{stage}_dataloader", None)
    if method is None:
        return False
    try:
        loader = method()
    except (NotImplementedError, ValueError, KeyError):
        return False
    try:
        return loader is not None and len(loader) > 0
    except TypeError:
        return loader is not None


def initialise_from(model: torch.nn.Module, source: str) -> None:
    """Copy the parameters of a saved model into ``model``, switching its force mode if needed.

    Only parameters are copied: ``model`` keeps the reference energies and
    energy scale of its own training data. With a direct-force checkpoint and
    a conservative ``model`` this is the second stage of eSEN's recipe.

    Parameters
    ----------
    model : ForceField, built for this run (its variant, overrides and statistics)
    source : pretrained name or checkpoint folder
    """
    from ..zoo import load

    parent = load(source)
    if parent.family != model.family:
        raise ValueError(
            f"--init-from {source} is a {parent.family} model but this run trains a {model.family} model; "
            "pass a checkpoint of the same variant."
        )
    if parent.config.force_mode != model.config.force_mode:
        parent = parent.with_force_mode(model.config.force_mode)
    own = dict(model.named_parameters())
    theirs = dict(parent.named_parameters())
    if set(own) != set(theirs) or any(own[k].shape != theirs[k].shape for k in own):
        raise ValueError(
            f"--init-from {source}: its parameters do not fit this run's {model.family} network "
            "(a different size or different model arguments); use the checkpoint's own variant and --model-arg values."
        )
    with torch.no_grad():
        for k, p in own.items():
            p.copy_(theirs[k].to(dtype=p.dtype, device=p.device))


def train(config: TrainConfig | dict | None = None, *, verbose: bool = True, **overrides: Any) -> TrainResult:
    """Train a model end to end: data, model, fit, test, metrics, export.

    Parameters
    ----------
    config : TrainConfig or dict, optional; keyword ``overrides`` update it
        (e.g. ``train(model="egnn-s", data=["rmd17:aspirin"], max_epochs=5)``)
    verbose : print the summary table at the end

    Returns
    -------
    TrainResult
    """
    if isinstance(config, dict):
        config = TrainConfig.from_dict(config)
    cfg = (config or TrainConfig()).updated(**overrides) if overrides else (config or TrainConfig())
    cfg.validate()
    out = Path(cfg.out or Path("runs") / cfg.model)
    ckpt_path = resolve_resume(cfg.resume, out)
    L.seed_everything(cfg.seed, workers=True, verbose=False)

    variant = get_variant(cfg.model)
    model_overrides = dict(cfg.model_args)
    if cfg.force_mode is not None:
        model_overrides["force_mode"] = cfg.force_mode
    if cfg.cutoff is not None:
        model_overrides["cutoff"] = float(cfg.cutoff)
    cutoff = float(variant.build_config(**model_overrides).cutoff)
    # Record what the defaults resolved to, so config.yaml reproduces the run.
    cfg = cfg.updated(lr=cfg.lr if cfg.lr is not None else variant.lr, cutoff=cutoff)

    datamodule = _make_datamodule(cfg, cutoff)
    datamodule.prepare_data()
    datamodule.setup("fit")
    statistics = datamodule.statistics
    model = create_model(cfg.model, statistics=statistics, dtype=cfg.dtype, seed=cfg.seed, **model_overrides)
    if cfg.init_from and ckpt_path is None:  # a resumed run restores its own weights
        initialise_from(model, cfg.init_from)
    module = build_module(cfg, model, statistics)
    trainer = build_trainer(cfg, out)
    if rank_zero_only.rank == 0:  # known from the environment before DDP starts
        save_config(cfg, out / "config.yaml")

    with warnings.catch_warnings():
        # Molecule batches are Batch objects; Lightning cannot infer their size and says so.
        warnings.filterwarnings("ignore", message=".*Trying to infer the `batch_size`.*")
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)
        test: dict[str, float] = {}
        if _has_loader(datamodule, "test"):
            if trainer.world_size == 1:
                results = trainer.test(module, datamodule=datamodule, verbose=False)
                test = {k.split("/", 1)[1]: float(v) for k, v in (results[0] if results else {}).items()}
            elif trainer.is_global_zero:
                # A DistributedSampler pads the test set with repeated frames; test exactly, in one process.
                test = errors_of(module.evaluation_model(), datamodule.test_dataloader(), device=module.device)

    timer = next(cb for cb in trainer.callbacks if isinstance(cb, EpochTimer))
    checkpoint = trainer.checkpoint_callback
    best = getattr(checkpoint, "best_model_score", None)
    metrics: dict[str, Any] = {
        "model": cfg.model,
        "family": model.family,
        "data": list(cfg.data),
        "num_parameters": model.num_parameters(),
        "epochs": int(trainer.current_epoch),
        "steps": int(trainer.global_step),
        "seconds_per_epoch": timer.seconds_per_epoch,
        "best_val_forces_mae": float(best) if best is not None else None,
        "test": test,
        "units": {**METRIC_UNITS, "seconds_per_epoch": "s"},
        "lr": module.hparams.lr,
    }
    model_dir = None
    if trainer.is_global_zero:
        out.mkdir(parents=True, exist_ok=True)
        with open(out / "metrics.json", "w", encoding="utf-8") as f:
            json.dump(metrics, f, indent=2, ensure_ascii=False)
            f.write("\n")
        model_dir = export_model(
            module.evaluation_model(),
            out / "model",
            metadata={
                "name": cfg.model,
                "statistics": statistics.to_dict() if hasattr(statistics, "to_dict") else statistics,
                "metrics": test,
                "training": cfg.to_dict(),
            },
        )
        if verbose:
            print_summary(metrics)
            print(f"run folder: {out}{os.sep}  (model exported to {model_dir})")
    return TrainResult(metrics=metrics, out_dir=out, model_dir=model_dir, module=module, trainer=trainer)
