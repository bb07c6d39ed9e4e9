"""Data of a fine-tuning run: the user's frames (split), optional replay frames, checks.

The user's data is one source of :class:`~forcefields.data.MolecularDataModule`
(an extxyz or other ASE-readable file with named energy/force keys, an npz,
or a dataset name such as ``rmd17:aspirin``), split into training,
validation (early stopping) and optionally test frames. Replay mixes a
fraction of the parent's own training data into the training frames to limit
forgetting; since the reference energies E0 may have been refitted, replay
energies are shifted by the same per-element change so both sources agree.
"""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path
from typing import Any, Sequence

import lightning as L
import numpy as np
import torch
from torch.utils.data import ConcatDataset, Dataset

__all__ = [
    "UNIT_INFO_KEYS",
    "source_spec",
    "parse_split",
    "check_split_size",
    "check_declared_units",
    "data_fingerprint",
    "replay_count",
    "EnergyShifted",
    "FinetuneDataModule",
    "read_checked",
    "train_arrays",
    "replay_module",
]

# info keys through which an extxyz header may declare its energy unit
UNIT_INFO_KEYS = ("energy_unit", "energy_units", "units", "unit", "e_unit")


def source_spec(
    data: Any,
    energy_key: str | None = None,
    forces_key: str | None = None,
    units: str | None = None,
) -> Any:
    """The data module source for the user's data, with the reader options folded in."""
    options = {k: v for k, v in (("energy_key", energy_key), ("forces_key", forces_key), ("units", units)) if v}
    if isinstance(data, dict):
        return {**data, **options}
    if not options:
        return str(data) if isinstance(data, Path) else data
    text = str(data)
    kind = text.partition(":")[0].lower()
    if kind in ("rmd17", "md17") and not Path(text).exists():
        return {"source": text, **options}
    return {"path": text, **options}


def parse_split(split: Any, seed: int = 0) -> dict[str, Any]:
    """``"0.9,0.1"``, ``(0.8, 0.1, 0.1)``, ``"80,10,10"`` or a dict -> a split dict with the seed.

    Two numbers are train and validation, three add a test split; fractions
    (floats) or counts (integers).
    """
    if isinstance(split, dict):
        return {"seed": seed, **split}
    if isinstance(split, str):
        parts = [p.strip() for p in split.split(",") if p.strip()]
    else:
        parts = list(split)
    try:
        values = [int(p) if str(p).isdigit() else float(p) for p in parts]
    except ValueError:
        raise ValueError(
            f"split {split!r} is not understood; give train,val fractions such as 0.9,0.1 "
            "(a third number adds a test split) or counts such as 80,10,10."
        ) from None
    if len(values) not in (2, 3):
        raise ValueError(f"split {split!r} needs two (train,val) or three (train,val,test) numbers.")
    if any(isinstance(v, float) for v in values):
        values = [float(v) for v in values]
    out: dict[str, Any] = dict(zip(("train", "val", "test"), values))
    out["seed"] = int(seed)
    return out


def check_split_size(num_frames: int, split: dict[str, Any], label: str) -> dict[str, int]:
    """Frames per split; a ValueError when validation (or training) would be empty.

    Returns
    -------
    dict train/val/test -> number of frames.
    """
    sizes = {k: split[k] for k in ("train", "val", "test") if k in split}
    if any(isinstance(v, float) for v in sizes.values()):
        counts = {k: int(np.floor(float(v) * num_frames + 1e-9)) for k, v in sizes.items()}
    else:
        counts = {k: int(v) for k, v in sizes.items()}
    if counts.get("val", 0) < 1:
        frac = sizes.get("val", 0)
        need = int(np.ceil(1.0 / frac - 1e-9)) if isinstance(frac, float) and frac > 0 else None
        raise ValueError(
            f"{label} has {num_frames} frames, too few for a validation split of {frac}"
            + (f" (it needs at least {need})" if need else "")
            + "; fine-tuning validates every epoch for early stopping and the before/after table, "
            "so add frames or give a larger validation share, e.g. --split 0.8,0.2."
        )
    if counts.get("train", 0) < 1:
        raise ValueError(
            f"{label} has {num_frames} frames and the split {sizes} leaves none for training; "
            "add frames or give a larger training share."
        )
    if sum(counts.values()) > num_frames:
        raise ValueError(
            f"the split {sizes} asks for {sum(counts.values())} frames but {label} has {num_frames}; ask for fewer."
        )
    return {k: counts.get(k, 0) for k in ("train", "val", "test")}


