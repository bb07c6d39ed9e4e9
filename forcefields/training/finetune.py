"""Fine-tune a pretrained force field on new molecules.

    >>> import forcefields
    >>> model, metrics = forcefields.finetune(
    ...     "egnn-m.rmd17-all", "my_molecule.extxyz", out="my-egnn",
    ...     energy_key="REF_energy", forces_key="REF_forces", max_epochs=200)   # doctest: +SKIP
    >>> forcefields.load("my-egnn")                                           # doctest: +SKIP

What happens, in order:

1. the parent (a pretrained name, a checkpoint folder or a ForceField) is
   loaded; its files are only read, never written;
2. the new data is read and checked (its energy and force keys, its declared
   unit, enough frames for a validation split, elements the parent knows;
   unknown ones are refused or, with ``new_elements="extend"``, added to the
   element embedding) and split into training / validation (/ test) frames;
3. the parent's error on the evaluation frames (test split when there is one,
   else validation) is measured;
4. the reference energies E0 are refitted on the training frames, kept, or
   taken from the user (:mod:`.finetune_energies`); with the refit, E0 is
   re-centred once more after training (least squares for the final network);
5. the input stage and the first k interaction blocks, or the whole backbone,
   are frozen (:mod:`.freeze`); the backbone may learn at a lower rate than
   the readout; a fraction of the parent's training data may be replayed;
6. training with early stopping on the validation force MAE; the best
   evaluation (EMA) weights are kept;
7. the fine-tuned model's error on the same frames is measured, a table of
   before/after errors is printed, and the model is saved as a zoo checkpoint
   whose card records the parent (name, weights sha256), the data (file
   sha256, frames), the recipe and the metrics.
"""

from __future__ import annotations

import copy
import hashlib
import os
import re
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import lightning as L
import numpy as np
import torch

from ..models import ForceField
from .finetune_data import (
    FinetuneDataModule,
    check_declared_units,
    check_split_size,
    data_fingerprint,
    parse_split,
    replay_count,
    source_spec,
)
from .finetune_elements import element_names, element_tables, extend_elements, freeze_rows, refuse_unseen, unseen_elements
from .finetune_energies import REFERENCE_MODES, atomic_energies_of, parse_e0, reference_energies, set_atomic_energies
from .freeze import count_parameters, freeze, parameter_groups, parse_freeze
from .metrics import errors_of
from .module import MONITOR, ForceFieldModule
from .optim import build_optimizer
from .schedules import lightning_schedulers

__all__ = ["finetune", "FinetuneResult", "FinetuneModule", "KeepBestWeights", "NEW_ELEMENTS"]

NEW_ELEMENTS = ("refuse", "extend")


# --------------------------------------------------------------------- module
class FinetuneModule(ForceFieldModule):
    """:class:`ForceFieldModule` whose optimiser has a readout and a backbone parameter group.

    Parameters
    ----------
    model : ForceField (frozen parameters, ``requires_grad=False``, are left out of the optimiser)
    backbone_lr_factor : the backbone learns at ``lr * backbone_lr_factor``
    no_decay : parameter names kept out of weight decay (partly frozen embeddings)
    **kwargs : everything :class:`ForceFieldModule` takes
    """

    def __init__(self, model: ForceField, backbone_lr_factor: float = 1.0, no_decay: Sequence[str] = (), **kwargs: Any):
        super().__init__(model, **kwargs)
        self.backbone_lr_factor = float(backbone_lr_factor)
        self.no_decay = sorted(no_decay)
        parameter_groups(model, 1.0, self.backbone_lr_factor, set(self.no_decay))  # fail early on a bad setting

    def configure_optimizers(self):
        hp = self.hparams
        groups = parameter_groups(self.model, hp.lr, self.backbone_lr_factor, set(self.no_decay))
        optimizer = build_optimizer(
            hp.optimizer, groups, lr=hp.lr, weight_decay=hp.weight_decay,
            betas=tuple(hp.betas), warmup_steps=hp.warmup_steps,
        )
        if hp.optimizer == "schedulefree":
            return optimizer
        total = int(self.trainer.estimated_stepping_batches) if hp.schedule == "cosine" else 0
        schedulers = lightning_schedulers(
            optimizer, hp.schedule, warmup_steps=hp.warmup_steps, total_steps=total, monitor=MONITOR,
            lr=hp.lr, min_lr=hp.min_lr, plateau_factor=hp.plateau_factor, plateau_patience=hp.plateau_patience,
        )
        return ([optimizer], schedulers) if schedulers else optimizer


