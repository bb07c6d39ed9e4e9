"""What a grid has done: each run's state, progress, compute and time.

    rows, totals = grid_status("runs/scaling")
    print(format_status(rows, totals))
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from .results import STATES, load_runs

__all__ = ["grid_status", "format_status"]


def grid_status(out: str | Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """One row per run and the totals of a grid folder.

    Returns
    -------
    rows : list of dict with ``run``, ``state``, ``parameters``, ``structures`` (seen),
        ``max_structures``, ``flops`` (spent, FLOPs), ``seconds`` (train + eval wall-clock, s),
        ``last_metric`` (validation force MAE, meV/Å), ``note``
    totals : dict with counts per state, ``flops``, ``seconds`` and ``device_hours``
    """
    rows = []
    for run in load_runs(out):
        fps = run.flops_per_structure or 0.0
        note = ""
        if run.state == "diverged":
            note = run.diverged_reason or ""
        elif run.state == "failed":
            text = (run.folder / "error.txt").read_text(encoding="utf-8").splitlines()
            note = text[0] if text else ""
        devices = int(run.settings.get("grid", {}).get("devices", 1) or 1)
        rows.append(
            {
                "run": run.name,
                "state": run.state,
                "parameters": run.num_parameters,
                "structures": run.structures_seen,
                "max_structures": run.max_structures or None,
                "flops": fps * run.structures_seen,
                "seconds": run.seconds,
                "device_seconds": run.seconds * devices,
                "last_metric": run.curve[-1].get("val_forces_mae") if run.curve else None,
                "note": note,
            }
        )
    counts = Counter(r["state"] for r in rows)
    totals = {
        "runs": len(rows),
        **{s: counts.get(s, 0) for s in STATES},
        "flops": sum(r["flops"] for r in rows),
        "seconds": sum(r["seconds"] for r in rows),
        "device_hours": sum(r["device_seconds"] for r in rows) / 3600.0,
    }
    return rows, totals


def format_status(rows: list[dict[str, Any]], totals: dict[str, Any]) -> str:
    """A plain-text table and a totals line."""
    header = f"{'run':<14} {'state':<9} {'params':>10} {'structures':>19} {'FLOPs':>10} {'time (s)':>9} {'F MAE':>9}  note"
    lines = [header, "-" * len(header)]
    for r in rows:
        seen = f"{r['structures']:,}/{r['max_structures']:,}" if r["max_structures"] else "-"
        mae = f"{r['last_metric']:.1f}" if r["last_metric"] is not None else "-"
        params = f"{r['parameters']:,}" if r["parameters"] else "-"
        lines.append(
            f"{r['run']:<14} {r['state']:<9} {params:>10} {seen:>19} {r['flops']:>10.3g} "
            f"{r['seconds']:>9.1f} {mae:>9}  {r['note']}"
        )
    done = ", ".join(f"{totals[s]} {s}" for s in STATES if totals[s])
    lines.append(
        f"{totals['runs']} runs: {done}; compute spent {totals['flops']:.3g} FLOPs, "
        f"{totals['seconds']:.1f} s wall-clock ({totals['device_hours']:.3g} device-hours); F MAE in meV/Å"
    )
    return "\n".join(lines)
