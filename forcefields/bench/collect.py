"""Stored results -> the rows tables and plots are made of."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .store import load_results

__all__ = ["DeviceResults", "collect", "peer_ratio", "ok"]


@dataclass
class DeviceResults:
    """Every complete result file of one device folder."""

    label: str
    folder: Path
    speed: list[dict] = field(default_factory=list)  # records of all speed-*.json
    accuracy: list[dict] = field(default_factory=list)
    stability: list[dict] = field(default_factory=list)  # records of stability.json
    runs: dict[str, dict] = field(default_factory=dict)  # run_id -> run header
    files: list[Path] = field(default_factory=list)


def ok(records: list[dict], **match) -> list[dict]:
    """Records with status ok whose fields equal ``match``."""
    return [r for r in records if r["status"] == "ok" and all(r.get(k) == v for k, v in match.items())]


def collect(results: str | Path) -> list[DeviceResults]:
    """Load and validate every complete result file under ``results/<device>/``.

    Partial files (``*.partial.json``) are ignored: only complete runs are reported.

    Raises
    ------
    FileNotFoundError : no results folder, or no result file in it
    SchemaError : a result file is broken (named in the message)
    """
    root = Path(results)
    if not root.is_dir():
        raise FileNotFoundError(f"results folder {root} does not exist; run `forcefields bench speed` first.")
    out = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        files = sorted(f for f in folder.glob("*.json") if not f.name.endswith(".partial.json"))
        files = [f for f in files if f.name.startswith(("speed-", "accuracy", "stability"))]
        if not files:
            continue
        dev = DeviceResults(folder.name, folder, files=files)
        for f in files:
            doc = load_results(f)
            for run in doc["runs"]:
                dev.runs[run["run_id"]] = run
            getattr(dev, doc["kind"]).extend(doc["records"])
        out.append(dev)
    if not out:
        raise FileNotFoundError(f"no result files under {root}; run `forcefields bench speed` or `bench accuracy` first.")
    return out


def peer_ratio(record: dict, records: list[dict], peer_model: str, allow_peer: bool = False) -> float | None:
    """Peer time / the record's time for the same point of the same run (>1: the record is faster).

    Only a peer record of the same ``run_id``, compile mode, dtype and point
    counts: ratios are never taken across runs. ``record`` is one of our
    models unless ``allow_peer`` (to compare two peers).
    """
    if record["status"] != "ok" or (record["source"] == "peer" and not allow_peer):
        return None
    for r in records:
        if (
            r["source"] == "peer"
            and r["model"] == peer_model
            and r["status"] == "ok"
            and r["run_id"] == record["run_id"]
            and r["compile"] == record["compile"]
            and r["dtype"] == record["dtype"]
            and r["regime"] == record["regime"]
            and r["system"] == record["system"]
            and r["n_atoms"] == record["n_atoms"]
            and r["n_molecules"] == record["n_molecules"]
        ):
            return r["median_s"] / record["median_s"]
    return None
