"""`TrainConfig`: every setting of a training run, as one YAML-serialisable record.

The same keys serve the Python API (:func:`forcefields.training.train`), the
command line (``forcefields train --key value``; dashes and underscores are
interchangeable) and YAML files (``forcefields train --config run.yaml``).
Precedence: defaults < YAML file < command-line flags. The resolved config is
written to ``<out>/config.yaml``.
"""

from __future__ import annotations

import difflib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from .losses import LOSSES
from .optim import OPTIMIZERS
from .schedules import SCHEDULES

__all__ = ["TrainConfig", "load_config", "save_config"]


@dataclass
class TrainConfig:
    """Settings of one training run.

    Attributes
    ----------
    model : str, registered variant, e.g. ``"esen-l2-s"`` (``forcefields list``)
    data : list of str, data sources, e.g. ``["rmd17:aspirin"]`` or an extxyz path
    root : str, optional, where the datasets live or are downloaded
    split : str or dict, optional, e.g. ``"rmd17:1"`` or ``{train: 80, val: 10, test: 10, seed: 0}``
    cutoff : float, optional, neighbour cutoff (Å); defaults to the model's
    max_force : float, optional, eV/Å; frames with a larger force are left out of every split
    model_args : dict, overrides of model hyper-parameters (e.g. ``{"hidden": 16}``)
    force_mode : {"conservative", "direct"}, optional, overrides the model's
    dtype : {"float32", "float64"}
    max_epochs : int; max_steps : int (-1: no limit); max_time : "DD:HH:MM:SS", optional
    batch_size : int; num_workers : int (small batches, 4 by default, train
        small molecules faster per wall-clock second: more steps per epoch for
        little more time per step)
    lr : float, optional, peak learning rate; defaults to the variant's transferred rate
    loss : {"mse", "l1norm", "huber"}; energy_weight, forces_weight : float, optional
    huber_delta : float
    optimizer : {"adamw", "schedulefree"}; weight_decay : float
    schedule : {"auto", "plateau", "cosine", "constant"}; warmup_steps : int
        ("auto": cosine over the budget for AdamW, constant for schedule-free)
    min_lr, plateau_factor : float; plateau_patience : int
    ema_decay : float, optional (null disables the EMA)
    augment_rotations : bool; symmetry_loss : int (M rotations, 0: off); symmetry_weight : float
    init_from : str, optional, pretrained name or checkpoint folder whose weights
        start this run (same variant; its force mode may differ, see
        :meth:`forcefields.models.ForceField.with_force_mode`)
    gradient_clip : float, optional, clip the gradient norm at this value
    early_stopping_patience : int, optional, epochs without improvement of val force MAE
    accelerator : str; devices : int or "auto"; strategy : str (e.g. "ddp")
    out : str, run folder (checkpoints, logs, metrics, exported model)
    resume : str, optional, a Lightning checkpoint to resume from, or "last"
    seed : int; progress_bar : bool; log_every_n_steps : int
    """

    model: str = "mpnn-s"
    data: list[str] = field(default_factory=list)
    root: str | None = None
    split: str | dict[str, Any] | None = None
    cutoff: float | None = None
    max_force: float | None = None
    model_args: dict[str, Any] = field(default_factory=dict)
    force_mode: str | None = None
    dtype: str = "float32"
    max_epochs: int = 50
    max_steps: int = -1
    max_time: str | None = None
    batch_size: int = 4
    num_workers: int = 0
    lr: float | None = None
    loss: str = "mse"
    energy_weight: float | None = None
    forces_weight: float | None = None
    huber_delta: float = 0.01
    optimizer: str = "adamw"
    weight_decay: float = 0.0
    schedule: str = "auto"
    warmup_steps: int = 100
    min_lr: float = 1e-6
    plateau_factor: float = 0.5
    plateau_patience: int = 5
    ema_decay: float | None = 0.99
    augment_rotations: bool = False
    symmetry_loss: int = 0
    symmetry_weight: float = 1.0
    gradient_clip: float | None = 10.0
    early_stopping_patience: int | None = None
    accelerator: str = "auto"
    devices: int | str = 1
    strategy: str = "auto"
    out: str | None = None
    resume: str | None = None
    init_from: str | None = None
    seed: int = 0
    progress_bar: bool = True
    log_every_n_steps: int = 50

    def __post_init__(self) -> None:
        if isinstance(self.data, str):
            self.data = [self.data]
        self.data = [str(d) for d in self.data]
        self.model_args = dict(self.model_args or {})

    def validate(self) -> None:
        """Raise ValueError naming the first setting that cannot work."""
        if not self.data:
            raise ValueError("no training data given; pass --data (e.g. --data rmd17:aspirin or a .extxyz path).")
        choices = {
            "loss": LOSSES,
            "optimizer": OPTIMIZERS,
            "schedule": ("auto",) + SCHEDULES,
            "dtype": ("float32", "float64"),
        }
        for key, allowed in choices.items():
            if getattr(self, key) not in allowed:
                raise ValueError(f"{key}={getattr(self, key)!r} is not supported; use one of {', '.join(allowed)}.")
        if self.force_mode not in (None, "conservative", "direct"):
            raise ValueError(f"force_mode={self.force_mode!r} is not supported; use 'conservative' or 'direct'.")
        if self.batch_size < 1:
            raise ValueError(f"batch_size={self.batch_size} must be at least 1.")
        if self.max_epochs < 1 and self.max_steps < 1:
            raise ValueError("max_epochs and max_steps are both below 1; nothing would be trained.")
        if self.symmetry_loss == 1 or self.symmetry_loss < 0:
            raise ValueError(f"symmetry_loss={self.symmetry_loss}: use 0 (off) or M >= 2 rotations (the paper uses 5).")
        if self.lr is not None and self.lr <= 0:
            raise ValueError(f"lr={self.lr} must be positive.")

    # ------------------------------------------------------------ dict/YAML
    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        return settings_from_dict(cls, d, "training", "forcefields train --help")

    def updated(self, **changes: Any) -> "TrainConfig":
        return TrainConfig.from_dict({**self.to_dict(), **changes})


def load_config(path: str | Path) -> TrainConfig:
    """Read a YAML training config."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"training config {path} does not exist; check the path given to --config.")
    with open(path, encoding="utf-8") as f:
        data = yaml.safe_load(f) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path} must hold a YAML mapping of settings (key: value), not a {type(data).__name__}.")
    return TrainConfig.from_dict(data)


def save_config(config: TrainConfig, path: str | Path) -> None:
    """Write the config as YAML (keys in declaration order)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        yaml.safe_dump(config.to_dict(), f, sort_keys=False, allow_unicode=True)


def settings_from_dict(cls, d: dict[str, Any], what: str, help_command: str, error: type[Exception] = ValueError):
    """A settings dataclass from a dict whose keys may use dashes; an unknown key is one sentence with a suggestion.

    Parameters
    ----------
    cls : the dataclass
    d : settings (``max-time`` and ``max_time`` both name the field ``max_time``)
    what : how the message names the settings ("training")
    help_command : where the user finds them ("forcefields train --help")
    error : the exception class to raise
    """
    known = {f.name for f in fields(cls)}
    clean: dict[str, Any] = {}
    for key, value in d.items():
        name = str(key).replace("-", "_")
        if name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise error(f"unknown {what} setting {key!r}{hint}; see `{help_command}`.")
        clean[name] = value
    return cls(**clean)
