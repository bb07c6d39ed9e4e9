"""Test error of a long training run against training time, from its checkpoint snapshots.

    python benchmarks/long_run/test_curve.py runs/long-esen-l2-s.rmd17-aspirin --root ../shared/data/rmd17

``esen_aspirin.sh`` copies the run's ``last.ckpt`` every few minutes into
``<run>/snapshots/min<M>.ckpt`` (M: minutes since the start). Each snapshot's
evaluation weights (the EMA) are evaluated on every frame of the run's test
split; the validation force MAE the run logged at each epoch comes from its
CSV log. Writes ``curve.json`` and ``curve.png`` into ``--out`` (default:
``benchmarks/long_run/<run name>/``) and prints a markdown table.

The snapshots come from one cosine schedule that ends with the budget, so an
early point is not what a run with that shorter budget would reach: it is the
error of the long run part-way through, at a higher learning rate.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
from pathlib import Path

import torch
import yaml


def snapshot_minutes(path: Path) -> int:
    match = re.fullmatch(r"min(\d+)\.ckpt", path.name)
    if match is None:
        raise ValueError(f"{path.name} is not a snapshot name like min30.ckpt")
    return int(match.group(1))


def validation_curve(run: Path) -> list[dict]:
    """(epoch, step, val force MAE in meV/Å) per validation, from the run's CSV log."""
    rows = []
    for log in sorted(run.glob("logs/**/metrics.csv")):
        with open(log, newline="") as f:
            for row in csv.DictReader(f):
                value = row.get("val/forces_mae")
                if value:
                    rows.append({"epoch": int(float(row["epoch"])), "step": int(float(row["step"])),
                                 "val_forces_mae": float(value)})
    return rows


def evaluate_snapshot(path: Path, loader) -> dict:
    from forcefields.bench.accuracy import evaluate
    from forcefields.training.module import ForceFieldModule

    # Our own training checkpoint, written by Lightning on this machine: trusted.
    module = ForceFieldModule.load_from_checkpoint(str(path), map_location="cpu", weights_only=False)
    module.use_evaluation_weights()
    checkpoint = torch.load(str(path), map_location="cpu", weights_only=False)
    errors = evaluate(module.model, loader, torch.device("cpu"))
    return {"epoch": int(checkpoint["epoch"]), "step": int(checkpoint["global_step"]), **errors}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="the training run folder (holding config.yaml and snapshots/)")
    parser.add_argument("--root", required=True, help="folder holding the dataset")
    parser.add_argument("--out", type=Path, help="where curve.json and curve.png go")
    args = parser.parse_args()

    from forcefields import MolecularDataModule

    config = yaml.safe_load((args.run / "config.yaml").read_text())
    out = args.out or Path("benchmarks/long_run") / args.run.name.removeprefix("long-")
    out.mkdir(parents=True, exist_ok=True)
    dm = MolecularDataModule(sources=config["data"], root=args.root, split=config["split"], batch_size=16,
                             cutoff=config.get("cutoff") or 5.0, dtype="float32")
    dm.prepare_data()
    dm.setup("test")
    snapshots = sorted((args.run / "snapshots").glob("min*.ckpt"), key=snapshot_minutes)
    points = []
    for path in snapshots:
        point = {"minutes": snapshot_minutes(path), **evaluate_snapshot(path, dm.test_dataloader())}
        points.append(point)
        print(f"{path.name}: epoch {point['epoch']}, test force MAE {point['force_mae_mev_a']:.2f} meV/Å",
              file=sys.stderr)
    metrics = json.loads((args.run / "metrics.json").read_text()) if (args.run / "metrics.json").is_file() else None
    result = {
        "run": args.run.name,
        "model": config["model"],
        "data": config["data"],
        "split": config["split"],
        "budget": config.get("max_time"),
        "recipe": {k: config.get(k) for k in ("batch_size", "lr", "schedule", "loss", "seed")},
        "snapshots": points,
        "validation": validation_curve(args.run),
        "final": None if metrics is None else {
            "epochs": metrics["epochs"], "seconds_per_epoch": metrics["seconds_per_epoch"],
            "parameters": metrics["num_parameters"], "test": metrics["test"],
        },
        "units": {"minutes": "min of wall time since the start", "mae": "meV, meV/Å"},
    }
    (out / "curve.json").write_text(json.dumps(result, indent=1) + "\n")
    plot(result, out / "curve.png")
    print("| minutes | epoch | test force MAE (meV/Å) | test energy MAE (meV) |")
    print("|---|---|---|---|")
    for p in points:
        print(f"| {p['minutes']} | {p['epoch']} | {p['force_mae_mev_a']:.1f} | {p['energy_mae_mev']:.1f} |")
    if metrics is not None:
        print(f"| end | {metrics['epochs']} | {metrics['test']['forces_mae']:.1f} | {metrics['test']['energy_mae']:.1f} |")
    print(f"\nwritten {out / 'curve.json'} and {out / 'curve.png'}", file=sys.stderr)


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    points = result["snapshots"]
    seconds = (result["final"] or {}).get("seconds_per_epoch")
    if result["validation"] and seconds:
        ax.plot([seconds * (v["epoch"] + 1) / 60 for v in result["validation"]],
                [v["val_forces_mae"] for v in result["validation"]], color="0.7", lw=1,
                label="validation (50 frames, each epoch)")
    if points:
        ax.plot([p["minutes"] for p in points], [p["force_mae_mev_a"] for p in points], "o-",
                label="test_01 (1000 frames), snapshots")
    ax.axhline(15.0, color="tab:red", ls="--", lw=1, label="goal: 15 meV/Å")
    ax.set_xlabel("training time (min, one thread)")
    ax.set_ylabel("force MAE (meV/Å)")
    ax.set_yscale("log")
    ax.set_title(f"{result['model']} on rMD17 aspirin, one cosine over {result['budget']}")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
