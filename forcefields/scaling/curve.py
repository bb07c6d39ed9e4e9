"""The learning curve of one run: a Lightning callback writing ``curve.jsonl``.

With :class:`~forcefields.scaling.stream.StreamDataModule` each Lightning
epoch ends at an evaluation point, and the validation loop that follows runs
with the module's evaluation weights (schedule-free AdamW's averaged point
``x``, or the EMA; :class:`~forcefields.training.ForceFieldModule` swaps them
in). :class:`CurveRecorder` appends one JSON line per evaluation:

    {"structures": D, "step": ..., "val_loss": ..., "val_forces_mae": meV/Å,
     "val_energy_mae": meV, "train_loss": mean over the chunk, "flops": C,
     "train_seconds": cumulative, "eval_seconds": cumulative, "diverged": false}

A non-finite training or validation loss stops the run and marks it diverged.
Its timing state is saved in checkpoints, so a resumed run keeps counting.
A resumed chunk is written again; :func:`read_curve` keeps the last line per D.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import lightning as L
import torch

__all__ = ["CurveRecorder", "read_curve"]


def _as_float(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value.item() if hasattr(value, "item") else value)
    return value


class CurveRecorder(L.Callback):
    """Append the validation loss and errors at every evaluation point to ``path``.

    Parameters
    ----------
    path : the ``curve.jsonl`` file
    points : structures seen at the end of each epoch (chunk), as in the stream
    flops_per_structure : float, training FLOPs per structure (forward + backward), for C = flops × D
    heartbeat : optional callable run after each evaluation (the grid refreshes its lock)
    """

    def __init__(
        self,
        path: str | Path,
        points: Sequence[int],
        flops_per_structure: float = 0.0,
        heartbeat: Callable[[], None] | None = None,
    ):
        self.path = Path(path)
        self.points = [int(p) for p in points]
        self.flops_per_structure = float(flops_per_structure)
        self.heartbeat = heartbeat
        self.train_seconds = 0.0
        self.eval_seconds = 0.0
        self.diverged: str | None = None
        self._t0: float | None = None
        self._eval_t0: float | None = None
        self._loss_sum = 0.0
        self._loss_count = 0

    # ------------------------------------------------------------ training
    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._t0 = time.perf_counter()
        self._loss_sum, self._loss_count = 0.0, 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        if loss is None:
            return
        value = float(loss.detach()) if isinstance(loss, torch.Tensor) else float(loss)
        if not math.isfinite(value):
            seen = self._structures_before(trainer) + (batch_idx + 1) * int(getattr(batch, "num_graphs", 1))
            self._diverge(trainer, f"non-finite training loss after about {seen} structures")
            return
        size = int(getattr(batch, "num_graphs", 1))
        self._loss_sum += value * size
        self._loss_count += size

    def _structures_before(self, trainer) -> int:
        k = int(trainer.current_epoch)
        return self.points[k - 1] if 0 < k <= len(self.points) else 0

    def _diverge(self, trainer, reason: str) -> None:
        if self.diverged is None:
            self.diverged = reason
        trainer.should_stop = True

    # ------------------------------------------------------------ evaluation
    def on_validation_start(self, trainer, pl_module) -> None:
        now = time.perf_counter()
        if self._t0 is not None:
            self.train_seconds += now - self._t0
            self._t0 = None
        self._eval_t0 = now

    def on_validation_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking:
            return
        if self._eval_t0 is not None:
            self.eval_seconds += time.perf_counter() - self._eval_t0
            self._eval_t0 = None
        k = int(trainer.current_epoch)
        if k >= len(self.points):
            return
        metrics = trainer.callback_metrics
        structures = self.points[k]
        row: dict[str, Any] = {
            "structures": structures,
            "epoch": k,
            "step": int(trainer.global_step),
            "val_loss": _as_float(metrics.get("val/loss")),
            "val_forces_mae": _as_float(metrics.get("val/forces_mae")),
            "val_energy_mae": _as_float(metrics.get("val/energy_mae")),
            "train_loss": self._loss_sum / self._loss_count if self._loss_count else None,
            "flops": self.flops_per_structure * structures,
            "train_seconds": self.train_seconds,
            "eval_seconds": self.eval_seconds,
            "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        bad = [k for k in ("val_loss", "val_forces_mae") if row[k] is not None and not math.isfinite(row[k])]
        if bad:
            self._diverge(trainer, f"non-finite {bad[0]} at {structures} structures")
        row["diverged"] = self.diverged is not None
        if trainer.is_global_zero:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(json.dumps(row, allow_nan=True) + "\n")
            if self.heartbeat is not None:
                self.heartbeat()

    # ------------------------------------------------------------ checkpoint state
    def state_dict(self) -> dict[str, Any]:
        return {"train_seconds": self.train_seconds, "eval_seconds": self.eval_seconds, "diverged": self.diverged}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.train_seconds = float(state_dict.get("train_seconds", 0.0))
        self.eval_seconds = float(state_dict.get("eval_seconds", 0.0))
        self.diverged = state_dict.get("diverged")


def read_curve(path: str | Path) -> list[dict[str, Any]]:
    """The rows of a ``curve.jsonl``, one per number of structures seen (the last written wins), sorted by D.

    A half-written last line (a run killed while writing) is ignored.
    """
    path = Path(path)
    if not path.is_file():
        return []
    rows: dict[int, dict[str, Any]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        rows[int(row["structures"])] = row
    return [rows[d] for d in sorted(rows)]