def check_declared_units(path: Path, units: str | None) -> str | None:
    """Refuse a file whose header declares an energy unit other than the one it is read in.

    Parameters
    ----------
    path : an ASE-readable file (npz archives are checked by their reader)
    units : the energy unit it is read in (None: eV)

    Returns
    -------
    The unit the file declares, or None when it declares none.
    """
    from ..data.units import ENERGY_UNITS, canonical_energy_unit

    if path.suffix in (".npz", ".db") or not path.is_file():
        return None
    import ase.io

    try:
        first = ase.io.read(str(path), index=0)
    except Exception:  # the reader reports unreadable files with a better message
        return None
    found = [(k, v) for k, v in first.info.items() if str(k).lower() in UNIT_INFO_KEYS and isinstance(v, str)]
    if not found:
        return None
    key, value = found[0]
    read_as = canonical_energy_unit(units or "eV")
    try:
        declared = _energy_part(value)
    except ValueError:
        raise ValueError(
            f"{path} declares its energy unit as {value!r} (info key {key!r}), which forcefields does not "
            f"know; convert the file to one of {', '.join(ENERGY_UNITS)} and pass --units accordingly."
        ) from None
    if declared != read_as:
        raise ValueError(
            f"{path} declares energies in {declared} (info key {key!r}) but would be read as {read_as}; "
            f"pass --units {declared} (units={declared!r}) so they are converted to eV correctly."
        )
    return declared


def _energy_part(value: str) -> str:
    """The energy unit of ``"kcal/mol"`` or of a forces unit such as ``"kcal/mol/Å"``."""
    from ..data.units import canonical_energy_unit

    try:
        return canonical_energy_unit(value)
    except ValueError:
        energy, sep, _ = value.strip().rpartition("/")
        if not sep:
            raise
        return canonical_energy_unit(energy)


def data_fingerprint(paths: Sequence[str]) -> str:
    """sha256 of one file, or of the sorted per-file hashes of several."""
    from ..data.cache import file_sha256

    hashes = [file_sha256(p) for p in paths]
    if len(hashes) == 1:
        return hashes[0]
    return hashlib.sha256("\n".join(sorted(hashes)).encode()).hexdigest()


def replay_count(fraction: float, num_train: int) -> int:
    """Replay frames so that they make up ``fraction`` of the training frames."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"replay={fraction} must be a fraction in [0, 1), e.g. 0.2 for 20 % replayed frames.")
    return int(round(fraction / (1.0 - fraction) * num_train))


class EnergyShifted(Dataset):
    """A dataset whose energies are moved by a per-element amount: ``E += sum_i shift[z_i]``.

    Parameters
    ----------
    dataset : items with ``z`` (n,) and ``energy`` (1,) eV
    shift : (119,) float64 tensor, eV per atom of each element
    """

    def __init__(self, dataset: Dataset, shift: torch.Tensor):
        self.dataset = dataset
        self.shift = shift.double()

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int):
        data = copy.copy(self.dataset[i])  # shallow: the item the dataset holds keeps its energy
        delta = self.shift[data.z].sum()
        data.energy = data.energy + delta.to(data.energy.dtype)
        return data


class FinetuneDataModule(L.LightningDataModule):
    """Training frames of the new data (plus replay), validation and test of the new data only.

    Parameters
    ----------
    new : MolecularDataModule of the user's data (with train/val[/test] split)
    replay : MolecularDataModule of replay frames (training split only), or None
    batch_size, eval_batch_size : molecules per batch
    seed : shuffling seed
    """

    def __init__(self, new, replay=None, batch_size: int = 8, eval_batch_size: int | None = None, seed: int = 0):
        super().__init__()
        self.new = new
        self.replay = replay
        self.batch_size = int(batch_size)
        self.eval_batch_size = int(eval_batch_size or batch_size)
        self.replay_shift: torch.Tensor | None = None
        self._generator = torch.Generator().manual_seed(int(seed))

    def prepare_data(self) -> None:
        self.new.prepare_data()
        if self.replay is not None:
            self.replay.prepare_data()

    def setup(self, stage: str | None = None) -> None:
        self.new.setup(stage)
        if self.replay is not None:
            self.replay.setup(stage)

    def has_test(self) -> bool:
        return self.new._datasets.get("test") is not None

    @property
    def eval_split(self) -> str:
        """The split the before/after errors are measured on: test when there is one, else validation."""
        return "test" if self.has_test() else "val"

    def train_dataset(self):
        parts = [self.new.train_dataset]
        if self.replay is not None:
            replay = self.replay.train_dataset
            parts.append(replay if self.replay_shift is None else EnergyShifted(replay, self.replay_shift))
        return ConcatDataset(parts) if len(parts) > 1 else parts[0]

    def _loader(self, dataset, batch_size: int, shuffle: bool):
        from torch_geometric.loader import DataLoader

        return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=self._generator if shuffle else None)

    def train_dataloader(self):
        return self._loader(self.train_dataset(), self.batch_size, shuffle=True)

    def val_dataloader(self):
        return self._loader(self.new.val_dataset, self.eval_batch_size, shuffle=False)

    def test_dataloader(self):
        return self._loader(self.new.test_dataset, self.eval_batch_size, shuffle=False)

    def eval_dataloader(self):
        """Loader of :attr:`eval_split`."""
        return self.test_dataloader() if self.has_test() else self.val_dataloader()

    def new_train_loader(self):
        """The new data's training frames, in order (for the E0 refit)."""
        return self._loader(self.new.train_dataset, self.eval_batch_size, shuffle=False)


