"""Splits: counts, fractions, the rMD17 protocol; deterministic given the seed."""

from __future__ import annotations

import numpy as np
import pytest

from forcefields.data.errors import DataError
from forcefields.data.splits import parse_split, split_frames


def _check_disjoint(s, num):
    all_idx = np.concatenate(list(s.values()))
    assert len(np.unique(all_idx)) == len(all_idx)
    assert all_idx.min() >= 0 and all_idx.max() < num


def test_counts_and_seed():
    spec = {"train": 50, "val": 10, "test": 20, "seed": 0}
    a = split_frames(spec, 100)
    assert {k: len(v) for k, v in a.items()} == {"train": 50, "val": 10, "test": 20}
    _check_disjoint(a, 100)
    b = split_frames(dict(spec), 100)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    c = split_frames(dict(spec, seed=1), 100)
    assert not np.array_equal(a["train"], c["train"])


def test_fractions_and_rest():
    s = split_frames({"train": 0.8, "val": 0.1, "test": 0.1, "seed": 3}, 95)
    assert {k: len(v) for k, v in s.items()} == {"train": 76, "val": 9, "test": 9}
    s = split_frames({"train": 10, "val": 5, "test": "rest"}, 40)
    assert {k: len(v) for k, v in s.items()} == {"train": 10, "val": 5, "test": 25}
    _check_disjoint(s, 40)
    # default: 80/10/10
    s = split_frames(None, 20)
    assert {k: len(v) for k, v in s.items()} == {"train": 16, "val": 2, "test": 2}


def test_bad_frames_never_in_a_split():
    good = np.ones(30, dtype=bool)
    good[[0, 7, 29]] = False
    s = split_frames({"train": 20, "val": 3, "test": "rest"}, 30, good)
    all_idx = np.concatenate(list(s.values()))
    assert len(all_idx) == 27 and not set(all_idx) & {0, 7, 29}


def test_rmd17_protocol():
    groups = {"train_01": np.arange(100, 200), "test_01": np.arange(0, 50), "train_02": np.arange(50, 150)}
    s = split_frames({"protocol": "rmd17:1", "train": 60, "val": 10, "seed": 4}, 200, groups=groups)
    assert len(s["train"]) == 60 and len(s["val"]) == 10
    assert set(s["train"]) | set(s["val"]) <= set(range(100, 200))
    np.testing.assert_array_equal(s["test"], np.arange(50))
    _check_disjoint(s, 200)
    again = split_frames({"protocol": "rmd17:1", "train": 60, "val": 10, "seed": 4}, 200, groups=groups)
    assert np.array_equal(s["val"], again["val"])
    assert parse_split("rmd17:3").sizes == {"train": 950, "val": 50, "test": "all"}


def test_split_mistakes():
    with pytest.raises(DataError, match=r"asks for 120 frames .* only 100 usable frames"):
        split_frames({"train": 100, "val": 20}, 100)
    with pytest.raises(DataError, match=r"split 'val' gets 0 of its 5 frames \(fraction 0.1\)"):
        split_frames({"train": 0.8, "val": 0.1}, 5, label="x")
    with pytest.raises(DataError, match="mix counts and fractions"):
        parse_split({"train": 10, "val": 0.1})
    with pytest.raises(DataError, match=r"unknown split name\(s\) \['valid'\]"):
        parse_split({"train": 10, "valid": 2})
    with pytest.raises(DataError, match=r"add up to 1.2"):
        parse_split({"train": 0.9, "val": 0.3})
    with pytest.raises(DataError, match=r"unknown split 'rmd17:9'"):
        parse_split("rmd17:9")
    with pytest.raises(DataError, match=r"needs the rMD17 files train_01 and test_01, but mine.xyz has none"):
        split_frames("rmd17:1", 100, label="mine.xyz")
