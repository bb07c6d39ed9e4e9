"""In-process A/B of the whole ``forcefields`` package at a git revision (A) against the working tree (B).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/esen_speed/package_ab.py --ref HEAD --models esen-l2-xs,egnn-s --batches 4,16,64

``code_ab.py`` swaps single methods; a change that adds modules or alters a
constructor cannot be swapped that way. Here the package as committed at
``--ref`` is unpacked (``git archive``) into a temporary folder under the name
``forcefields_ref`` (the models and layers import each other relatively, so
the copy is self-contained), both versions build each model with the same
weights, and their training steps (forward, conservative forces, L1 loss,
backward to the parameters; aspirin copies, float32, one thread) run in one
process in alternating order, so that load from other jobs falls on both
alike. Models the change does not touch are the control: their B/A should be
1. Reports thread CPU time per structure (median over rounds) and the median
of the per-round ratios B/A; ``--out`` writes every time.
"""

from __future__ import annotations

import argparse
import importlib
import io
import json
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import torch

from forcefields.allocator import tune_malloc
from forcefields.models import create_model
from forcefields.training.losses import EnergyForceLoss
from profile_esen import aspirin, interleaved_cpu_ms, train_step, training_batch

ROOT = Path(__file__).resolve().parents[2]


def committed_models_module(ref: str, folder: Path):
    """``forcefields_ref.models`` as committed at ``ref``, unpacked into ``folder``."""
    archive = subprocess.run(["git", "archive", ref, "forcefields"], cwd=ROOT, check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    (folder / "forcefields").rename(folder / "forcefields_ref")
    sys.path.insert(0, str(folder))
    return importlib.import_module("forcefields_ref.models")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ref", default="HEAD")
    parser.add_argument("--models", default="esen-l2-xs,egnn-s")
    parser.add_argument("--batches", default="4,16,64")
    parser.add_argument("--rounds", type=int, default=16)
    parser.add_argument("--out", default=None, help="JSON file for every time")
    args = parser.parse_args()
    tune_malloc()
    torch.set_num_threads(1)
    loss_fn = EnergyForceLoss()
    base = aspirin()
    report = {"ref": args.ref, "rounds": args.rounds, "points": {}}
    with tempfile.TemporaryDirectory() as tmp:
        reference = committed_models_module(args.ref, Path(tmp))
        for size in (int(b) for b in args.batches.split(",")):
            batch = training_batch(size, base)
            variants = {}
            for name in args.models.split(","):
                torch.manual_seed(0)
                variants[(name, "B")] = create_model(name).train()
                variants[(name, "A")] = reference.create_model(name).train()
                variants[(name, "A")].load_state_dict(variants[(name, "B")].state_dict())
            for model in variants.values():
                for _ in range(2):  # warm-up
                    train_step(model, loss_fn, batch)
            steps = {key: (lambda m=model: train_step(m, loss_fn, batch)) for key, model in variants.items()}
            times = {key: [ms / size for ms in values]
                     for key, values in interleaved_cpu_ms(steps, args.rounds, order="mirror").items()}
            for name in args.models.split(","):
                a, b = times[(name, "A")], times[(name, "B")]
                ratio = statistics.median(y / x for x, y in zip(a, b))
                print(f"batch {size:3d}  {name:12s} A {statistics.median(a):7.2f}  B {statistics.median(b):7.2f} "
                      f"ms/structure  B/A {ratio:.3f}  (min A {min(a):.2f}, min B {min(b):.2f})", flush=True)
                report["points"][f"{name}@{size}"] = {"A_ms": a, "B_ms": b, "median_ratio": round(ratio, 4)}
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
