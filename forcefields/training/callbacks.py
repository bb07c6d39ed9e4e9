"""Small Lightning callbacks used by the trainer."""

from __future__ import annotations

import time

import lightning as L

__all__ = ["EpochTimer"]


class EpochTimer(L.Callback):
    """Wall-clock seconds of each training epoch (training batches only, no validation).

    ``seconds_per_epoch`` is the mean over the epochs of this process; it is also
    logged as ``time/epoch_s`` (averaged over ranks).
    """

    def __init__(self) -> None:
        self.durations: list[float] = []
        self._start: float | None = None
        self._validating_since: float | None = None
        self._validation_s = 0.0

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._start = time.perf_counter()
        self._validation_s = 0.0

    def on_validation_start(self, trainer, pl_module) -> None:
        if self._start is not None and not trainer.sanity_checking:
            self._validating_since = time.perf_counter()

    def on_validation_end(self, trainer, pl_module) -> None:
        if self._validating_since is not None:
            self._validation_s += time.perf_counter() - self._validating_since
            self._validating_since = None

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if self._start is None:
            return
        seconds = time.perf_counter() - self._start - self._validation_s
        self.durations.append(seconds)
        self._start = None
        pl_module.log("time/epoch_s", seconds, on_step=False, on_epoch=True, sync_dist=True)

    @property
    def seconds_per_epoch(self) -> float | None:
        return sum(self.durations) / len(self.durations) if self.durations else None

    def state_dict(self) -> dict:
        return {"durations": list(self.durations)}

    def load_state_dict(self, state_dict: dict) -> None:
        self.durations = [float(d) for d in state_dict.get("durations", [])]
