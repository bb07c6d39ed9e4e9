"""Learning curve of fine-tuning vs training from scratch on a held-out rMD17 molecule.

For each family (default mpnn-xs and egnn-xs):

1. pretrain a parent on several rMD17 molecules that exclude the held-out one
   (``forcefields.training.train``, a fixed wall-clock budget), and save it in
   the zoo's format;
2. for each N in the sizes: fine-tune the parent on N frames of the held-out
   molecule (``forcefields.finetune``), and train the same variant from
   scratch on the same N frames with the same budget (same optimiser steps,
   learning rate, validation frames, loss, E0 refit: the same code path, only
   the initial weights differ);
3. measure both on the held-out molecule's ``test_01`` frames.

Frames: training and validation frames come from the molecule's
``train_01`` file (the rMD17 protocol split; the same validation frames for
every N, nested training sets), testing uses the ``test_01`` frames.

Writes ``learning_curve.json`` and ``learning_curve.png`` (force MAE vs N,
log-log) next to this script (or into ``--out``).

    OMP_NUM_THREADS=1 python benchmarks/finetune/run_learning_curve.py --root ../shared/data/rmd17
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import tempfile
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
PRETRAIN = ("malonaldehyde", "salicylic", "toluene", "aspirin")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--root", default=str(HERE.parents[2] / "shared" / "data" / "rmd17"), help="rMD17 folder")
    p.add_argument("--out", default=str(HERE), help="where the JSON and PNG go")
    p.add_argument("--holdout", default="ethanol", help="the molecule left out of pretraining")
    p.add_argument("--pretrain", default=",".join(PRETRAIN), help="pretraining molecules, comma-separated")
    p.add_argument("--pretrain-frames", type=int, default=400, help="training frames per pretraining molecule")
    p.add_argument("--pretrain-seconds", default="120,180", help="pretraining wall-clock budget per family (s)")
    p.add_argument("--families", default="mpnn-xs,egnn-xs", help="variants, comma-separated")
    p.add_argument("--sizes", default="25,50,100,250", help="numbers N of held-out training frames")
    p.add_argument("--val-frames", type=int, default=25, help="validation frames (best-epoch selection)")
    p.add_argument("--steps", type=int, default=1000, help="optimiser steps per run, both arms")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="a minute-long smoke run (tiny budgets), not for results")
    p.add_argument("--replot", action="store_true", help="only redraw the PNG from the JSON in --out")
    return p.parse_args(argv)


def pretrain(variant: str, molecules: list[str], root: str, frames: int, seconds: float, folder: Path, seed: int):
    """Train a parent on ``molecules`` for ``seconds`` and save it as a zoo checkpoint."""
    import forcefields
    from forcefields.training import load_exported, train

    data = [f"rmd17:{m}" for m in molecules]
    run_dir = folder / f"run-{variant}"
    result = train(
        model=variant, data=data, root=root, split={"train": frames, "val": 20, "test": 0, "seed": seed},
        max_epochs=100_000, max_time=f"00:00:{int(seconds) // 60:02d}:{int(seconds) % 60:02d}",
        batch_size=16, out=str(run_dir), progress_bar=False, seed=seed, verbose=False,
    )
    model = load_exported(result.model_dir)
    name = f"{variant}.rmd17-{len(molecules)}mol"
    path = forcefields.save(
        model, folder / name, name=name,
        training={"data": data, "root": root, "split": {"train": frames, "val": 20, "seed": seed},
                  "seconds": seconds, "epochs": result.metrics["epochs"], "steps": result.metrics["steps"]},
    )
    return path, {
        "name": name, "molecules": molecules, "frames_per_molecule": frames, "seconds": seconds,
        "epochs": result.metrics["epochs"], "steps": result.metrics["steps"],
        "best_val_forces_mae": result.metrics["best_val_forces_mae"],
    }


def split_for(n: int, val: int, seed: int) -> dict:
    return {"protocol": "rmd17:1", "train": n, "val": val, "seed": seed}


def statistics_of(holdout: str, root: str, split: dict, cutoff: float):
    from forcefields import MolecularDataModule

    dm = MolecularDataModule([f"rmd17:{holdout}"], root=root, cutoff=cutoff, split=split, verbose=False)
    dm.prepare_data()
    dm.setup()
    return dm.statistics


def one_run(parent, holdout: str, root: str, split: dict, steps: int, batch_size: int, seed: int) -> dict:
    """Fine-tune ``parent`` (a zoo path, or a fresh model for the scratch arm) and return its numbers."""
    import forcefields

    steps_per_epoch = math.ceil(split["train"] / batch_size)
    epochs = max(1, math.ceil(steps / steps_per_epoch))
    t0 = time.perf_counter()
    result = forcefields.finetune(
        parent, f"rmd17:{holdout}", root=root, split=split, max_epochs=epochs, early_stopping_patience=None,
        batch_size=batch_size, seed=seed, verbose=False, print_table=False, accelerator="cpu",
    )
    m = result.metrics
    return {
        "forces_mae": m["after"]["forces_mae"],
        "energy_mae": m["after"]["energy_mae"],
        "zero_shot_forces_mae": m["before_refit"]["forces_mae"] if m["before_refit"] else None,
        "zero_shot_energy_mae": m["before_refit"]["energy_mae"] if m["before_refit"] else None,
        "epochs": m["epochs"],
        "steps": m["steps"],
        "best_epoch": m["best_epoch"],
        "seconds": round(time.perf_counter() - t0, 1),
        "test_frames": m["frames"]["test"],
    }


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    colors = ["tab:blue", "tab:orange", "tab:green", "tab:red"]
    for color, (family, rows) in zip(colors, results["curves"].items()):
        sizes = [r["N"] for r in rows]
        ax.plot(sizes, [r["finetuned"]["forces_mae"] for r in rows], "o-", color=color, label=f"{family} fine-tuned")
        ax.plot(sizes, [r["scratch"]["forces_mae"] for r in rows], "s--", color=color, label=f"{family} from scratch")
        zero = rows[0]["finetuned"]["zero_shot_forces_mae"]
        if zero:
            ax.axhline(zero, color=color, ls=":", lw=1, label=f"{family} parent, zero-shot")
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(results["sizes"])
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_formatter(ScalarFormatter())
        axis.set_minor_formatter(NullFormatter())
    ax.set_yticks([t for t in (50, 100, 150, 200, 300, 500, 700, 1000, 1500) if ax.get_ylim()[0] <= t <= ax.get_ylim()[1]])
    ax.set_xlabel(f"training frames of {results['holdout']} (N)")
    ax.set_ylabel("test force MAE (meV/Å)")
    ax.set_title(f"rMD17 {results['holdout']} held out of pretraining", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=150)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.replot:
        out = Path(args.out)
        plot(json.loads((out / "learning_curve.json").read_text(encoding="utf-8")), out / "learning_curve.png")
        return 0
    import torch

    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    import logging

    import lightning  # noqa: F401  (its loggers exist once it is imported)

    for name in ("lightning.pytorch", "lightning.pytorch.utilities.rank_zero", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)
    from rich.console import Console

    console = Console()
    families = args.families.split(",")
    seconds = [float(s) for s in args.pretrain_seconds.split(",")]
    seconds = (seconds * len(families))[: len(families)] if len(seconds) == 1 else seconds
    sizes = [int(n) for n in args.sizes.split(",")]
    steps = args.steps
    if args.quick:
        sizes, steps, seconds = [10, 20], 20, [10.0] * len(families)
    molecules = args.pretrain.split(",")
    if args.holdout in molecules:
        raise SystemExit(f"--holdout {args.holdout} is among the pretraining molecules; leave it out.")

    started = time.perf_counter()
    results: dict = {
        "holdout": args.holdout,
        "protocol": "train/val frames from rmd17 train_01 (nested), test on all test_01 frames",
        "sizes": sizes,
        "val_frames": args.val_frames,
        "steps_per_run": steps,
        "batch_size": args.batch_size,
        "early_stopping": "off; the best validation epoch's EMA weights are kept (both arms)",
        "lr": "the variant's width-transferred rate (both arms)",
        "threads": args.threads,
        "machine": f"{platform.machine()} {platform.processor() or ''} ({os.cpu_count()} cores), torch {torch.__version__}",
        "units": {"forces_mae": "meV/Å", "energy_mae": "meV"},
        "command": "python benchmarks/finetune/run_learning_curve.py " + " ".join(argv if argv is not None else __import__("sys").argv[1:]),
        "parents": {},
        "curves": {},
    }
    with tempfile.TemporaryDirectory(prefix="ff-learning-curve-") as tmp:
        for family, budget in zip(families, seconds):
            console.print(f"[bold]{family}[/bold]: pretraining on {', '.join(molecules)} for {budget:.0f} s")
            parent_path, info = pretrain(family, molecules, args.root, args.pretrain_frames, budget, Path(tmp), args.seed)
            results["parents"][family] = info
            rows = []
            for n in sizes:
                split = split_for(n, args.val_frames, args.seed)
                ft = one_run(str(parent_path), args.holdout, args.root, split, steps, args.batch_size, args.seed)
                from forcefields import load
                from forcefields.models import create_model

                cutoff = load(str(parent_path)).cutoff
                fresh = create_model(family, statistics=statistics_of(args.holdout, args.root, split, cutoff), seed=args.seed)
                sc = one_run(fresh, args.holdout, args.root, split, steps, args.batch_size, args.seed)
                rows.append({"N": n, "finetuned": ft, "scratch": sc})
                console.print(
                    f"  N={n:4d}: force MAE fine-tuned {ft['forces_mae']:7.1f} vs scratch {sc['forces_mae']:7.1f} meV/Å; "
                    f"energy {ft['energy_mae']:7.1f} vs {sc['energy_mae']:7.1f} meV  ({ft['seconds'] + sc['seconds']:.0f} s)"
                )
            results["curves"][family] = rows
    results["total_seconds"] = round(time.perf_counter() - started, 1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = "learning_curve_quick" if args.quick else "learning_curve"
    (out / f"{stem}.json").write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    plot(results, out / f"{stem}.png")
    console.print(f"wrote {out / (stem + '.json')} and {out / (stem + '.png')} in {results['total_seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
