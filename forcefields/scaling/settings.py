"""`ScalingSettings`: the protocol every run of a scaling grid shares.

The defaults are the protocol of Ngo & Ravanbakhsh (arXiv 2510.09768):
width-only scaling at each family's fixed depth, a fixed batch, the learning
rate transferred as η(w) = η*·w_base/w (each registered variant already
carries its transferred rate, see :mod:`forcefields.models.registry`),
schedule-free AdamW evaluated at its averaged point ``x`` (no EMA), a single
pass over at most ``max_structures`` training structures, direct force heads
and the L1-norm loss. Every field can be changed; the resolved settings are
written to each run's ``settings.json`` and runs whose settings differ are
never fitted together (:func:`compare_settings`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .errors import ScalingError

__all__ = ["ScalingSettings", "compare_settings", "eval_points", "EXECUTION_KEYS"]

# Settings that change how a run is executed but not what it measures; never compared.
EXECUTION_KEYS = ("accelerator", "num_workers", "progress_bar")


@dataclass
class ScalingSettings:
    """The protocol of a scaling grid (shared by every run in it).

    Attributes
    ----------
    data : list of str, data sources as for ``forcefields train --data``
        (``rmd17:aspirin``, ``xtb:corpus/qm9-xtb``, a file, ...)
    root : str, optional, where the datasets live
    split : str or dict, optional, the data module's split (validation = held-out molecules)
    max_structures : int, training structures seen in the single pass (D at the end)
    batch_size : int, fixed for every run (molecules per optimiser step)
    val_structures : int, validation structures used at every evaluation (the first ones of the split)
    evals_per_decade : int, evaluations per decade of structures seen
    first_eval : int, optional, structures seen at the first evaluation (default: 4 batches)
    optimizer : {"schedulefree", "adamw"}; lr_scale : float, multiplies every
        variant's transferred rate (1: the registry's η(w))
    warmup_steps : int, linear warm-up of the schedule-free rate (optimiser steps)
    weight_decay : float; gradient_clip : float or None
    loss : {"l1norm", "mse", "huber"}; energy_weight, forces_weight : float or None (loss defaults)
    force_mode : {"direct", "conservative"}
    ema_decay : float or None (None: evaluate at schedule-free's averaged weights)
    dtype : {"float32", "float64"}; seed : int
    model_args : dict, model hyper-parameters overridden in every run (e.g. ``{"num_layers": 2}``)
    flop_batches : int, training batches the FLOP counter runs on
    devices : int, devices per run (Lightning DDP when > 1; the global batch is batch_size × devices)
    strategy : str; accelerator : str; num_workers : int; progress_bar : bool
    """

    data: list[str] = field(default_factory=list)
    root: str | None = None
    split: str | dict[str, Any] | None = None
    max_structures: int = 200_000
    batch_size: int = 32
    val_structures: int = 1000
    evals_per_decade: int = 5
    first_eval: int | None = None
    optimizer: str = "schedulefree"
    lr_scale: float = 1.0
    warmup_steps: int = 100
    weight_decay: float = 0.0
    gradient_clip: float | None = 10.0
    loss: str = "l1norm"
    energy_weight: float | None = None
    forces_weight: float | None = None
    force_mode: str = "direct"
    ema_decay: float | None = None
    dtype: str = "float32"
    seed: int = 0
    model_args: dict[str, Any] = field(default_factory=dict)
    flop_batches: int = 4
    devices: int = 1
    strategy: str = "auto"
    accelerator: str = "auto"
    num_workers: int = 0
    progress_bar: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.data, str):
            self.data = [d for d in self.data.split(",") if d]
        self.data = [str(d) for d in self.data]
        self.model_args = dict(self.model_args or {})

    def validate(self) -> None:
        """Raise :class:`ScalingError` naming the first setting that cannot work."""
        if not self.data:
            raise ScalingError("no data given; pass --data (e.g. --data rmd17:aspirin or xtb:corpus/qm9-xtb).")
        for name in ("max_structures", "batch_size", "val_structures", "evals_per_decade", "flop_batches", "devices"):
            if int(getattr(self, name)) < 1:
                raise ScalingError(f"{name}={getattr(self, name)} must be at least 1.")
        if self.max_structures < 2 * self.batch_size:
            raise ScalingError(
                f"max_structures={self.max_structures} is less than two batches of {self.batch_size}; "
                "raise --max-structures or lower --batch-size."
            )
        if self.first_eval is not None and not self.batch_size <= self.first_eval < self.max_structures:
            raise ScalingError(
                f"first_eval={self.first_eval} must lie between one batch ({self.batch_size}) and "
                f"max_structures ({self.max_structures})."
            )
        if self.lr_scale <= 0:
            raise ScalingError(f"lr_scale={self.lr_scale} must be positive.")

    # ------------------------------------------------------------ dict
    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ScalingSettings":
        from ..training.config import settings_from_dict

        return settings_from_dict(cls, d, "scaling", "forcefields scaling run --help", ScalingError)

    def protocol(self) -> dict[str, Any]:
        """The settings that define what is measured (execution-only keys left out)."""
        return {k: v for k, v in self.to_dict().items() if k not in EXECUTION_KEYS}

    def eval_points(self) -> list[int]:
        """Structures seen at each evaluation, see :func:`eval_points`."""
        return eval_points(self.max_structures, self.batch_size * self.devices, self.evals_per_decade, self.first_eval)


def eval_points(max_structures: int, batch: int, per_decade: int, first: int | None = None) -> list[int]:
    """Logarithmically spaced numbers of structures seen, whole batches each.

    Parameters
    ----------
    max_structures : structures in the whole pass (the last point)
    batch : structures per optimiser step (all devices together)
    per_decade : points per factor of ten
    first : the first point (default four batches)

    Returns
    -------
    sorted list of distinct ints, multiples of ``batch`` except possibly the
    last, which is ``max_structures``.
    """
    first = int(first or min(4 * batch, max_structures // 2))
    first = max(first, batch)
    decades = math.log10(max_structures / first)
    count = max(2, int(round(decades * per_decade)) + 1)
    raw = np.logspace(math.log10(first), math.log10(max_structures), count)
    points = sorted({max(batch, int(round(x / batch)) * batch) for x in raw[:-1]} | {int(max_structures)})
    return [p for p in points if p <= max_structures]


def compare_settings(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """The protocol keys on which two runs differ, as ``"key: a vs b"`` strings (empty: comparable)."""
    keys = sorted((set(a) | set(b)) - set(EXECUTION_KEYS))
    return [f"{k}: {a.get(k)!r} vs {b.get(k)!r}" for k in keys if a.get(k) != b.get(k)]
