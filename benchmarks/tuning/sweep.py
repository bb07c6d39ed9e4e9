"""Short fixed-budget training runs to tune a family's recipe, and their table.

A sweep file (JSON) names the runs; every run is ``forcefields train`` on the
same data with its own model and flags, a wall-clock budget and a thread count:

    {"data": "rmd17:aspirin", "split": "rmd17:1", "runs_dir": "runs/sweep",
     "runs": [{"name": "egnn-s-lr1e-2", "model": "egnn-s", "minutes": 8, "threads": 1,
               "args": ["--batch-size", "4", "--lr", "1e-2"]}, ...]}

    python benchmarks/tuning/sweep.py run benchmarks/tuning/egnn-aspirin.json --root ../shared/data/rmd17 --parallel 2
    python benchmarks/tuning/sweep.py table benchmarks/tuning/egnn-aspirin.json

``run`` skips runs whose folder already holds ``metrics.json``; ``--parallel 2``
runs two at once (on a 2-core machine, one thread each). ``table`` reads each
run's ``metrics.json`` and writes ``<sweep>.results.json`` beside the sweep
file and prints a markdown table (the best validation force MAE, which is what
a choice between runs should read, then test energy and force MAE, epochs, s/epoch).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


def _command(sweep: dict, run: dict, root: str) -> list[str]:
    minutes = int(run["minutes"])
    return [
        sys.executable, "-m", "forcefields", "train",
        "--model", run["model"],
        "--data", sweep["data"],
        "--root", root,
        "--split", sweep["split"],
        "--max-time", f"00:{minutes // 60:02d}:{minutes % 60:02d}:00",
        "--max-epochs", "100000",
        "--seed", str(run.get("seed", 0)),
        "--no-progress-bar",
        "--out", str(Path(sweep["runs_dir"]) / run["name"]),
        *run.get("args", []),
    ]


def _run_one(sweep: dict, run: dict, root: str) -> str:
    out = Path(sweep["runs_dir"]) / run["name"]
    if (out / "metrics.json").exists():
        return f"{run['name']}: done before, skipped"
    out.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": str(run.get("threads", 1))}
    start = time.time()
    with open(out.parent / f"{run['name']}.log", "w") as log:
        code = subprocess.call(_command(sweep, run, root), env=env, stdout=log, stderr=subprocess.STDOUT)
    return f"{run['name']}: exit {code} after {time.time() - start:.0f} s"


def run(args: argparse.Namespace) -> None:
    sweep = json.loads(Path(args.sweep).read_text())
    with ThreadPoolExecutor(max_workers=args.parallel) as pool:
        for line in pool.map(lambda r: _run_one(sweep, r, args.root), sweep["runs"]):
            print(line, flush=True)


def table(args: argparse.Namespace) -> None:
    sweep = json.loads(Path(args.sweep).read_text())
    rows = []
    for r in sweep["runs"]:
        path = Path(sweep["runs_dir"]) / r["name"] / "metrics.json"
        if not path.exists():
            print(f"{r['name']}: no metrics.json yet ({path})", file=sys.stderr)
            continue
        m = json.loads(path.read_text())
        rows.append(
            dict(
                name=r["name"], model=r["model"], args=" ".join(r.get("args", [])),
                minutes=r["minutes"], threads=r.get("threads", 1), note=r.get("note", ""),
                parameters=m["num_parameters"], epochs=m["epochs"],
                seconds_per_epoch=round(m["seconds_per_epoch"], 2),
                best_val_forces_mae_meV_per_A=(
                    None if m.get("best_val_forces_mae") is None else round(m["best_val_forces_mae"], 1)
                ),
                energy_mae_meV=round(m["test"]["energy_mae"], 1),
                forces_mae_meV_per_A=round(m["test"]["forces_mae"], 1),
            )
        )
    out = Path(args.sweep).with_suffix(".results.json")
    out.write_text(json.dumps(dict(data=sweep["data"], split=sweep["split"], runs=rows), indent=1) + "\n")
    print("| run | model | flags | budget | epochs | s/epoch | best val force MAE (meV/Å) "
          "| test energy MAE (meV) | test force MAE (meV/Å) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for x in rows:
        print(
            f"| {x['name']} | `{x['model']}` | `{x['args']}` | {x['minutes']} min, {x['threads']} thread(s) "
            f"| {x['epochs']} | {x['seconds_per_epoch']} | {x['best_val_forces_mae_meV_per_A']} "
            f"| {x['energy_mae_meV']} | {x['forces_mae_meV_per_A']} |"
        )
    print(f"\nwritten {out}", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser("run")
    p.add_argument("sweep")
    p.add_argument("--root", required=True, help="folder holding the dataset")
    p.add_argument("--parallel", type=int, default=1)
    p.set_defaults(func=run)
    t = sub.add_parser("table")
    t.add_argument("sweep")
    t.set_defaults(func=table)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