class KeepBestWeights(L.Callback):
    """Remember the evaluation weights of the epoch with the lowest validation force MAE."""

    def __init__(self, monitor: str = MONITOR):
        self.monitor = monitor
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.weights: dict[str, torch.Tensor] | None = None

    def on_validation_end(self, trainer: L.Trainer, pl_module: ForceFieldModule) -> None:
        if trainer.sanity_checking or self.monitor not in trainer.callback_metrics:
            return
        value = float(trainer.callback_metrics[self.monitor])
        if np.isfinite(value) and (self.best is None or value < self.best):
            self.best, self.best_epoch = value, int(trainer.current_epoch)
            self.weights = {k: v.detach().clone() for k, v in pl_module.evaluation_weights().items()}


# --------------------------------------------------------------------- result
@dataclass
class FinetuneResult:
    """What :func:`finetune` returns; unpacks as ``model, metrics = finetune(...)``.

    Attributes
    ----------
    model : the fine-tuned ForceField (eval mode, best evaluation weights)
    metrics : dict, errors before and after (meV, meV/Å), frames, epochs, E0, ...
    path : the saved checkpoint folder, or None when ``out`` was not given
    name : the checkpoint name, ``<variant>.<tag>``
    parent : dict, name, weights sha256 and folder of the parent
    trainer : the Lightning Trainer that ran
    """

    model: ForceField
    metrics: dict[str, Any]
    path: Path | None
    name: str
    parent: dict[str, Any]
    trainer: L.Trainer | None = field(default=None, repr=False)

    def __iter__(self) -> Iterator[Any]:
        yield self.model
        yield self.metrics


# --------------------------------------------------------------------- helpers
def _state_sha256(model: torch.nn.Module) -> str:
    from safetensors.torch import save

    state = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
    return hashlib.sha256(save(state)).hexdigest()


def _resolve_parent(parent: Any) -> tuple[ForceField, dict[str, Any]]:
    """The parent model (a private copy) and what the card records about it."""
    if isinstance(parent, ForceField):
        return copy.deepcopy(parent), {
            "name": f"{parent.family} model (in memory)",
            "weights_sha256": _state_sha256(parent),
            "path": None,
            "variant": None,
            "training": {},
        }
    if not isinstance(parent, (str, os.PathLike)):
        raise TypeError(f"parent must be a pretrained name, a checkpoint folder or a ForceField; got {type(parent).__name__}.")
    from ..zoo import load
    from ..zoo.format import read_config
    from ..zoo.resolve import locate

    folder, _ = locate(parent)
    config = read_config(folder)
    model = load(parent)
    return model, {
        "name": config.get("name") or folder.name,
        "weights_sha256": config["weights"]["sha256"],
        "path": str(Path(folder).resolve()),
        "variant": config.get("variant"),
        "training": config.get("training") or {},
    }


def _variant_and_lr(parent_info: dict[str, Any], model: ForceField) -> tuple[str, float]:
    """The parent's registry variant and its learning rate (width-transfer rule).

    An in-memory parent is matched to the registered variant of its family
    and width; one that matches none is ``<family>-custom`` with the rate its
    card records, else 1e-3.
    """
    from ..models import get_variant, list_models
    from ..zoo.format import split_name

    variant = parent_info.get("variant") or (split_name(parent_info["name"])[0] if parent_info["path"] else None)
    if variant is None:
        for candidate in list_models(model.family):
            v = get_variant(candidate)
            if all(getattr(model.config, k, None) == val for k, val in v.config.items()):
                variant = candidate
                break
    if variant is not None:
        try:
            return variant, float(get_variant(variant).lr)
        except KeyError:
            pass
    recorded = (parent_info.get("training") or {}).get("lr")
    return variant or f"{model.family}-custom", float(recorded or 1e-3)


def _as_list(data: Any) -> list[Any]:
    return list(data) if isinstance(data, (list, tuple)) else [data]


def _label(source: Any) -> str:
    if isinstance(source, dict):
        return str(source.get("path") or source.get("source"))
    return str(source)


