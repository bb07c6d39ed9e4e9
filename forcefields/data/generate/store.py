"""Corpus files: one compact ``.npz`` shard per work unit, its JSON record, and the manifest.

Layout of a corpus folder::

    manifest.json          settings, generator version, SMILES file hash; when complete:
                           counts, failures by cause, time spent, every shard's sha256
    units/unit-00012.npz   the labelled geometries of unit 12 (arrays below)
    units/unit-00012.json  its record: sha256 of the npz, counts, failures, seconds
    failures.jsonl         every failure with its SMILES, line and cause (when complete)

A unit's ``.json`` is written after its ``.npz`` (both through a rename), so a
unit with a record is complete; an interrupted run redoes only units without one.

Shard arrays: ``numbers`` (n,) uint8; ``positions`` (n, 3) float64 Å;
``forces`` (n, 3) float32 eV/Å; ``energy`` (F,) float64 eV; ``natoms`` (F,)
int32; ``molecule`` (F,) int64 (row of the SMILES file, or molecule id of a
user's file); ``conformer``, ``kind``, ``split``, ``charge`` (F,) int8;
``temperature`` (F,) float32 K.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError

__all__ = ["unit_paths", "write_unit", "read_unit_record", "unit_complete", "read_manifest", "write_json",
           "sha256_of", "MANIFEST", "FORMAT_VERSION", "stack_frames"]

MANIFEST = "manifest.json"
FORMAT_VERSION = 1


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_json(path: Path, data: Any) -> None:
    """Write JSON through a temporary file and a rename (never half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
    os.replace(tmp, path)


def unit_paths(out: Path, unit: int) -> tuple[Path, Path]:
    """(shard npz, record json) of a unit."""
    return out / "units" / f"unit-{unit:05d}.npz", out / "units" / f"unit-{unit:05d}.json"


def stack_frames(frames: list[dict]) -> dict[str, np.ndarray]:
    """The shard arrays of a list of frame dicts (see the module docstring)."""
    if not frames:
        return {
            "numbers": np.zeros(0, np.uint8), "positions": np.zeros((0, 3)), "forces": np.zeros((0, 3), np.float32),
            "energy": np.zeros(0), "natoms": np.zeros(0, np.int32), "molecule": np.zeros(0, np.int64),
            "conformer": np.zeros(0, np.int8), "kind": np.zeros(0, np.int8), "split": np.zeros(0, np.int8),
            "charge": np.zeros(0, np.int8), "temperature": np.zeros(0, np.float32),
        }
    return {
        "numbers": np.concatenate([f["numbers"] for f in frames]).astype(np.uint8),
        "positions": np.concatenate([f["positions"] for f in frames]).astype(np.float64),
        "forces": np.concatenate([f["forces"] for f in frames]).astype(np.float32),
        "energy": np.array([f["energy"] for f in frames], dtype=np.float64),
        "natoms": np.array([len(f["numbers"]) for f in frames], dtype=np.int32),
        "molecule": np.array([f["molecule"] for f in frames], dtype=np.int64),
        "conformer": np.array([f["conformer"] for f in frames], dtype=np.int8),
        "kind": np.array([f["kind"] for f in frames], dtype=np.int8),
        "split": np.array([f["split"] for f in frames], dtype=np.int8),
        "charge": np.array([f["charge"] for f in frames], dtype=np.int8),
        "temperature": np.array([f["temperature"] for f in frames], dtype=np.float32),
    }


def write_unit(out: Path, unit: int, arrays: dict[str, np.ndarray], record: dict[str, Any]) -> dict[str, Any]:
    """Write a unit's shard, then its record (which marks it complete). Returns the record."""
    npz, js = unit_paths(out, unit)
    npz.parent.mkdir(parents=True, exist_ok=True)
    tmp = npz.with_name(f".{npz.stem}.{os.getpid()}.tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, npz)
    record = dict(record, unit=unit, file=f"units/{npz.name}", sha256=sha256_of(npz),
                  geometries=int(arrays["energy"].shape[0]))
    write_json(js, record)
    return record


def read_unit_record(out: Path, unit: int) -> dict[str, Any] | None:
    """A unit's record, or None when the unit is not complete."""
    npz, js = unit_paths(out, unit)
    if not js.is_file() or not npz.is_file():
        return None
    try:
        return json.loads(js.read_text())
    except ValueError:
        return None


def unit_complete(out: Path, unit: int) -> bool:
    return read_unit_record(out, unit) is not None


def read_manifest(out: Path) -> dict[str, Any]:
    """The manifest of a corpus folder, with one clear sentence when there is none."""
    path = Path(out) / MANIFEST
    if not path.is_file():
        raise DataError(f"{out} is not a corpus folder (no {MANIFEST}); make one with `forcefields data generate "
                        "--out FOLDER ...` or check the path.", path=str(out))
    try:
        return json.loads(path.read_text())
    except ValueError as err:
        raise DataError(f"{path} is not valid JSON ({err}); regenerate the manifest by rerunning the same "
                        "`forcefields data generate` command (finished units are kept).", path=str(path)) from err
