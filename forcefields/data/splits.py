"""Train/validation/test splits: by counts, by fractions, or the rMD17 protocol.

A split is specified as

- a dict of counts ``{"train": 950, "val": 50, "test": 1000, "seed": 0}``;
- a dict of fractions ``{"train": 0.8, "val": 0.1, "test": 0.1, "seed": 0}``
  (one value may be ``"rest"``: what the others leave);
- ``"rmd17:N"`` (N = 1..5), the literature protocol: 950 training and 50
  validation frames drawn (by seed) from the standard ``train_0N`` split and
  the 1000 frames of ``test_0N`` for testing; ``{"protocol": "rmd17:1",
  "train": 1000, "val": 0, "seed": 3}`` changes the numbers;
- ``"corpus"``: the split by molecule a corpus carries (``xtb:`` sources;
  their default): ``train``, ``val`` and ``test`` molecules as generated;
  ``{"protocol": "corpus", "train": 50000, "test": "test_md500", "seed": 0}``
  draws 50,000 of the training frames and tests on the 500 K MD frames.

Sources that know which molecule each frame belongs to (corpora) are split
by molecule under fractions too, never by geometry.

Splits apply to each source separately (so every molecule of a mixed
training set is represented in every split), with the same seed, and are then
concatenated. Given the same frames and seed a split is always the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Union

import numpy as np

from .errors import DataError

__all__ = ["SplitSpec", "parse_split", "split_frames", "SPLIT_NAMES"]

SPLIT_NAMES = ("train", "val", "test")
SplitLike = Union[None, str, dict, "SplitSpec"]
DEFAULT_SPLIT = {"train": 0.8, "val": 0.1, "test": 0.1, "seed": 0}


@dataclass(frozen=True)
class SplitSpec:
    """A parsed split.

    Attributes
    ----------
    sizes : dict name -> int (count), float (fraction) or "rest"
    seed : int
    protocol : int or None, the rMD17 split number (1..5) when following that protocol
    """

    sizes: dict[str, Any]
    seed: int = 0
    protocol: int | None = None
    groups: str | None = None  # "corpus": the source's own train/val/test groups

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = dict(self.sizes, seed=self.seed)
        if self.protocol is not None:
            d["protocol"] = f"rmd17:{self.protocol}"
        if self.groups is not None:
            d["protocol"] = self.groups
        return d


def _corpus_split(d: dict, seed: int) -> SplitSpec:
    sizes = {"train": d.get("train", "all"), "val": d.get("val", "all"), "test": d.get("test", "test")}
    for name in ("train", "val"):
        v = sizes[name]
        if v != "all" and (not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 0):
            raise DataError(f"with the corpus split '{name}' must be 'all' or a count of frames; got {v!r}.")
    if sizes["test"] not in ("test", "test_md500"):
        raise DataError(f"with the corpus split 'test' names a group: 'test' (held-out molecules) or 'test_md500' "
                        f"(their 500 K MD frames); got {sizes['test']!r}.")
    return SplitSpec(sizes, seed=int(seed), groups="corpus")


def _protocol_number(text: str) -> int:
    kind, _, n = str(text).partition(":")
    if kind.lower() != "rmd17" or not n.isdigit() or not 1 <= int(n) <= 5:
        raise DataError(
            f"unknown split {text!r}; use 'rmd17:1' .. 'rmd17:5', 'corpus' or a dict such as "
            "{'train': 950, 'val': 50, 'test': 1000, 'seed': 0}."
        )
    return int(n)


def parse_split(split: SplitLike) -> SplitSpec:
    """Parse a user's split specification (None: 80/10/10 fractions, seed 0)."""
    if isinstance(split, SplitSpec):
        return split
    if split is None:
        split = DEFAULT_SPLIT
    if isinstance(split, str) and split.strip().lower() == "corpus":
        return _corpus_split({}, 0)
    if isinstance(split, str):
        return SplitSpec({"train": 950, "val": 50, "test": "all"}, seed=0, protocol=_protocol_number(split))
    if not isinstance(split, dict):
        raise DataError(f"split must be a dict, 'rmd17:N' or None; got {split!r}.")
    d = dict(split)
    seed = d.pop("seed", 0)
    if not isinstance(seed, (int, np.integer)):
        raise DataError(f"split seed must be an integer; got {seed!r}.")
    protocol = d.pop("protocol", None)
    unknown = sorted(set(d) - set(SPLIT_NAMES))
    if unknown:
        raise DataError(f"unknown split name(s) {unknown}; use {list(SPLIT_NAMES)} (and 'seed', 'protocol').")
    if isinstance(protocol, str) and protocol.strip().lower() == "corpus":
        return _corpus_split(d, seed)
    if protocol is not None:
        n = _protocol_number(protocol)
        sizes = {"train": d.get("train", 950), "val": d.get("val", 50), "test": "all"}
        if "test" in d and d["test"] != "all":
            raise DataError("with the rMD17 protocol the test split is the whole test_0N file; leave 'test' out.")
        for name in ("train", "val"):
            if not isinstance(sizes[name], (int, np.integer)) or sizes[name] < 0:
                raise DataError(f"with the rMD17 protocol '{name}' must be a count of frames; got {sizes[name]!r}.")
        return SplitSpec(sizes, seed=int(seed), protocol=n)
    if not d:
        raise DataError("split names no frames; give e.g. {'train': 0.8, 'val': 0.1, 'test': 0.1}.")
    rest = [k for k, v in d.items() if v == "rest"]
    if len(rest) > 1:
        raise DataError(f"only one split may be 'rest'; got {rest}.")
    values = [v for v in d.values() if v != "rest"]
    is_count = [isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values]
    is_frac = [isinstance(v, (float, np.floating)) for v in values]
    if not all(c or f for c, f in zip(is_count, is_frac)):
        raise DataError(f"split sizes must be counts (int) or fractions (float); got {split!r}.")
    if any(is_count) and any(is_frac):
        raise DataError(f"split sizes mix counts and fractions ({split!r}); use all counts or all fractions.")
    if any(v < 0 for v in values):
        raise DataError(f"split sizes must not be negative; got {split!r}.")
    if all(is_frac) and values and sum(values) > 1.0 + 1e-9:
        raise DataError(f"split fractions add up to {sum(values):g} > 1; make them sum to at most 1.")
    return SplitSpec({k: d[k] for k in SPLIT_NAMES if k in d}, seed=int(seed))


