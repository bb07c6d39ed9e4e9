"""Learning-rate schedules: linear warm-up, then plateau reduction or cosine decay.

``"plateau"``  linear warm-up per step, then ``ReduceLROnPlateau`` on the
               validation force MAE once per epoch.
``"cosine"``   linear warm-up, then cosine decay to ``min_lr`` at the end of the
               run's budget: its last step, or the end of its wall-clock
               budget (``max_time``) when that comes first. The time-based
               decay is what a fixed-time benchmark needs: a step-based cosine
               over ``max_epochs`` would never leave its peak.
``"constant"`` linear warm-up, then a constant rate (schedule-free AdamW warms
               up inside the optimiser, so it uses ``"constant"`` with no
               scheduler at all).

:func:`lightning_schedulers` returns the scheduler configs that
``LightningModule.configure_optimizers`` hands to Lightning.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch.optim.lr_scheduler import LambdaLR, LRScheduler, ReduceLROnPlateau

__all__ = ["SCHEDULES", "LinearWarmup", "warmup_cosine_factor", "lightning_schedulers"]

SCHEDULES = ("plateau", "cosine", "constant")


class LinearWarmup(LRScheduler):
    """Ramp each group's rate linearly to its initial value over ``warmup_steps``.

    After the warm-up it leaves the rate alone, so another scheduler (e.g.
    ``ReduceLROnPlateau``) can lower it; a ``LambdaLR`` would overwrite it.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, warmup_steps: int, last_epoch: int = -1):
        self.warmup_steps = int(warmup_steps)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        t = self.last_epoch  # counts optimiser steps (interval="step")
        if t >= self.warmup_steps:
            return [group["lr"] for group in self.optimizer.param_groups]
        factor = (t + 1) / self.warmup_steps
        return [base * factor for base in self.base_lrs]


def warmup_cosine_factor(
    step: int,
    warmup_steps: int,
    total_steps: int,
    min_factor: float,
    time_progress: Callable[[], float] | None = None,
) -> float:
    """Multiplier of the peak rate at ``step``: linear ramp, then half a cosine down to ``min_factor``.

    Parameters
    ----------
    step, warmup_steps, total_steps : int, optimiser steps
    min_factor : float, the multiplier at the end of the decay
    time_progress : callable, optional
        Fraction of the wall-clock budget used so far (0 to 1); the decay
        follows whichever of steps and time is further along.
    """
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    span = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / span)
    if time_progress is not None:
        progress = max(progress, min(1.0, max(0.0, time_progress())))
    return min_factor + (1.0 - min_factor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def lightning_schedulers(
    optimizer: torch.optim.Optimizer,
    schedule: str,
    *,
    warmup_steps: int,
    total_steps: int,
    monitor: str,
    lr: float,
    min_lr: float = 1e-6,
    plateau_factor: float = 0.5,
    plateau_patience: int = 5,
    time_progress: Callable[[], float] | None = None,
) -> list[dict]:
    """Scheduler configs for Lightning (may be empty).

    Parameters
    ----------
    schedule : one of :data:`SCHEDULES`
    warmup_steps : int, optimiser steps of linear warm-up (0: none)
    total_steps : int, optimiser steps of the whole run (for the cosine)
    monitor : str, logged metric the plateau reduction watches
    lr : float, peak rate; min_lr : float, floor of the decay
    time_progress : callable, optional
        Fraction of the wall-clock budget used (cosine only; see :func:`warmup_cosine_factor`)
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule {schedule!r} is not known; use one of {', '.join(SCHEDULES)}.")
    configs: list[dict] = []
    if schedule == "cosine":
        min_factor = min(1.0, min_lr / lr) if lr > 0 else 0.0
        cosine = LambdaLR(
            optimizer, lambda step: warmup_cosine_factor(step, warmup_steps, total_steps, min_factor, time_progress)
        )
        return [{"scheduler": cosine, "interval": "step", "name": "lr"}]
    if warmup_steps > 0:
        configs.append({"scheduler": LinearWarmup(optimizer, warmup_steps), "interval": "step", "name": "lr"})
    if schedule == "plateau":
        plateau = ReduceLROnPlateau(
            optimizer, mode="min", factor=plateau_factor, patience=plateau_patience, min_lr=min_lr
        )
        configs.append({"scheduler": plateau, "interval": "epoch", "monitor": monitor, "strict": True})
    return configs
