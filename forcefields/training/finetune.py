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
from typing import Any, Iterator

import lightning as L
import numpy as np
import torch

from ..models import ForceField
from .finetune_card import before_after_table, save_finetuned
from .finetune_data import (
    FinetuneDataModule,
    check_split_size,
    parse_split,
    read_checked,
    replay_module,
    source_spec,
    train_arrays,
)
from .finetune_elements import element_names, element_tables, extend_elements, freeze_rows, refuse_unseen, unseen_elements
from .finetune_energies import REFERENCE_MODES, atomic_energies_of, parse_e0, reference_energies, set_atomic_energies
from .finetune_module import FinetuneModule, KeepBestWeights, check_trainer, weights_into
from .freeze import count_parameters, freeze, parse_freeze
from .metrics import errors_of

__all__ = ["finetune", "FinetuneResult", "NEW_ELEMENTS"]

NEW_ELEMENTS = ("refuse", "extend")


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


# Default fine-tuning rate as a fraction of the parent variant's training rate.
FINETUNE_LR_FACTOR = 0.1


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


def _short(errors: dict[str, float] | None) -> dict[str, float] | None:
    if errors is None:
        return None
    keys = ("energy_mae", "energy_rmse", "energy_per_atom_mae", "forces_mae", "forces_rmse")
    return {k: round(float(errors[k]), 4) for k in keys if k in errors}


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
    batch_size, lr (default: a tenth of the parent variant's rate), loss, energy_weight,
    forces_weight, optimizer, weight_decay, schedule, warmup_steps, ema_decay,
    gradient_clip, seed, accelerator : as in ``forcefields train`` (but ``schedule="auto"``
        means plateau here: a fine-tune ends by early stopping, not at a budget)
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

    # 1. the parent: a private copy, its files only read
    parent_model, parent_info = _resolve_parent(parent)
    parent_name = parent_info["name"]
    if out is not None:
        _check_out(Path(out), parent_info["path"])
    parse_freeze(freeze_spec, parent_model)  # a bad request fails before any data is read
    variant, lr_default = _variant_and_lr(parent_info, parent_model)
    # A tenth of the pretraining peak: the network is already near a minimum.
    lr = float(lr if lr is not None else FINETUNE_LR_FACTOR * lr_default)
    dtype = str(next(parent_model.parameters()).dtype).replace("torch.", "")
    data_options = dict(cutoff=parent_model.cutoff, batch_size=batch_size, dtype=dtype, use_cache=use_cache, verbose=verbose)

    # 2. the data: read and checked, split; replay; elements
    new_dm, sources, framesets, split_dict = _new_data(data, root, energy_key, forces_key, units, split, seed, data_options)
    label = ", ".join(s.label for s in sources)
    replay_dm, replay_info = None, None
    if replay:
        replay_dm, replay_info = _replay(replay, replay_data, replay_root, parent_info, framesets, split_dict, seed, data_options)
    elements = {int(z) for f in framesets for z in np.unique(f.numbers)} | set(replay_info["elements"] if replay_info else [])
    unseen = unseen_elements(parent_model, elements)
    model, old_rows = copy.deepcopy(parent_model), {}
    if unseen:
        if new_elements == "refuse":
            refuse_unseen(parent_model, elements, parent_name, label)
        model, old_rows = extend_elements(model, unseen)
    if user_e0 is not None and set(user_e0) - set(model.config.elements):
        raise ValueError(
            f"e0 gives reference energies for {element_names(set(user_e0) - set(model.config.elements))}, "
            "which neither the model nor the data holds; remove them."
        )
    if schedule == "auto" and optimizer != "schedulefree":
        # A fine-tune ends by early stopping, not at a budget: lower the rate on plateaus.
        schedule = "plateau"
    L.seed_everything(seed, workers=True, verbose=False)
    fdm = FinetuneDataModule(new_dm, replay_dm, batch_size=batch_size, seed=seed)
    fdm.setup("fit")
    counts = {k: int(sum(s[k].size for s in new_dm.splits.values())) for k in ("train", "val", "test")}
    eval_loader = fdm.eval_dataloader()

    # 3. the parent's error on the evaluation frames
    before = None if unseen else errors_of(parent_model, eval_loader)

    # 4. reference energies (replay energies follow the change)
    arrays = train_arrays(new_dm.train_dataset)
    fit = reference_energies(
        model, reference_energies_mode, arrays["z"], arrays["natoms"], arrays["energy"],
        fdm.new_train_loader(), parent_model.config.elements, user_e0,
    )
    previous = atomic_energies_of(parent_model)
    set_atomic_energies(model, {**(user_e0 or {}), **fit["atomic_energies"]})
    if replay_dm is not None:
        fdm.replay_shift = _energy_shift(atomic_energies_of(model), previous)
    refit_errors = errors_of(model, eval_loader) if (unseen or reference_energies_mode != "parent") else None

    # 5. freezing and the module with its parameter groups
    frozen = freeze(model, freeze_spec)
    masked = [t for t in element_tables(model) if t in frozen] if old_rows else []
    if masked:  # frozen embeddings, new elements: only the new rows learn
        freeze_rows(model, {t: old_rows[t] for t in masked})
    model.train()  # loaded checkpoints come in eval mode; training needs the force graph kept
    module = FinetuneModule(
        model, backbone_lr_factor=backbone_lr_factor, no_decay=masked, loss=loss, energy_weight=energy_weight,
        forces_weight=forces_weight, optimizer=optimizer, lr=lr, weight_decay=weight_decay, schedule=schedule,
        warmup_steps=warmup_steps, ema_decay=ema_decay, statistics=new_dm.statistics.to_dict(),
    )

    # 6. training: early stopping on validation, the best evaluation weights kept
    keep = KeepBestWeights()
    trainer = _fit(
        module, fdm, trainer, keep, dict(
            model=variant, max_epochs=max_epochs, max_time=max_time, early_stopping_patience=early_stopping_patience,
            gradient_clip=gradient_clip, accelerator=accelerator, dtype=dtype, progress_bar=verbose,
            log_every_n_steps=1, seed=seed,
        ), log_dir,
    )
    finetuned = module.evaluation_model() if keep.weights is None else weights_into(module.model, keep.weights)
    for param in finetuned.parameters():  # a plain model again (the row hooks stay on the training copy)
        param.requires_grad_(True)
    if reference_energies_mode == "refit":
        # Training moves the network's per-atom energies: re-centre E0 so it is
        # the least-squares fit for the final network (3 numbers, training frames only).
        recentred = reference_energies(
            finetuned, "refit", arrays["z"], arrays["natoms"], arrays["energy"], fdm.new_train_loader(),
            finetuned.config.elements,
        )
        set_atomic_energies(finetuned, recentred["atomic_energies"])

    # 7. after: errors, table, checkpoint
    after = errors_of(finetuned, eval_loader, device=next(finetuned.parameters()).device)
    eval_split = fdm.eval_split
    split_words = f"the {'test' if eval_split == 'test' else 'validation'} split of {label} ({counts[eval_split]} frames)"
    e0_now = atomic_energies_of(finetuned)
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
            "atomic_energies": {str(z): v for z, v in e0_now.items()},
            "shift": {str(z): float(v - previous.get(z, 0.0)) for z, v in e0_now.items() if z in fit["atomic_energies"]},
            "fitted": fit["fitted"],
            "recentred_after_training": reference_energies_mode == "refit",
        },
        "new_elements": unseen,
        "frozen": {"spec": str(freeze_spec), "names": frozen, **count_parameters(model)},
    }
    show = verbose if print_table is None else print_table
    if show:
        from ..console import make_console

        rows = [(f"parent {parent_name}" + (" (cannot read the new elements)" if unseen else ""), before)]
        if refit_errors is not None:
            rows.append((f"parent, E0 {reference_energies_mode}" + (" + new elements" if unseen else ""), refit_errors))
        rows.append(("fine-tuned", after))
        make_console().print(before_after_table(rows, f"errors on {split_words}"))

    tag_name = name or f"{variant}.{_slug(label)}-ft"
    path = None
    if out is not None:
        recipe = dict(
            freeze=str(freeze_spec), backbone_lr_factor=backbone_lr_factor, lr=lr, optimizer=optimizer, loss=loss,
            energy_weight=module.loss_fn.energy_weight, forces_weight=module.loss_fn.forces_weight,
            schedule=schedule, warmup_steps=warmup_steps, ema_decay=ema_decay, batch_size=batch_size,
            max_epochs=max_epochs, early_stopping_patience=early_stopping_patience, seed=seed,
            reference_energies=reference_energies_mode, new_elements=new_elements, replay=replay,
        )
        path = save_finetuned(
            finetuned, Path(out), tag_name, parent_info, sources, framesets, new_dm, metrics, split_words,
            recipe, replay_info, command, eval_split,
        )
        if show:
            print(f"fine-tuned checkpoint: {path}  (load with forcefields.load({str(path)!r}))")
    return FinetuneResult(model=finetuned, metrics=metrics, path=path, name=tag_name, parent=parent_info, trainer=trainer)


