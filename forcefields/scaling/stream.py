"""One pass over the training data, cut at the evaluation points.

The data axis of a scaling study comes from evaluating one run at several
numbers of structures seen, D. :class:`StreamDataModule` makes this a plain
Lightning loop: the training split is shuffled once (by the seed), truncated
to ``max_structures``, and cut into consecutive chunks that end at the
evaluation points; Lightning's epoch ``k`` trains on chunk ``k`` (the Trainer
reloads the training loader every epoch) and its validation loop then runs at
exactly ``D = points[k]``. Every structure is seen once, and a checkpoint at
the end of each chunk is a clean place to resume.
"""

from __future__ import annotations

from typing import Any, Sequence

import lightning as L
import numpy as np
from torch.utils.data import Subset
from torch_geometric.loader import DataLoader

from .errors import ScalingError

__all__ = ["StreamDataModule"]


class StreamDataModule(L.LightningDataModule):
    """Chunks of a single shuffled pass over ``inner``'s training split; ``inner``'s validation split.

    Parameters
    ----------
    inner : a data module with ``train_dataset``, ``val_dataloader()``,
        ``statistics``, ``batch_size`` and ``num_workers`` (a
        :class:`~forcefields.data.MolecularDataModule`)
    points : increasing numbers of structures seen at which chunks end (the last is the pass's length)
    seed : seed of the one shuffle
    label : how messages name the data (e.g. ``"rmd17:aspirin"``)
    """

    def __init__(self, inner: Any, points: Sequence[int], seed: int = 0, label: str = "the data"):
        super().__init__()
        points = [int(p) for p in points]
        if not points or any(b <= a for a, b in zip(points, points[1:])) or points[0] < 1:
            raise ValueError(f"evaluation points must increase from at least 1; got {points}.")
        self.inner = inner
        self.points = points
        self.seed = int(seed)
        self.label = label
        self.order: np.ndarray | None = None

    # ------------------------------------------------------------ Lightning hooks
    def prepare_data(self) -> None:
        self.inner.prepare_data()

    def setup(self, stage: str | None = None) -> None:
        self.inner.setup(stage)
        if self.order is not None:
            return
        available = len(self.inner.train_dataset)
        if available < self.points[-1]:
            raise ScalingError(
                f"the training split of {self.label} holds {available} structures, fewer than the "
                f"{self.points[-1]} a single pass needs; lower --max-structures to at most {available} or add data."
            )
        rng = np.random.default_rng(self.seed)
        self.order = rng.permutation(available)[: self.points[-1]]

    @property
    def statistics(self):
        return self.inner.statistics

    @property
    def num_chunks(self) -> int:
        return len(self.points)

    def chunk(self, k: int) -> np.ndarray:
        """Indices (into the training split) of chunk ``k``: structures ``points[k-1] .. points[k]-1`` of the pass."""
        if self.order is None:
            raise RuntimeError("the stream is not set up yet; call setup() first (the Trainer does this).")
        start = self.points[k - 1] if k > 0 else 0
        return self.order[start : self.points[k]]

    def train_dataloader(self):
        epoch = int(self.trainer.current_epoch) if self.trainer is not None else 0
        if epoch >= self.num_chunks:
            raise ScalingError(f"the pass over {self.label} ended after {self.num_chunks} chunks; nothing is left to train.")
        subset = Subset(self.inner.train_dataset, self.chunk(epoch).tolist())
        return DataLoader(subset, batch_size=self.inner.batch_size, shuffle=False, num_workers=self.inner.num_workers)

    def val_dataloader(self):
        return self.inner.val_dataloader()

    def first_batches(self, count: int) -> list:
        """The first ``count`` training batches of the pass (what the FLOP counter measures)."""
        if self.order is None:
            raise RuntimeError("the stream is not set up yet; call setup() first.")
        size = self.inner.batch_size
        subset = Subset(self.inner.train_dataset, self.order[: count * size].tolist())
        return list(DataLoader(subset, batch_size=size, shuffle=False))