def _slug(text: str) -> str:
    stem = Path(text).stem if ("/" in text or "." in Path(text).name) and ":" not in text else text
    return re.sub(r"[^A-Za-z0-9_-]+", "-", stem).strip("-").lower() or "data"


def _check_out(out: Path, parent_path: str | None) -> None:
    out = out.expanduser().resolve()
    if parent_path is not None:
        parent = Path(parent_path)
        if out == parent or parent in out.parents:
            raise ValueError(
                f"out={out} is the parent checkpoint's folder (or inside it); choose another folder so the "
                "parent stays untouched."
            )
    if out.exists():
        if not out.is_dir():
            raise ValueError(f"out={out} exists and is not a folder; choose another path.")
        if any(out.iterdir()) and not (out / "config.json").is_file():
            raise ValueError(
                f"refusing to write the checkpoint into {out}: it is a non-empty folder that is not a forcefields "
                "checkpoint; choose a new or empty folder."
            )


def _read_checked(spec: Any, root: Any):
    """Read a source's frames (reader errors name missing keys) and check its declared unit."""
    from ..data.sources import load_source, parse_source

    source = parse_source(spec, root)
    if source.kind == "file":
        check_declared_units(source.path, source.options.units)
    return source, load_source(source)


def _arrays(dataset) -> dict[str, np.ndarray]:
    parts = getattr(dataset, "datasets", [dataset])
    arrays = [p.arrays() for p in parts]
    return {k: np.concatenate([a[k] for a in arrays]) for k in ("z", "natoms", "energy")}


def _atoms_of(frames, indices: np.ndarray, limit: int = 5) -> list:
    """Labelled ase.Atoms of some frames (for reference.extxyz)."""
    from ase import Atoms
    from ase.calculators.singlepoint import SinglePointCalculator

    out = []
    ptr = frames.ptr
    for k in np.asarray(indices)[:limit]:
        a0, a1 = int(ptr[k]), int(ptr[k + 1])
        atoms = Atoms(numbers=frames.numbers[a0:a1], positions=frames.positions[a0:a1])
        atoms.calc = SinglePointCalculator(atoms, energy=float(frames.energy[k]), forces=frames.forces[a0:a1])
        out.append(atoms)
    return out


def _short(errors: dict[str, float] | None) -> dict[str, float] | None:
    if errors is None:
        return None
    keys = ("energy_mae", "energy_rmse", "energy_per_atom_mae", "forces_mae", "forces_rmse")
    return {k: round(float(errors[k]), 4) for k in keys if k in errors}


def before_after_table(rows: list[tuple[str, dict[str, float] | None]], title: str):
    """A ``rich.table.Table`` of energy and force MAE per model row."""
    from rich.table import Table

    table = Table(title=title, header_style="bold")
    table.add_column("model")
    table.add_column("energy MAE (meV)", justify="right")
    table.add_column("force MAE (meV/Å)", justify="right")
    for label, errors in rows:
        if errors is None:
            table.add_row(label, "—", "—")
        else:
            table.add_row(label, f"{errors['energy_mae']:.2f}", f"{errors['forces_mae']:.2f}")
    return table


def _trainer_checks(trainer: L.Trainer, model: ForceField) -> None:
    loop = getattr(trainer, "validate_loop", None)
    if model.conservative and getattr(loop, "inference_mode", False):
        raise ValueError(
            "the Trainer given runs validation in inference mode, where conservative forces (gradients) "
            "cannot be computed; create it with lightning.Trainer(inference_mode=False) or use "
            "forcefields.training.build_trainer."
        )