# --------------------------------------------------------------------- steps
def _new_data(data, root, energy_key, forces_key, units, split, seed, options):
    """The user's data module (not set up), its parsed sources and frames, the split."""
    from ..data.datamodule import MolecularDataModule

    specs = [source_spec(d, energy_key, forces_key, units) for d in _as_list(data)]
    split_dict = parse_split(split, seed)
    dm = MolecularDataModule(specs, root=root, split=split_dict, **options)
    dm.prepare_data()
    sources, framesets = [], []
    for spec in specs:
        source, frames = read_checked(spec, root)
        check_split_size(frames.num_frames, split_dict, source.label)
        sources.append(source)
        framesets.append(frames)
    return dm, sources, framesets, split_dict


def _replay(fraction, data, root, parent_info, framesets, split_dict, seed, options):
    """Replay frames of the parent's training data (default: what its card records)."""
    if data is None:
        recorded = parent_info["training"]
        data = recorded.get("data") or recorded.get("dataset")
        root = root or recorded.get("root")
        if not data:
            raise ValueError(
                f"replay={fraction} needs the parent's training data, but {parent_info['name']} does not record it; "
                "pass replay_data (--replay-data, e.g. rmd17:aspirin) and replay_root (--replay-root)."
            )
    num_train = sum(check_split_size(f.num_frames, split_dict, "data")["train"] for f in framesets)
    return replay_module(fraction, data, root, num_train, seed=seed, **options)


