"""The graph cache: a second load hits and gives identical tensors; changed inputs miss."""

from __future__ import annotations

import json
import os

import numpy as np
import torch

from forcefields.data import MolecularDataModule
from forcefields.data.cache import cache_dir, file_sha256

from ._tiny import labelled, write_extxyz

SPLIT = {"train": 10, "val": 4, "test": 6, "seed": 0}


def _setup(root, **kw):
    kw.setdefault("cutoff", 5.0)
    dm = MolecularDataModule(["rmd17:ethanol"], root=root, split=SPLIT, batch_size=5, verbose=False, **kw)
    dm.setup()
    return dm


def _all_batches(dm):
    out = []
    for loader in (dm.val_dataloader(), dm.test_dataloader()):
        for b in loader:
            out.append({k: b[k] for k in ("z", "pos", "energy", "forces", "edge_index", "natoms", "cell", "pbc")})
    return out


def test_second_load_hits_cache_with_identical_tensors(rmd17_root, caplog):
    first = _setup(rmd17_root)
    assert first.cache_hits == {"rmd17:ethanol": False}
    path = first.cache_files["rmd17:ethanol"]
    assert path.parent == cache_dir() / "graphs" and path.suffix == ".safetensors"
    with caplog.at_level("INFO", logger="forcefields.data"):
        second = _setup(rmd17_root)
    assert second.cache_hits == {"rmd17:ethanol": True}
    assert "graph cache hit" in caplog.text
    a, b = _all_batches(first), _all_batches(second)
    assert len(a) == len(b) > 0
    for x, y in zip(a, b):
        for k in x:
            assert x[k].dtype == y[k].dtype and torch.equal(x[k], y[k]), k
    assert first.statistics == second.statistics


def test_changed_settings_miss(rmd17_root):
    _setup(rmd17_root)
    assert _setup(rmd17_root, cutoff=3.0).cache_hits["rmd17:ethanol"] is False
    assert _setup(rmd17_root, cutoff=3.0).cache_hits["rmd17:ethanol"] is True
    assert _setup(rmd17_root, dtype="float64").cache_hits["rmd17:ethanol"] is False
    # a different file content misses even at the same path
    for f in rmd17_root.glob("rmd17_ethanol_*.npz"):
        with np.load(f) as d:
            arrays = dict(d)
        arrays["energies"] = arrays["energies"] + 1.0
        np.savez(f, **arrays)
        os.utime(f, ns=(1, 1))
    assert _setup(rmd17_root).cache_hits["rmd17:ethanol"] is False


def test_cache_file_is_safetensors_not_pickle(rmd17_root):
    from safetensors import safe_open

    path = _setup(rmd17_root).cache_files["rmd17:ethanol"]
    with safe_open(str(path), framework="pt") as f:
        keys = set(f.keys())
        meta = json.loads(f.metadata()["key"])
    assert {"z", "pos", "forces", "energy", "edge_index", "natoms"} <= keys
    assert meta["cutoff"] == "5.0" and meta["dtype"] == "float32" and len(meta["files"]) == 2


def test_file_hash_is_remembered(tmp_path):
    path = write_extxyz(tmp_path / "w.xyz", labelled("water", 2))
    digest = file_sha256(path)
    memo = list((cache_dir() / "filehashes").glob("*.json"))
    assert len(memo) == 1 and json.loads(memo[0].read_text())["sha256"] == digest
    # a stale record with the same size and mtime is trusted (that is the point of the memo)
    record = json.loads(memo[0].read_text())
    memo[0].write_text(json.dumps(dict(record, sha256="x" * 64)))
    assert file_sha256(path) == "x" * 64
    # a changed file is hashed again
    write_extxyz(path, labelled("water", 3))
    assert file_sha256(path) not in (digest, "x" * 64)


def test_use_cache_false_writes_nothing(rmd17_root):
    dm = _setup(rmd17_root, use_cache=False)
    assert dm.cache_files["rmd17:ethanol"] is None
    assert not (cache_dir() / "graphs").exists()
