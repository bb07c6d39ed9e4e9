"""`ForceFieldModule`: the LightningModule that trains any `ForceField`.

Lightning style: the module receives the network (``forward`` is inference)
and owns the loss, metrics, optimiser, schedule, EMA and symmetry options.

Evaluation weights. Validation, testing and prediction run with the
*evaluation weights*: the EMA of the parameters when ``ema_decay`` is set,
else schedule-free AdamW's averaged point ``x`` (see :mod:`.optim`), else the
current parameters. They are swapped in at ``on_{validation,test,predict}_start``
and the training weights restored at the matching ``*_end``. A checkpoint
written in between (``ModelCheckpoint`` saves at the end of validation) still
stores the training weights: :meth:`on_save_checkpoint` puts them back into
the saved state dict, next to the EMA state, so resuming loses nothing.

Conservative forces are gradients, so evaluation needs autograd: the steps
use ``torch.enable_grad()``, and the Trainer must be built with
``inference_mode=False`` (:func:`forcefields.training.build_trainer` does).
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch

from ..models import ForceField, build_model
from .backward import trainable_parameters
from .ema import ExponentialMovingAverage
from .losses import EnergyForceLoss
from .metrics import ForceFieldMetrics
from .optim import ScheduleFreeAdamW, build_optimizer
from .schedules import lightning_schedulers
from .symmetry import random_rotations, rotate_batch, symmetry_loss

__all__ = ["ForceFieldModule", "MONITOR"]

# The metric that checkpoints, early stopping and the plateau schedule watch.
MONITOR = "val/forces_mae"


class ForceFieldModule(L.LightningModule):
    """Train a :class:`~forcefields.models.ForceField` on energies and forces.

    Parameters
    ----------
    model : ForceField, optional
        The network. When omitted it is rebuilt from ``family`` and
        ``model_config`` (what ``load_from_checkpoint`` does).
    loss : {"mse", "l1norm", "huber"}, see :mod:`.losses`
    energy_weight, forces_weight : float, optional (defaults depend on ``loss``)
    huber_delta : float
    optimizer : {"adamw", "schedulefree"}
    lr : float, peak learning rate
    weight_decay : float
    betas : (float, float)
    schedule : {"auto", "plateau", "cosine", "constant"}
        ``"auto"``: ``"cosine"`` for AdamW (decaying over the run's budget:
        epochs, steps or ``max_time``, whichever ends first), ``"constant"``
        for schedule-free. (In a 25-minute rMD17 aspirin run the plateau
        schedule never lowered the rate: the validation error kept creeping
        down, so the run ended at its peak rate.)
    warmup_steps : int, linear warm-up in optimiser steps
    min_lr, plateau_factor, plateau_patience : schedule parameters
    ema_decay : float or None, EMA of the weights for evaluation (None: off)
    augment_rotations : bool, turn each training molecule by a random rotation every step
    symmetry_rotations : int, M random rotations for the symmetry loss (0: off)
    symmetry_weight : float, λ of the symmetry loss
    statistics : DatasetStatistics or dict, optional, the training data statistics (kept for export)
    family, model_config, model_dtype : used only when ``model`` is omitted
    """

    def __init__(
        self,
        model: ForceField | None = None,
        *,
        loss: str = "mse",
        energy_weight: float | None = None,
        forces_weight: float | None = None,
        huber_delta: float = 0.01,
        optimizer: str = "adamw",
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        betas: tuple[float, float] = (0.9, 0.999),
        schedule: str = "auto",
        warmup_steps: int = 0,
        min_lr: float = 1e-6,
        plateau_factor: float = 0.5,
        plateau_patience: int = 5,
        ema_decay: float | None = 0.99,
        augment_rotations: bool = False,
        symmetry_rotations: int = 0,
        symmetry_weight: float = 1.0,
        statistics: dict | None = None,
        family: str | None = None,
        model_config: dict | None = None,
        model_dtype: str | None = None,
    ):
        super().__init__()
        if model is None:
            if family is None or model_config is None:
                raise ValueError(
                    "ForceFieldModule needs a model, or the family and model_config to rebuild one."
                )
            model = build_model(family, model_config, dtype=model_dtype)
        if not isinstance(model, ForceField):
            raise TypeError(f"model must be a forcefields ForceField; got {type(model).__name__}.")
        if schedule == "auto":
            schedule = "constant" if optimizer == "schedulefree" else "cosine"
        if optimizer == "schedulefree" and schedule != "constant":
            raise ValueError(
                f"schedule {schedule!r} contradicts the schedule-free optimiser; "
                "use schedule='constant' (its warm-up is built in) or optimizer='adamw'."
            )
        if symmetry_rotations == 1 or symmetry_rotations < 0:
            raise ValueError(f"symmetry_rotations={symmetry_rotations}: use 0 (off) or at least 2.")
        if hasattr(statistics, "to_dict"):  # a DatasetStatistics: keep checkpoints free of custom classes
            statistics = statistics.to_dict()
        self.model = model
        self.loss_fn = EnergyForceLoss(loss, energy_weight, forces_weight, huber_delta)
        # Resolved settings, enough for load_from_checkpoint to rebuild everything.
        self.save_hyperparameters(
            dict(
                loss=loss,
                energy_weight=self.loss_fn.energy_weight,
                forces_weight=self.loss_fn.forces_weight,
                huber_delta=huber_delta,
                optimizer=optimizer,
                lr=lr,
                weight_decay=weight_decay,
                betas=tuple(betas),
                schedule=schedule,
                warmup_steps=warmup_steps,
                min_lr=min_lr,
                plateau_factor=plateau_factor,
                plateau_patience=plateau_patience,
                ema_decay=ema_decay,
                augment_rotations=augment_rotations,
                symmetry_rotations=symmetry_rotations,
                symmetry_weight=symmetry_weight,
                statistics=statistics,
                family=model.family,
                model_config=model.config.to_dict(),
                model_dtype=str(next(model.parameters()).dtype).replace("torch.", ""),
            )
        )
        self.ema = (
            ExponentialMovingAverage(dict(model.named_parameters()), decay=ema_decay)
            if ema_decay is not None
            else None
        )
        self.train_metrics = ForceFieldMetrics()
        self.val_metrics = ForceFieldMetrics()
        self.test_metrics = ForceFieldMetrics()
        self._stash: dict[str, torch.Tensor] | None = None

    # ------------------------------------------------------------ inference
    def forward(self, batch: Any, compute_forces: bool = True) -> dict[str, torch.Tensor]:
        """Energies (B,) eV and forces (n, 3) eV/Å of a batch (no training graph kept)."""
        return self.model(batch, compute_forces=compute_forces)

    def _as_model_dtype(self, batch: Any) -> Any:
        """Bring positions and labels to the model's dtype (float64 runs with float32 data)."""
        dtype = next(self.model.parameters()).dtype
        for key in ("pos", "energy", "forces"):
            value = getattr(batch, key, None)
            if value is not None and value.is_floating_point() and value.dtype != dtype:
                setattr(batch, key, value.to(dtype))
        return batch

    # -------------------------------------------------------------- training
    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        batch = self._as_model_dtype(batch)
        if self.hparams.augment_rotations:
            rotations = random_rotations(int(batch.num_graphs), dtype=batch.pos.dtype, device=batch.pos.device)
            batch = rotate_batch(batch, rotations)
        out = self.model(batch, compute_forces=True)
        parts = self.loss_fn(out["energy"], out["forces"], batch.energy, batch.forces, batch.natoms, batch.batch)
        loss = parts["total"]
        size = int(batch.num_graphs)
        if self.hparams.symmetry_rotations:
            sym = symmetry_loss(self.model, batch, self.hparams.symmetry_rotations, self.loss_fn)
            loss = loss + self.hparams.symmetry_weight * sym
            self.log("train/symmetry_loss", sym, on_step=False, on_epoch=True, batch_size=size, sync_dist=True)
        self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=size, sync_dist=True)
        self.train_metrics.update(out["energy"], out["forces"], batch.energy, batch.forces, batch.natoms)
        return loss

    def backward(self, loss: torch.Tensor, *args: Any, **kwargs: Any) -> None:
        """Backward pass of the training loss to the trainable parameters only.

        Skips the second derivatives with respect to the positions that a plain
        ``loss.backward()`` would compute and no optimiser reads
        (:mod:`forcefields.training.backward`). Positional arguments, or an
        explicit ``inputs``, are passed on unchanged.
        """
        if not args and "inputs" not in kwargs:
            kwargs["inputs"] = trainable_parameters(self)
        super().backward(loss, *args, **kwargs)

    def on_train_epoch_end(self) -> None:
        self._log_metrics("train", self.train_metrics)

    def optimizer_step(self, epoch, batch_idx, optimizer, optimizer_closure=None) -> None:
        super().optimizer_step(epoch, batch_idx, optimizer, optimizer_closure)
        if self.ema is not None:
            self.ema.update(self._current_weights(averaged=True))

    # ------------------------------------------------------------ evaluation
    def _evaluate(self, batch: Any, metrics: ForceFieldMetrics, stage: str) -> torch.Tensor:
        if self.model.conservative and torch.is_inference_mode_enabled():
            raise RuntimeError(
                "conservative forces need gradients, but the Trainer runs evaluation in inference mode; "
                "create it with Trainer(inference_mode=False) (forcefields.training.build_trainer does)."
            )
        batch = self._as_model_dtype(batch)
        with torch.enable_grad():
            out = self.model(batch, compute_forces=True)
        parts = self.loss_fn(out["energy"], out["forces"], batch.energy, batch.forces, batch.natoms, batch.batch)
        metrics.update(out["energy"], out["forces"], batch.energy, batch.forces, batch.natoms)
        self.log(f"{stage}/loss", parts["total"].detach(), batch_size=int(batch.num_graphs), sync_dist=True)
        return parts["total"].detach()

    def validation_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return self._evaluate(batch, self.val_metrics, "val")

    def test_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return self._evaluate(batch, self.test_metrics, "test")

    def predict_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> dict[str, torch.Tensor]:
        batch = self._as_model_dtype(batch)
        with torch.enable_grad():
            out = self.model(batch, compute_forces=True)
        return {k: v.detach() for k, v in out.items()}

    def on_validation_epoch_end(self) -> None:
        self._log_metrics("val", self.val_metrics)

    def on_test_epoch_end(self) -> None:
        self._log_metrics("test", self.test_metrics)

    def _log_metrics(self, stage: str, metrics: ForceFieldMetrics) -> None:
        if not metrics.update_called:
            return
        # compute() already sums the states over ranks, so every rank holds the
        # same values; sync_dist (a mean of equal numbers) only keeps Lightning content.
        values = {f"{stage}/{k}": v.float() for k, v in metrics.compute().items()}
        monitored = values.pop(MONITOR, None)
        self.log_dict(values, sync_dist=True)
        if monitored is not None:
            self.log(MONITOR, monitored, prog_bar=True, sync_dist=True)
        metrics.reset()

    # --------------------------------------------------- evaluation weights
    def _schedulefree(self) -> ScheduleFreeAdamW | None:
        if self._trainer is None or not self.trainer.optimizers:
            return None
        opt = self.trainer.optimizers[0]
        return opt if isinstance(opt, ScheduleFreeAdamW) else None

    def _current_weights(self, averaged: bool) -> dict[str, torch.Tensor]:
        """Parameters by name; schedule-free's averaged ``x`` when ``averaged`` and available."""
        named = dict(self.model.named_parameters())
        opt = self._schedulefree() if averaged else None
        if opt is None:
            return named
        params = [p for group in opt.param_groups for p in group["params"]]
        x_by_id = {id(p): x for p, x in zip(params, opt.averaged_parameters())}
        return {k: x_by_id.get(id(p), p) for k, p in named.items()}

    def evaluation_weights(self) -> dict[str, torch.Tensor]:
        """The weights evaluation and export use: EMA, else schedule-free's ``x``, else current."""
        if self._stash is not None:  # already swapped in
            return {k: p.detach().clone() for k, p in self.model.named_parameters()}
        if self.ema is not None:
            return {k: v.clone() for k, v in self.ema.shadow.items()}
        return {k: v.detach().clone() for k, v in self._current_weights(averaged=True).items()}

    @torch.no_grad()
    def use_evaluation_weights(self) -> None:
        """Swap the evaluation weights into the model (undo with :meth:`use_training_weights`)."""
        if self._stash is not None:
            return
        weights = self.evaluation_weights()
        self._stash = {k: p.detach().clone() for k, p in self.model.named_parameters()}
        for k, p in self.model.named_parameters():
            p.copy_(weights[k])

    @torch.no_grad()
    def use_training_weights(self) -> None:
        if self._stash is None:
            return
        for k, p in self.model.named_parameters():
            p.copy_(self._stash[k])
        self._stash = None

    def on_validation_start(self) -> None:
        self.use_evaluation_weights()

    def on_validation_end(self) -> None:
        self.use_training_weights()

    def on_test_start(self) -> None:
        self.use_evaluation_weights()

    def on_test_end(self) -> None:
        self.use_training_weights()

    def on_predict_start(self) -> None:
        self.use_evaluation_weights()

    def on_predict_end(self) -> None:
        self.use_training_weights()

    def on_train_epoch_start(self) -> None:
        self.use_training_weights()

    # ----------------------------------------------------------- checkpoints
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        if self._stash is not None:
            state = checkpoint["state_dict"]
            for k, v in self._stash.items():
                state[f"model.{k}"] = v.clone()
        if self.ema is not None:
            checkpoint["ema"] = self.ema.state_dict()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        if self.ema is not None and "ema" in checkpoint:
            self.ema.load_state_dict(checkpoint["ema"])

    # ------------------------------------------------------------ optimiser
    def optimizer_parameter_groups(self) -> list[dict[str, Any]]:
        """The optimiser's parameter groups; override to give parts of the network their own settings.

        Returns
        -------
        list of dicts for ``torch.optim`` (``params`` and optionally ``lr``,
        ``weight_decay``, ...); here one group holding every parameter of the
        model that requires gradients, at the module's ``lr`` and ``weight_decay``.
        """
        return [{"params": [p for p in self.model.parameters() if p.requires_grad]}]

    def configure_optimizers(self):
        hp = self.hparams
        optimizer = build_optimizer(
            hp.optimizer,
            self.optimizer_parameter_groups(),
            lr=hp.lr,
            weight_decay=hp.weight_decay,
            betas=tuple(hp.betas),
            warmup_steps=hp.warmup_steps,
        )
        if hp.optimizer == "schedulefree":
            return optimizer
        total = int(self.trainer.estimated_stepping_batches) if hp.schedule == "cosine" else 0
        time_progress = self._time_budget_progress() if hp.schedule == "cosine" else None
        schedulers = lightning_schedulers(
            optimizer,
            hp.schedule,
            warmup_steps=hp.warmup_steps,
            total_steps=total,
            monitor=MONITOR,
            lr=hp.lr,
            min_lr=hp.min_lr,
            plateau_factor=hp.plateau_factor,
            plateau_patience=hp.plateau_patience,
            time_progress=time_progress,
        )
        if not schedulers:
            return optimizer
        return [optimizer], schedulers

    def _time_budget_progress(self):
        """A function giving the used fraction of the Trainer's ``max_time``, or None without one.

        Lightning's ``Timer`` callback keeps the elapsed training time across
        ``--resume``, so the decay picks up where it stopped.
        """
        from lightning.pytorch.callbacks import Timer

        timer = next((cb for cb in self.trainer.callbacks if isinstance(cb, Timer)), None)
        if timer is None or timer.time_remaining() is None:
            return None

        trainer = self.trainer

        def progress() -> float:
            elapsed = timer.time_elapsed("train")
            budget = elapsed + timer.time_remaining("train")
            value = elapsed / budget if budget > 0 else 1.0
            if trainer.world_size > 1:
                # every rank steps its scheduler: share rank 0's clock so the replicas keep one rate
                value = float(trainer.strategy.broadcast(value, src=0))
            return value

        return progress

    # --------------------------------------------------------------- export
    def evaluation_model(self) -> ForceField:
        """A copy of the network carrying the evaluation weights, in eval mode."""
        import copy

        model = copy.deepcopy(self.model)
        weights = self.evaluation_weights()
        with torch.no_grad():
            for k, p in model.named_parameters():
                p.copy_(weights[k])
        return model.eval()