# --------------------------------------------------------------------- API
def finetune(
    parent: str | os.PathLike | ForceField,
    data: Any,
    *,
    out: str | os.PathLike | None = None,
    name: str | None = None,
    root: str | os.PathLike | None = None,
    energy_key: str | None = None,
    forces_key: str | None = None,
    units: str | None = None,
    reference_energies_mode: str = "refit",
    e0: dict | str | None = None,
    freeze_spec: int | str | None = 0,
    backbone_lr_factor: float = 1.0,
    replay: float = 0.0,
    replay_data: Any = None,
    replay_root: str | os.PathLike | None = None,
    new_elements: str = "refuse",
    split: Any = "0.9,0.1",
    max_epochs: int = 200,
    max_time: str | None = None,
    early_stopping_patience: int | None = 20,
    batch_size: int = 8,
    lr: float | None = None,
    loss: str = "mse",
    energy_weight: float | None = None,
    forces_weight: float | None = None,
    optimizer: str = "adamw",
    weight_decay: float = 0.0,
    schedule: str = "auto",
    warmup_steps: int = 20,
    ema_decay: float | None = 0.99,
    gradient_clip: float | None = 10.0,
    seed: int = 0,
    accelerator: str = "auto",
    trainer: L.Trainer | None = None,
    log_dir: str | os.PathLike | None = None,
    use_cache: bool = True,
    verbose: bool = True,
    print_table: bool | None = None,
    command: str | None = None,
    **aliases: Any,
) -> FinetuneResult:
    """Fine-tune ``parent`` on ``data``; see the module docstring for the steps.

    Parameters
    ----------
    parent : pretrained name (``"egnn-m.rmd17-all"``), checkpoint folder, or ForceField
    data : the new frames: an ASE-readable file (extxyz, ...), an npz, a
        dataset name (``"rmd17:aspirin"``), a source dict, or a list of these
    out : folder to save the fine-tuned checkpoint in (None: not saved)
    name : checkpoint name ``<variant>.<tag>`` (default ``<parent variant>.<data>-ft``)
    root : folder of named datasets
    energy_key, forces_key : where the labels live in the file (e.g. ``REF_energy``)
    units : energy unit of the file (``"eV"`` default, ``"kcal/mol"``, ...);
        forces are read in units/Å
    reference_energies_mode : ``"refit"`` (default), ``"parent"`` or ``"user"``
        (also accepted as ``reference_energies=``)
    e0 : user E0 (eV) by atomic number or symbol, dict or JSON, with mode "user"
    freeze_spec : 0 (nothing), k (input stage + first k blocks) or ``"backbone"``
        (also accepted as ``freeze=``)
    backbone_lr_factor : backbone learning rate = ``lr * backbone_lr_factor``
    replay : fraction (0..1) of the training frames drawn from ``replay_data``
    replay_data : the parent's training data (default: what its card records)
    replay_root : folder of the replay datasets
    new_elements : ``"refuse"`` (default) or ``"extend"`` for elements the parent never saw
    split : train,val[,test] fractions or counts, e.g. ``"0.9,0.1"`` or a dict
    max_epochs, max_time, early_stopping_patience : training budget and stopping
        (patience in epochs without a better validation force MAE; None: off)
    batch_size, lr (default: the parent variant's rate), loss, energy_weight,
    forces_weight, optimizer, weight_decay, schedule, warmup_steps, ema_decay,
    gradient_clip, seed, accelerator : as in ``forcefields train``
    trainer : a ``lightning.Trainer`` to use instead of building one (it must
        have ``inference_mode=False``; its own epochs, stopping and devices apply)
    log_dir : write CSV/TensorBoard logs there (default: no logs)
    use_cache : reuse built graphs from the cache
    verbose : progress bar, data lines and (by default) the before/after table
    print_table : print the before/after table (default: ``verbose``)
    command : the command line, recorded in the card

    Returns
    -------
    FinetuneResult (unpacks as ``model, metrics``)
    """
    if "reference_energies" in aliases:
        reference_energies_mode = aliases.pop("reference_energies")
    if "freeze" in aliases:
        freeze_spec = aliases.pop("freeze")
    if aliases:
        raise TypeError(f"finetune() got unexpected keyword argument(s) {sorted(aliases)}.")
    if reference_energies_mode not in REFERENCE_MODES:
        raise ValueError(
            f"reference_energies={reference_energies_mode!r} is not known; use one of {', '.join(REFERENCE_MODES)}."
        )
    if new_elements not in NEW_ELEMENTS:
        raise ValueError(f"new_elements={new_elements!r} is not known; use 'refuse' or 'extend'.")
    user_e0 = parse_e0(e0) if e0 is not None else None
    if (user_e0 is not None) != (reference_energies_mode == "user"):
        raise ValueError(
            "reference_energies='user' needs the energies: pass e0 (--e0 '{\"1\": -13.6, ...}', eV)."
            if user_e0 is None else
            f"e0 was given but reference_energies={reference_energies_mode!r}; pass reference_energies='user' "
            "(--reference-energies user) to use it, or leave e0 out."
        )
    started = time.perf_counter()

    # 1. parent ---------------------------------------------------------------
    parent_model, parent_info = _resolve_parent(parent)
    parent_model.eval()
    parent_name = parent_info["name"]
    if out is not None:
        _check_out(Path(out), parent_info["path"])
    parse_freeze(freeze_spec, parent_model)  # a bad request fails before any data is read
    variant, lr_default = _variant_and_lr(parent_info, parent_model)
    lr = float(lr if lr is not None else lr_default)
    dtype_name = str(next(parent_model.parameters()).dtype).replace("torch.", "")

    # 2. data -----------------------------------------------------------------
    from ..data.datamodule import MolecularDataModule

    specs = [source_spec(d, energy_key, forces_key, units) for d in _as_list(data)]
    split_dict = parse_split(split, seed)
    new_dm = MolecularDataModule(
        specs, root=root, cutoff=parent_model.cutoff, split=split_dict, batch_size=batch_size,
        dtype=dtype_name, use_cache=use_cache, verbose=verbose,
    )
    new_dm.prepare_data()
    sources, framesets = [], []
    for spec in specs:
        source, frames = _read_checked(spec, root)
        sources.append(source)
        framesets.append(frames)
        check_split_size(frames.num_frames, split_dict, source.label)
    label = ", ".join(s.label for s in sources)
    data_elements = sorted({int(z) for f in framesets for z in np.unique(f.numbers)})

    replay_dm, replay_info = None, None
    if replay:
        replay_dm, replay_info = _replay_module(
            replay, replay_data, replay_root, parent_info, parent_model, split_dict, framesets,
            batch_size, dtype_name, seed, use_cache, verbose,
        )
    all_elements = sorted(set(data_elements) | set(replay_info["elements"] if replay_info else []))

    # elements the parent never saw
    parent_elements = [int(z) for z in parent_model.config.elements]
    unseen = unseen_elements(parent_model, all_elements)
    model = copy.deepcopy(parent_model)
    old_rows: dict[str, torch.Tensor] = {}
    if unseen:
        if new_elements == "refuse":
            refuse_unseen(parent_model, all_elements, parent_name, label)
        model, old_rows = extend_elements(model, unseen)
    if user_e0 is not None:
        stray = sorted(set(user_e0) - set(model.config.elements))
        if stray:
            raise ValueError(
                f"e0 gives reference energies for {element_names(stray)}, which neither the model nor the data "
                "holds; remove them."
            )

    L.seed_everything(seed, workers=True, verbose=False)
    fdm = FinetuneDataModule(new_dm, replay_dm, batch_size=batch_size, seed=seed)
    fdm.setup("fit")
    counts = {k: int(sum(s[k].size for s in new_dm.splits.values())) for k in ("train", "val", "test")}
    eval_split = fdm.eval_split
    eval_loader = fdm.eval_dataloader()

    # 3. the parent's error ----------------------------------------------------
    before = None if unseen else errors_of(parent_model, eval_loader)

    # 4. reference energies ----------------------------------------------------
    arrays = _arrays(new_dm.train_dataset)
    fit = reference_energies(
        model, reference_energies_mode, arrays["z"], arrays["natoms"], arrays["energy"],
        fdm.new_train_loader(), parent_elements, user_e0,
    )
    table = dict(fit["atomic_energies"])
    if user_e0 is not None:
        table.update({z: v for z, v in user_e0.items() if z not in table})
    previous = atomic_energies_of(parent_model)
    set_atomic_energies(model, table)
    if replay_dm is not None:
        shift = torch.zeros(119, dtype=torch.float64)
        for z, value in atomic_energies_of(model).items():
            if z in previous:
                shift[z] = value - previous[z]
        fdm.replay_shift = shift
    refit_errors = errors_of(model, eval_loader) if (unseen or reference_energies_mode != "parent") else None

    # 5. freezing, parameter groups -------------------------------------------
    frozen_blocks = parse_freeze(freeze_spec, model)
    frozen = freeze(model, freeze_spec)
    masked: list[str] = []
    if old_rows:
        frozen_tables = [t for t in element_tables(model) if t in frozen]
        if frozen_tables:
            freeze_rows(model, {t: old_rows[t] for t in frozen_tables})
            masked = frozen_tables
    model.train()  # loaded checkpoints come in eval mode; training needs the force graph kept
    module = FinetuneModule(
        model,
        backbone_lr_factor=backbone_lr_factor,
        no_decay=masked,
        loss=loss,
        energy_weight=energy_weight,
        forces_weight=forces_weight,
        optimizer=optimizer,
        lr=lr,
        weight_decay=weight_decay,
        schedule=schedule,
        warmup_steps=warmup_steps,
        ema_decay=ema_decay,
        statistics=new_dm.statistics.to_dict(),
    )

    # 6. training --------------------------------------------------------------
    keep = KeepBestWeights()
    own_dir = None
    if trainer is None:
        from .config import TrainConfig
        from .trainer import build_trainer

        cfg = TrainConfig(
            model=variant, max_epochs=max_epochs, max_time=max_time, early_stopping_patience=early_stopping_patience,
            gradient_clip=gradient_clip, accelerator=accelerator, dtype=dtype_name, progress_bar=verbose,
            log_every_n_steps=1, seed=seed,
        )
        if log_dir is None:
            own_dir = tempfile.TemporaryDirectory(prefix="forcefields-finetune-")
        trainer = build_trainer(
            cfg, log_dir or own_dir.name, checkpoints=False, loggers=log_dir is not None, callbacks=[keep],
            enable_model_summary=False, num_sanity_val_steps=0,
        )
    else:
        _trainer_checks(trainer, model)
        trainer.callbacks.append(keep)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*Trying to infer the `batch_size`.*")
            warnings.filterwarnings("ignore", message=".*does not have many workers.*")
            warnings.filterwarnings("ignore", message=".*The number of training batches.*")
            trainer.fit(module, datamodule=fdm)
    finally:
        if keep in trainer.callbacks:
            trainer.callbacks.remove(keep)
        if own_dir is not None:
            own_dir.cleanup()
    finetuned = module.evaluation_model() if keep.weights is None else _with_weights(module.model, keep.weights)
    for param in finetuned.parameters():  # the result is a plain model again (hooks stay on the training copy)
        param.requires_grad_(True)
    device = next(finetuned.parameters()).device
    recentred = None
    if reference_energies_mode == "refit":
        # Training moves the network's per-atom energies; re-centre E0 on the
        # training frames once more so it is the least-squares fit for the final network.
        recentred = reference_energies(
            finetuned, "refit", arrays["z"], arrays["natoms"], arrays["energy"], fdm.new_train_loader(),
            finetuned.config.elements,
        )
        set_atomic_energies(finetuned, recentred["atomic_energies"])

    # 7. after, table, checkpoint ---------------------------------------------
    after = errors_of(finetuned, eval_loader, device=device)
    eval_frames = counts[eval_split]
    split_words = f"the {'test' if eval_split == 'test' else 'validation'} split of {label} ({eval_frames} frames)"
    metrics: dict[str, Any] = {
        "parent": parent_name,
        "data": label,
        "split": eval_split,
        "frames": {**counts, "replay": replay_info["frames"] if replay_info else 0},
        "before": _short(before),
        "before_refit": _short(refit_errors),
        "after": _short(after),
        "units": {"energy": "meV", "forces": "meV/Å"},
        "epochs": int(trainer.current_epoch),
        "best_epoch": keep.best_epoch,
        "steps": int(trainer.global_step),
        "seconds": round(time.perf_counter() - started, 2),
        "reference_energies": {
            "mode": reference_energies_mode,
            "atomic_energies": {str(z): v for z, v in atomic_energies_of(finetuned).items()},
            "shift": {
                str(z): float(v - previous.get(z, 0.0)) for z, v in atomic_energies_of(finetuned).items()
                if z in fit["atomic_energies"]
            },
            "fitted": fit["fitted"],
            "recentred_after_training": recentred is not None,
        },
        "new_elements": unseen,
        "frozen": {"spec": str(freeze_spec), "blocks": max(frozen_blocks, 0), "names": frozen, **count_parameters(model)},
    }
    rows = [(f"parent {parent_name}" + (" (cannot read the new elements)" if unseen else ""), before)]
    if refit_errors is not None:
        rows.append((f"parent, E0 {reference_energies_mode}" + (" + new elements" if unseen else ""), refit_errors))
    rows.append(("fine-tuned", after))
    if verbose if print_table is None else print_table:
        from rich.console import Console

        Console().print(before_after_table(rows, f"errors on {split_words}"))

    tag_name = name or f"{variant}.{_slug(label)}-ft"
    path = None
    if out is not None:
        path = _save(
            finetuned, Path(out), tag_name, parent_info, sources, framesets, new_dm, metrics, split_words,
            dict(
                freeze=str(freeze_spec), backbone_lr_factor=backbone_lr_factor, lr=lr, optimizer=optimizer,
                loss=loss, schedule=schedule, warmup_steps=warmup_steps, ema_decay=ema_decay, batch_size=batch_size,
                max_epochs=max_epochs, early_stopping_patience=early_stopping_patience, seed=seed,
                reference_energies=reference_energies_mode, new_elements=new_elements, replay=replay,
            ),
            replay_info, command, eval_split,
        )
        if verbose if print_table is None else print_table:
            print(f"fine-tuned checkpoint: {path}  (load with forcefields.load({str(path)!r}))")
    return FinetuneResult(model=finetuned, metrics=metrics, path=path, name=tag_name, parent=parent_info, trainer=trainer)


