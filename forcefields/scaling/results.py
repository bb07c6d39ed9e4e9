"""Run folders: what each holds, its state, and the merge of a whole grid.

A run folder ``<out>/<family>-<size>/`` holds

    settings.json      the grid's settings plus what this run resolved (variant, width, lr, N, eval points)
    flops.json         FLOPs and seconds per structure measured on real batches
    curve.jsonl        one line per evaluation (see :mod:`.curve`)
    checkpoints/last.ckpt   Lightning's, for resuming
    running.json       present while a process trains it (host, pid, heartbeat)
    error.txt          the last failure's message
    summary.json       written when the run ends: status "complete" or "diverged"

The grid folder ``<out>/`` holds ``grid.json`` (the settings and the planned runs).
Nothing else is kept anywhere: status, fits and plots read these files.
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .curve import read_curve
from .errors import ScalingError

__all__ = ["RunRecord", "load_runs", "run_state", "read_json", "write_json", "load_grid", "STATES"]

# complete, diverged: ended; running: a live process holds it; partial: started, stopped
# before its end (killed, or failed: see error.txt); left: planned, not started.
STATES = ("complete", "diverged", "running", "failed", "partial", "left")
# A lock whose heartbeat is older than this, held by another host, is taken to be dead.
STALE_SECONDS = 6 * 3600


def read_json(path: str | Path) -> dict[str, Any] | None:
    path = Path(path)
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return None


def write_json(path: str | Path, data: Any) -> None:
    """Write JSON atomically (a reader never sees half a file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, allow_nan=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def lock_is_live(lock: dict[str, Any] | None) -> bool:
    """Whether a ``running.json`` belongs to a process that is still alive."""
    if not lock:
        return False
    if lock.get("host") == socket.gethostname():
        try:
            os.kill(int(lock["pid"]), 0)
        except (ProcessLookupError, ValueError, KeyError):
            return False
        except PermissionError:
            return True
        return True
    return time.time() - float(lock.get("heartbeat", 0)) < STALE_SECONDS


def run_state(folder: str | Path) -> str:
    """One of :data:`STATES` for a run folder."""
    folder = Path(folder)
    summary = read_json(folder / "summary.json")
    if summary and summary.get("status") in ("complete", "diverged"):
        return summary["status"]
    if lock_is_live(read_json(folder / "running.json")):
        return "running"
    if (folder / "error.txt").is_file():
        return "failed"
    if (folder / "settings.json").is_file():
        return "partial"
    return "left"


@dataclass
class RunRecord:
    """Everything a run folder holds, parsed.

    Attributes
    ----------
    name : str, e.g. ``"egnn-m"``; family : str, e.g. ``"egnn"`` or ``"esen-l2"``; size : str
    folder : Path; state : one of :data:`STATES`
    settings : dict, the content of ``settings.json`` (``grid`` = the shared protocol, ``run`` = resolved)
    flops : dict or None, ``flops.json``
    curve : list of dict, ``curve.jsonl`` rows sorted by structures seen
    summary : dict or None, ``summary.json``
    """

    name: str
    family: str
    size: str
    folder: Path
    state: str
    settings: dict[str, Any] = field(default_factory=dict)
    flops: dict[str, Any] | None = None
    curve: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] | None = None

    @property
    def protocol(self) -> dict[str, Any]:
        return dict(self.settings.get("grid", {}))

    @property
    def num_parameters(self) -> int | None:
        value = self.settings.get("run", {}).get("num_parameters")
        return int(value) if value is not None else None

    @property
    def flops_per_structure(self) -> float | None:
        return float(self.flops["flops_per_structure"]) if self.flops else None

    @property
    def structures_seen(self) -> int:
        return int(self.curve[-1]["structures"]) if self.curve else 0

    @property
    def max_structures(self) -> int:
        points = self.settings.get("run", {}).get("eval_points") or [0]
        return int(points[-1])

    @property
    def seconds(self) -> float:
        """Wall-clock seconds spent training and evaluating (up to the last evaluation)."""
        if not self.curve:
            return 0.0
        last = self.curve[-1]
        return float(last.get("train_seconds") or 0.0) + float(last.get("eval_seconds") or 0.0)

    @property
    def diverged_reason(self) -> str | None:
        if self.summary and self.summary.get("status") == "diverged":
            return self.summary.get("reason") or "diverged"
        return None


def load_grid(out: str | Path) -> dict[str, Any]:
    """The ``grid.json`` of a grid folder (raises a one-sentence error when it is not one)."""
    out = Path(out)
    grid = read_json(out / "grid.json")
    if grid is None:
        if not out.exists():
            raise ScalingError(f"{out} does not exist; give the --out folder of a `forcefields scaling run`.")
        raise ScalingError(f"{out} holds no grid.json; give the --out folder of a `forcefields scaling run`.")
    return grid


def load_runs(out: str | Path) -> list[RunRecord]:
    """Every run of a grid folder (planned ones too), in the grid's order, then any extra folders found."""
    out = Path(out)
    grid = load_grid(out)
    planned = [(r["name"], r["family"], r["size"]) for r in grid.get("runs", [])]
    names = {p[0] for p in planned}
    for folder in sorted(out.iterdir()):
        settings = read_json(folder / "settings.json") if folder.is_dir() else None
        if settings and folder.name not in names:
            run = settings.get("run", {})
            planned.append((folder.name, run.get("family", folder.name), run.get("size", "")))
    records = []
    for name, family, size in planned:
        folder = out / name
        records.append(
            RunRecord(
                name=name,
                family=family,
                size=size,
                folder=folder,
                state=run_state(folder),
                settings=read_json(folder / "settings.json") or {},
                flops=read_json(folder / "flops.json"),
                curve=read_curve(folder / "curve.jsonl"),
                summary=read_json(folder / "summary.json"),
            )
        )
    return records
