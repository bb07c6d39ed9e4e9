"""The Lightning DataModule: sources -> splits -> cached graphs -> loaders.

    dm = MolecularDataModule(["rmd17:aspirin"], root="../shared/data/rmd17",
                             cutoff=5.0, split="rmd17:1", batch_size=8)
    dm.prepare_data()   # downloads what is missing (nothing when root holds the files)
    dm.setup()          # reads, checks, splits, builds or loads the graphs
    dm.statistics       # DatasetStatistics of the training split
    for batch in dm.train_dataloader(): ...

Splits apply per source, then concatenate (see :mod:`forcefields.data.splits`).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

import lightning as L
import numpy as np
import torch
from torch.utils.data import ConcatDataset
# Imported at module level: under DDP Lightning re-instantiates the loader class
# with a distributed sampler and must be able to resolve it.
from torch_geometric.loader import DataLoader

from .dataset import GraphDataset, dtype_name, load_or_build_graphs, resolve_dtype
from .errors import DataError
from .sources import Source, SourceLike, load_source, parse_source, prepare_source
from .splits import SPLIT_NAMES, SplitLike, parse_split, split_frames
from .statistics import DatasetStatistics, compute_statistics
from .validation import check_frames

__all__ = ["MolecularDataModule"]

log = logging.getLogger("forcefields.data")


class MolecularDataModule(L.LightningDataModule):
    """Batched molecular graphs for training, validation, testing and prediction.

    Parameters
    ----------
    sources : one source or a list: ``"rmd17:aspirin"``, ``"md17:ethanol"``,
        a file path (npz, extxyz, ASE db, ...) or a dict with ``source``/``path``
        and reader options (``energy_key``, ``forces_key``, ``units``, ...)
    root : folder holding local copies of the datasets named by kind; None: the
        download cache ``$FORCEFIELDS_CACHE/datasets/<kind>``, which
        :meth:`prepare_data` fills (nothing is ever written into ``root``).
        Relative file paths are also looked up here.
    cutoff : neighbour cutoff (Å)
    split : counts or fractions dict with ``seed``, ``"rmd17:N"`` or ``"corpus"``;
        None: a corpus's own split by molecule for ``xtb:`` sources, else
        80/10/10 fractions with seed 0. Applied per source.
    batch_size : molecules per training batch
    eval_batch_size : molecules per validation/test batch (default ``batch_size``)
    dtype : ``"float32"`` (default) or ``"float64"`` for positions, energies, forces
    num_workers : DataLoader worker processes
    skip_bad_frames : leave out frames that fail the checks (NaN labels,
        overlapping atoms, ...) with a warning instead of raising; the number
        left out is in ``num_skipped``
    download : let :meth:`prepare_data` download missing datasets into the cache
    use_cache : load/save built graphs under ``$FORCEFIELDS_CACHE/graphs``
    verbose : print one line per source (frames, cache hit or miss)
    seed : seed of the split (and of the training shuffle) when ``split`` does
        not name one itself; None: 0
    max_force : eV/Å; frames whose largest atomic force exceeds it are left out
        of every split (counted in ``num_skipped`` and reported), e.g. geometries
        squeezed beyond what thermal motion reaches. None: keep every frame.
    """

    def __init__(
        self,
        sources: SourceLike | Sequence[SourceLike],
        root: str | Path | None = None,
        cutoff: float = 5.0,
        split: SplitLike = None,
        batch_size: int = 32,
        eval_batch_size: int | None = None,
        dtype: str | torch.dtype = "float32",
        num_workers: int = 0,
        skip_bad_frames: bool = False,
        download: bool = True,
        use_cache: bool = True,
        verbose: bool = True,
        seed: int | None = None,
        max_force: float | None = None,
    ):
        super().__init__()
        if isinstance(sources, (str, Path, dict)):
            sources = [sources]
        sources = list(sources)
        if not sources:
            raise DataError("no sources given; name at least one, e.g. sources=['rmd17:aspirin'].")
        if cutoff <= 0:
            raise ValueError(f"cutoff={cutoff} must be a positive distance in Å.")
        if batch_size < 1:
            raise ValueError(f"batch_size={batch_size} must be at least 1.")
        self.root = Path(root).expanduser() if root is not None else None
        self.sources: list[Source] = [parse_source(s, self.root) for s in sources]
        labels = [s.label for s in self.sources]
        if len(set(labels)) != len(labels):
            raise DataError(f"a source is listed twice in {labels}; list each once.")
        self.cutoff = float(cutoff)
        self.split = parse_split(split)
        self._split_given = split is not None
        names_seed = isinstance(split, dict) and "seed" in split
        if seed is not None and not names_seed:
            self.split = replace(self.split, seed=int(seed))
        self.batch_size = int(batch_size)
        self.eval_batch_size = int(eval_batch_size or batch_size)
        self.dtype = resolve_dtype(dtype)
        self.num_workers = int(num_workers)
        self.skip_bad_frames = bool(skip_bad_frames)
        self.download = bool(download)
        self.use_cache = bool(use_cache)
        self.verbose = bool(verbose)
        if max_force is not None and max_force <= 0:
            raise ValueError(f"max_force={max_force} must be a positive force in eV/Å.")
        self.max_force = None if max_force is None else float(max_force)
        self.above_max_force: dict[str, int] = {}
        self.save_hyperparameters(
            {
                "sources": [s if isinstance(s, (str, dict)) else str(s) for s in sources],
                "root": None if root is None else str(root),
                "cutoff": self.cutoff,
                "split": self.split.to_dict(),
                "batch_size": self.batch_size,
                "eval_batch_size": self.eval_batch_size,
                "dtype": dtype_name(self.dtype),
                "skip_bad_frames": self.skip_bad_frames,
                "max_force": self.max_force,
            }
        )
        self._datasets: dict[str, ConcatDataset | None] = {}
        self._statistics: DatasetStatistics | None = None
        self.splits: dict[str, dict[str, np.ndarray]] = {}
        self.cache_hits: dict[str, bool] = {}
        self.cache_files: dict[str, Path | None] = {}
        self.skipped: dict[str, int] = {}
        self._generator = torch.Generator()

    # ------------------------------------------------------------ Lightning hooks
    def prepare_data(self) -> None:
        """Download the datasets that are missing (only where ``download``)."""
        for source in self.sources:
            prepare_source(source, download=self.download, progress=self.verbose)

    def setup(self, stage: str | None = None) -> None:
        """Read, check and split every source; load or build its graphs (once)."""
        if self._datasets:
            return
        parts: dict[str, list[GraphDataset]] = {name: [] for name in SPLIT_NAMES}
        for source in self.sources:
            frames = load_source(source)
            good = check_frames(frames, skip_bad_frames=self.skip_bad_frames)
            self.skipped[source.label] = int((~good).sum())
            if self.max_force is not None and frames.num_frames:
                largest = frames.largest_force()
                above = good & (largest > self.max_force)
                self.above_max_force[source.label] = int(above.sum())
                self.skipped[source.label] += int(above.sum())
                good &= ~above
            spec = self.split
            if source.kind == "xtb" and not self._split_given:
                spec = replace(parse_split("corpus"), seed=self.split.seed)  # a corpus is split by molecule
            split = split_frames(spec, frames.num_frames, good, frames.groups, source.label, frames.molecules)
            if split["train"].size == 0:
                raise DataError(
                    f"{source.label}: the training split is empty (split={self.split.to_dict()}); "
                    "give it some frames."
                )
            selected = np.unique(np.concatenate([split[n] for n in SPLIT_NAMES]))
            store, hit, path = load_or_build_graphs(
                frames,
                selected,
                self.cutoff,
                self.dtype,
                reader=source.options.to_dict(),
                use_cache=self.use_cache,
                progress=self.verbose,
            )
            self.splits[source.label] = split
            self.cache_hits[source.label] = hit
            self.cache_files[source.label] = path
            for name in SPLIT_NAMES:
                if split[name].size:
                    parts[name].append(GraphDataset(store, np.searchsorted(selected, split[name]), source.label))
            self._report(source.label, frames.num_frames, split, hit, path)
        self._datasets = {name: ConcatDataset(p) if p else None for name, p in parts.items()}
        self._statistics = compute_statistics(
            self._datasets["train"], cutoff=self.cutoff, sources=[s.label for s in self.sources]
        )
        self._generator.manual_seed(int(self.split.seed))

    def _report(self, label: str, total: int, split: dict, hit: bool, path: Path | None) -> None:
        sizes = " / ".join(f"{split[n].size} {n}" for n in SPLIT_NAMES)
        above = self.above_max_force.get(label, 0)
        bad = self.skipped[label] - above
        skipped = (f", {bad} bad frames skipped" if bad else "") + (
            f", {above} frames with forces above {self.max_force:g} eV/Å left out" if above else "")
        cache = "graph cache off" if path is None else ("graphs from cache" if hit else "graphs built and cached")
        line = f"{label}: {sizes} of {total} frames{skipped}; cutoff {self.cutoff} Å, {dtype_name(self.dtype)}; {cache}"
        log.info("%s (%s)", line, path)
        if self.verbose:
            from ..console import make_console

            make_console(stderr=True, highlight=False).print(f"[bold]forcefields[/bold] {line}")

    # ------------------------------------------------------------ datasets and loaders
    def _dataset(self, name: str):
        if not self._datasets:
            raise RuntimeError("the data module is not set up yet; call setup() first (the Trainer does this).")
        ds = self._datasets[name]
        if ds is None or len(ds) == 0:
            raise DataError(
                f"the {name!r} split is empty (split={self.split.to_dict()}); ask for some {name} frames "
                + ("or run without validation (Trainer(limit_val_batches=0))." if name == "val" else "in split.")
            )
        return ds

    @property
    def train_dataset(self):
        return self._dataset("train")

    @property
    def val_dataset(self):
        return self._dataset("val")

    @property
    def test_dataset(self):
        return self._dataset("test")

    @property
    def statistics(self) -> DatasetStatistics:
        """DatasetStatistics of the training split (after :meth:`setup`)."""
        if self._statistics is None:
            raise RuntimeError("statistics are computed in setup(); call dm.setup() first.")
        return self._statistics

    @property
    def num_skipped(self) -> int:
        """Bad frames left out over all sources (with ``skip_bad_frames=True``)."""
        return int(sum(self.skipped.values()))

    def _loader(self, dataset, batch_size: int, shuffle: bool):
        return DataLoader(
            dataset,
            batch_size=batch_size,
            shuffle=shuffle,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            generator=self._generator if shuffle else None,
        )

    def train_dataloader(self):
        return self._loader(self.train_dataset, self.batch_size, shuffle=True)

    def val_dataloader(self):
        return self._loader(self.val_dataset, self.eval_batch_size, shuffle=False)

    def test_dataloader(self):
        return self._loader(self.test_dataset, self.eval_batch_size, shuffle=False)

    def predict_dataloader(self):
        """The test split, in order."""
        return self._loader(self.test_dataset, self.eval_batch_size, shuffle=False)

    def describe(self) -> dict[str, Any]:
        """Sizes of every split per source, skipped frames and cache use (after setup)."""
        return {
            label: {
                **{n: int(split[n].size) for n in SPLIT_NAMES},
                "skipped": self.skipped.get(label, 0),
                "cache_hit": self.cache_hits.get(label),
            }
            for label, split in self.splits.items()
        }