def _article(words: str) -> str:
    return ("An " if words[:1].lower() in "aeiou" else "A ") + words


def _with_weights(model: ForceField, weights: dict[str, torch.Tensor]) -> ForceField:
    out = copy.deepcopy(model)
    with torch.no_grad():
        for k, p in out.named_parameters():
            p.copy_(weights[k])
    return out.eval()


def _replay_module(replay, replay_data, replay_root, parent_info, parent_model, split_dict, framesets,
                   batch_size, dtype_name, seed, use_cache, verbose):
    """The data module of the replay frames and what the card says about them."""
    from ..data.datamodule import MolecularDataModule

    if replay_data is None:
        recorded = parent_info["training"]
        replay_data = recorded.get("data") or recorded.get("dataset")
        replay_root = replay_root or recorded.get("root")
        if not replay_data:
            raise ValueError(
                f"replay={replay} needs the parent's training data, but {parent_info['name']} does not record it; "
                "pass replay_data (--replay-data, e.g. rmd17:aspirin) and replay_root (--replay-root)."
            )
    specs = _as_list(replay_data)
    num_new = sum(check_split_size(f.num_frames, split_dict, "data")["train"] for f in framesets)
    wanted = replay_count(float(replay), num_new)
    if wanted == 0:
        raise ValueError(
            f"replay={replay} of {num_new} training frames rounds to no replayed frame; give a larger fraction."
        )
    from ..data.sources import load_source, parse_source

    per_source = max(1, wanted // len(specs))
    elements: set[int] = set()
    for spec in specs:
        source = parse_source(spec, replay_root)
        try:
            frames = load_source(source)
        except FileNotFoundError:
            frames = None  # not local yet: the data module downloads it, then counts are checked there
        if frames is not None:
            elements.update(int(z) for z in np.unique(frames.numbers))
            if frames.num_frames < per_source:
                raise ValueError(
                    f"replay={replay} asks for {per_source} frames of {source.label}, which has {frames.num_frames}; "
                    "lower the replay fraction."
                )
    dm = MolecularDataModule(
        specs, root=replay_root, cutoff=parent_model.cutoff, split={"train": per_source, "seed": seed},
        batch_size=batch_size, dtype=dtype_name, use_cache=use_cache, verbose=verbose,
    )
    dm.prepare_data()
    labels = [s.label for s in dm.sources]
    return dm, {"sources": labels, "fraction": float(replay), "frames": per_source * len(specs), "elements": sorted(elements)}


def _save(model, out, name, parent_info, sources, framesets, new_dm, metrics, split_words, recipe,
          replay_info, command, eval_split):
    from ..zoo import save
    from ..zoo.card import FAMILY_WORDS, CardInfo

    label = metrics["data"]
    fingerprint = data_fingerprint([p for f in framesets for p in f.paths])
    frames = metrics["frames"]
    data_record = {
        "sources": [s.label for s in sources],
        "sha256": fingerprint,
        "frames": int(sum(f.num_frames for f in framesets)),
        "split": {k: frames[k] for k in ("train", "val", "test")},
        "split_seed": recipe["seed"],
        "reader": [s.options.to_dict() for s in sources],
        "units_read": dict(framesets[0].units),
    }
    parent_record = {k: parent_info[k] for k in ("name", "weights_sha256", "path", "variant")}
    training = {
        "finetuned_from": parent_record,
        "data": data_record,
        "replay": replay_info,
        "recipe": recipe,
        "epochs": metrics["epochs"],
        "best_epoch": metrics["best_epoch"],
        "reference_energies": metrics["reference_energies"],
        "new_elements": metrics["new_elements"],
        "frozen_parameters": metrics["frozen"]["names"],
        "metrics_before": metrics["before"],
        "metrics_before_refit": metrics["before_refit"],
        "metrics_after": metrics["after"],
    }
    if command:
        training["command"] = command
    after, before = metrics["after"], metrics["before"]
    numeric = {"energy_mae": after["energy_mae"], "force_mae": after["forces_mae"],
               "energy_rmse": after["energy_rmse"], "force_rmse": after["forces_rmse"]}
    if before is not None:
        numeric.update(parent_energy_mae=before["energy_mae"], parent_force_mae=before["forces_mae"])
    card_metrics: dict[str, Any] = {**numeric, "split": split_words}
    if command:
        card_metrics["command"] = command
    replay_line = (
        f"- replay: {replay_info['frames']} frames of {', '.join(replay_info['sources'])} "
        f"({replay_info['fraction']:.0%} of the training frames; energies shifted by the E0 change)"
        if replay_info else "- replay: none"
    )
    training_text = "\n".join([
        f"- parent: `{parent_record['name']}` (weights sha256 `{parent_record['weights_sha256']}`)",
        f"- data: {label} (sha256 `{fingerprint}`), {data_record['frames']} frames",
        f"- split: {frames['train']} train / {frames['val']} validation / {frames['test']} test (seed {recipe['seed']})",
        replay_line,
        f"- units read: energy {data_record['units_read'].get('energy', 'eV')}, converted to eV and eV/Å",
    ])
    e0 = metrics["reference_energies"]
    shifts = ", ".join(f"{element_names([int(z)])}: {float(v) * 1000:+.1f} meV" for z, v in e0["shift"].items())
    frozen = metrics["frozen"]
    recipe_text = "\n".join([
        f"- frozen: {recipe['freeze']} ({frozen['frozen']:,} of {frozen['frozen'] + frozen['trainable']:,} parameters)",
        f"- learning rate: {recipe['lr']:.3g} (readout), backbone × {recipe['backbone_lr_factor']:g}; "
        f"{recipe['optimizer']}, {recipe['schedule']} schedule, {recipe['warmup_steps']} warm-up steps, EMA {recipe['ema_decay']}",
        f"- loss: {recipe['loss']}; batch size {recipe['batch_size']}",
        f"- epochs: {metrics['epochs']} of at most {recipe['max_epochs']} (best validation at epoch {metrics['best_epoch']}; "
        f"early stopping patience {recipe['early_stopping_patience']})",
        f"- reference energies: {e0['mode']}; E0 change per element: {shifts or 'none'}",
        f"- new elements: {element_names(metrics['new_elements']) if metrics['new_elements'] else 'none'}",
    ] + ([f"\nFine-tuned with:\n\n```bash\n{command}\n```"] if command else []))
    card = CardInfo(
        description=(
            f"{_article(FAMILY_WORDS.get(model.family, model.family))} fine-tuned from `{parent_record['name']}` on "
            f"{label} ({frames['train']} training frames), predicting total energies (eV) and forces (eV/Å)."
        ),
        tags=["fine-tuned"],
        datasets=["custom"],
        training_data=training_text,
        recipe=recipe_text,
        intended_use=(
            f"Energies and forces of the molecules of {label}, in configurations like its frames; the "
            f"parent `{parent_record['name']}` is the better choice for the molecules it was trained on."
        ),
    )
    eval_indices = np.concatenate([s[eval_split] for s in new_dm.splits.values()])[:5] if len(sources) == 1 else None
    reference = _atoms_of(framesets[0], eval_indices) if eval_indices is not None and eval_indices.size else None
    return save(model, out, name=name, card=card, metrics=card_metrics, training=training,
                statistics=new_dm.statistics, reference=reference)