def _energy_shift(new: dict[int, float], old: dict[int, float]) -> torch.Tensor:
    """(119,) eV per atom: how much E0 moved for each element the parent knew."""
    shift = torch.zeros(119, dtype=torch.float64)
    for z, value in new.items():
        if z in old:
            shift[z] = value - old[z]
    return shift


def _fit(module, datamodule, trainer, keep, config: dict, log_dir) -> L.Trainer:
    """Fit with the user's Trainer, or one built by :func:`build_trainer` (no checkpoints; logs only to log_dir)."""
    own_dir = None
    if trainer is None:
        from .config import TrainConfig
        from .trainer import build_trainer

        if log_dir is None:
            own_dir = tempfile.TemporaryDirectory(prefix="forcefields-finetune-")
        trainer = build_trainer(
            TrainConfig(**config), log_dir or own_dir.name, checkpoints=False, loggers=log_dir is not None,
            callbacks=[keep], enable_model_summary=False, num_sanity_val_steps=0,
        )
    else:
        check_trainer(trainer, module.model)
        trainer.callbacks.append(keep)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*Trying to infer the `batch_size`.*")
            warnings.filterwarnings("ignore", message=".*does not have many workers.*")
            warnings.filterwarnings("ignore", message=".*The number of training batches.*")
            trainer.fit(module, datamodule=datamodule)
    finally:
        if keep in trainer.callbacks:
            trainer.callbacks.remove(keep)
        if own_dir is not None:
            own_dir.cleanup()
    return trainer