def _counts(spec: SplitSpec, available: int, label: str) -> dict[str, int]:
    sizes = spec.sizes
    fixed = {k: v for k, v in sizes.items() if v != "rest"}
    if any(isinstance(v, float) for v in fixed.values()):
        counts = {k: int(np.floor(v * available + 1e-9)) for k, v in fixed.items()}
        for k, v in fixed.items():
            if v > 0 and counts[k] == 0:
                raise DataError(
                    f"{label}: split '{k}' gets 0 of its {available} frames (fraction {v}); "
                    "use more frames, a larger fraction, or a count."
                )
    else:
        counts = {k: int(v) for k, v in fixed.items()}
    used = sum(counts.values())
    if used > available:
        raise DataError(
            f"{label}: the split asks for {used} frames ({counts}) but only {available} usable frames exist; "
            "ask for fewer."
        )
    for k, v in sizes.items():
        if v == "rest":
            counts[k] = available - used
    return counts


def split_frames(
    spec: SplitLike,
    num_frames: int,
    good: np.ndarray | None = None,
    groups: dict[str, np.ndarray] | None = None,
    label: str = "source",
    molecules: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Frame indices of each split of one source.

    Parameters
    ----------
    spec : split specification (see module docstring)
    num_frames : frames in the source
    good : (num_frames,) bool, frames allowed in any split (bad frames left out)
    groups : predefined subsets of the source (rMD17 ``train_01``, ``test_01``, ...)
    label : the source's name, for messages
    molecules : (num_frames,) molecule id of each frame; fractions then split
        molecules (all frames of a molecule land in one split)

    Returns
    -------
    dict ``train``/``val``/``test`` -> sorted (k,) int64 frame indices; disjoint.
    """
    spec = parse_split(spec)
    good = np.ones(num_frames, dtype=bool) if good is None else np.asarray(good, dtype=bool)
    rng = np.random.default_rng(spec.seed)
    out: dict[str, np.ndarray] = {}
    if spec.groups == "corpus":
        if not groups or any(name not in groups for name in ("train", "val", "test")):
            raise DataError(f"split 'corpus' needs a source with its own train/val/test groups (a corpus made by "
                            f"`forcefields data generate`), but {label} has none; use a split by counts or fractions.")
        for name in ("train", "val"):
            pool = np.asarray(groups[name], dtype=np.int64)
            pool = pool[good[pool]]
            want = spec.sizes[name]
            if want != "all":
                if want > pool.size:
                    raise DataError(f"{label}: the split asks for {want} {name} frames but the corpus has {pool.size}; "
                                    "ask for fewer.")
                pool = rng.permutation(pool)[:want]
            out[name] = pool
        test = np.asarray(groups.get(spec.sizes["test"], np.zeros(0, np.int64)), dtype=np.int64)
        out["test"] = test[good[test]]
    elif molecules is not None and spec.protocol is None:
        out = _split_molecules(spec, np.asarray(molecules), good, rng, label)
    elif spec.protocol is not None:
        n = spec.protocol
        names = (f"train_{n:02d}", f"test_{n:02d}")
        if not groups or any(name not in groups for name in names):
            have = sorted(groups) if groups else "none"
            raise DataError(
                f"split 'rmd17:{n}' needs the rMD17 files {names[0]} and {names[1]}, but {label} has "
                f"{have}; use an rMD17 source with its split files, or a split by counts or fractions."
            )
        pool = np.asarray(groups[names[0]], dtype=np.int64)
        pool = pool[good[pool]]
        counts = _counts(SplitSpec({"val": spec.sizes["val"], "train": spec.sizes["train"]}), pool.size, label)
        order = rng.permutation(pool)
        out["val"] = order[: counts["val"]]
        out["train"] = order[counts["val"] : counts["val"] + counts["train"]]
        test = np.asarray(groups[names[1]], dtype=np.int64)
        out["test"] = test[good[test]]
    else:
        pool = np.flatnonzero(good)
        counts = _counts(spec, pool.size, label)
        order = rng.permutation(pool)
        start = 0
        for name in SPLIT_NAMES:
            k = counts.get(name, 0)
            out[name] = order[start : start + k]
            start += k
    return {name: np.sort(out.get(name, np.zeros(0, dtype=np.int64))).astype(np.int64) for name in SPLIT_NAMES}


def _split_molecules(spec: SplitSpec, molecules: np.ndarray, good: np.ndarray, rng, label: str) -> dict[str, np.ndarray]:
    """Fractions of the molecules (each with all its usable frames) per split."""
    if any(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in spec.sizes.values()):
        raise DataError(f"{label} holds many molecules and is split by molecule; give fractions (e.g. "
                        "{'train': 0.8, 'val': 0.1, 'test': 0.1}) or, for a corpus, 'corpus', not frame counts.")
    ids = np.unique(molecules[good])
    counts = _counts(spec, ids.size, f"{label} (molecules)")
    order = rng.permutation(ids)
    out, start = {}, 0
    for name in SPLIT_NAMES:
        k = counts.get(name, 0)
        chosen = order[start : start + k]
        out[name] = np.flatnonzero(good & np.isin(molecules, chosen))
        start += k
    return out