def read_checked(spec: Any, root: Any):
    """Read a source's frames (reader errors name missing keys) and check its declared unit."""
    from ..data.sources import load_source, parse_source

    source = parse_source(spec, root)
    if source.kind == "file":
        check_declared_units(source.path, source.options.units)
    return source, load_source(source)


def train_arrays(dataset) -> dict[str, np.ndarray]:
    """``z`` (n,), ``natoms`` (F,) and ``energy`` (F,, eV, float64) of a data module split, in loader order."""
    parts = getattr(dataset, "datasets", [dataset])
    arrays = [p.arrays() for p in parts]
    return {k: np.concatenate([a[k] for a in arrays]) for k in ("z", "natoms", "energy")}


def replay_module(
    fraction: float,
    sources: Any,
    root: Any,
    num_train: int,
    cutoff: float,
    batch_size: int,
    dtype: str,
    seed: int,
    use_cache: bool = True,
    verbose: bool = True,
):
    """The data module of the replay frames, and what the card says about them.

    Parameters
    ----------
    fraction : share of the training frames that are replayed, in [0, 1)
    sources : the parent's training data (one source or a list)
    root : folder of its named datasets
    num_train : training frames of the new data
    cutoff, batch_size, dtype, seed, use_cache, verbose : as for the data module

    Returns
    -------
    (MolecularDataModule with only a training split, dict with ``sources``,
    ``fraction``, ``frames`` and ``elements``)
    """
    from ..data.datamodule import MolecularDataModule
    from ..data.sources import load_source, parse_source

    specs = list(sources) if isinstance(sources, (list, tuple)) else [sources]
    wanted = replay_count(float(fraction), num_train)
    if wanted == 0:
        raise ValueError(
            f"replay={fraction} of {num_train} training frames rounds to no replayed frame; give a larger fraction."
        )
    per_source = max(1, wanted // len(specs))
    elements: set[int] = set()
    for spec in specs:
        source = parse_source(spec, root)
        try:
            frames = load_source(source)
        except FileNotFoundError:
            frames = None  # not local yet: the data module downloads it and checks the count
        if frames is not None:
            elements.update(int(z) for z in np.unique(frames.numbers))
            if frames.num_frames < per_source:
                raise ValueError(
                    f"replay={fraction} asks for {per_source} frames of {source.label}, which has "
                    f"{frames.num_frames}; lower the replay fraction."
                )
    dm = MolecularDataModule(
        specs, root=root, cutoff=cutoff, split={"train": per_source, "seed": seed},
        batch_size=batch_size, dtype=dtype, use_cache=use_cache, verbose=verbose,
    )
    dm.prepare_data()
    info = {
        "sources": [s.label for s in dm.sources],
        "fraction": float(fraction),
        "frames": per_source * len(specs),
        "elements": sorted(elements),
    }
    return dm, info
