"""The LightningModule and callback of a fine-tuning run.

:class:`FinetuneModule` is :class:`~forcefields.training.ForceFieldModule`
with two optimiser parameter groups (readout at ``lr``, backbone at
``lr * backbone_lr_factor``; frozen parameters left out).
:class:`KeepBestWeights` remembers the evaluation weights of the best
validation epoch, so early stopping returns the best model, not the last.
"""

from __future__ import annotations

import copy
from typing import Any, Sequence

import lightning as L
import numpy as np
import torch

from ..models import ForceField
from .freeze import parameter_groups
from .module import MONITOR, ForceFieldModule

__all__ = ["FinetuneModule", "KeepBestWeights", "weights_into", "check_trainer"]


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

    def optimizer_parameter_groups(self) -> list[dict[str, Any]]:
        """Readout at ``lr``, the trainable backbone at ``lr * backbone_lr_factor`` (see :func:`.freeze.parameter_groups`)."""
        return parameter_groups(self.model, self.hparams.lr, self.backbone_lr_factor, set(self.no_decay))


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


def weights_into(model: ForceField, weights: dict[str, torch.Tensor]) -> ForceField:
    """A copy of ``model`` carrying ``weights`` (name -> tensor), in eval mode."""
    out = copy.deepcopy(model)
    with torch.no_grad():
        for k, p in out.named_parameters():
            p.copy_(weights[k])
    return out.eval()


def check_trainer(trainer: L.Trainer, model: ForceField) -> None:
    """Refuse a user's Trainer that cannot evaluate conservative forces."""
    loop = getattr(trainer, "validate_loop", None)
    if model.conservative and getattr(loop, "inference_mode", False):
        raise ValueError(
            "the Trainer given runs validation in inference mode, where conservative forces (gradients) "
            "cannot be computed; create it with lightning.Trainer(inference_mode=False) or use "
            "forcefields.training.build_trainer."
        )
