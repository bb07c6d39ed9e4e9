"""Exponential moving average (EMA) of model weights, used for evaluation.

After each optimiser step, ``shadow <- d_t * shadow + (1 - d_t) * weights`` with
``d_t = min(decay, (1 + t) / (10 + t))`` (``t`` = number of updates so far) when
``warmup`` is on, so that early averages are not dominated by the random
initialisation. The shadow weights are what validation, testing and export
use; the state (shadow tensors, decay, update count) is a plain dict of
tensors and numbers, stored in Lightning checkpoints under ``"ema"``.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

__all__ = ["ExponentialMovingAverage"]


class ExponentialMovingAverage:
    """EMA of a set of named tensors (a model's parameters).

    Parameters
    ----------
    named_tensors : mapping name -> tensor
        Initial values (copied), e.g. ``dict(model.named_parameters())``.
    decay : float in [0, 1)
    warmup : bool
        Use the ``(1 + t) / (10 + t)`` ramp for the first updates.
    """

    def __init__(self, named_tensors: Mapping[str, torch.Tensor], decay: float = 0.99, warmup: bool = True):
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"ema decay={decay} must lie in [0, 1); use e.g. 0.99, or disable the EMA.")
        self.decay = float(decay)
        self.warmup = bool(warmup)
        self.num_updates = 0
        self.shadow = {k: v.detach().clone() for k, v in named_tensors.items()}

    def current_decay(self) -> float:
        if self.warmup:
            return min(self.decay, (1.0 + self.num_updates) / (10.0 + self.num_updates))
        return self.decay

    @torch.no_grad()
    def update(self, named_tensors: Mapping[str, torch.Tensor]) -> None:
        """Move the shadow towards ``named_tensors`` (same names as at construction)."""
        missing = self.shadow.keys() - named_tensors.keys()
        if missing:
            raise KeyError(f"EMA update lacks tensors {sorted(missing)}; pass every tracked parameter.")
        weight = 1.0 - self.current_decay()
        for name, value in named_tensors.items():
            s = self.shadow[name]
            if s.device != value.device or s.dtype != value.dtype:
                s = self.shadow[name] = s.to(device=value.device, dtype=value.dtype)
            s.lerp_(value.detach(), weight)
        self.num_updates += 1

    @torch.no_grad()
    def copy_to(self, named_tensors: Mapping[str, torch.Tensor]) -> None:
        """Write the shadow values into ``named_tensors`` in place."""
        for name, value in named_tensors.items():
            value.copy_(self.shadow[name])

    def state_dict(self) -> dict:
        return {
            "decay": self.decay,
            "warmup": self.warmup,
            "num_updates": self.num_updates,
            "shadow": {k: v.detach().cpu().clone() for k, v in self.shadow.items()},
        }

    def load_state_dict(self, state: Mapping) -> None:
        names = set(state["shadow"])
        if names != set(self.shadow):
            raise KeyError(
                f"the EMA state does not match this model (differing tensors: "
                f"{sorted(names ^ set(self.shadow))[:5]}); resume with the model it was saved from."
            )
        self.decay = float(state["decay"])
        self.warmup = bool(state["warmup"])
        self.num_updates = int(state["num_updates"])
        for k, v in state["shadow"].items():
            ref = self.shadow[k]
            self.shadow[k] = v.detach().to(device=ref.device, dtype=ref.dtype).clone()
