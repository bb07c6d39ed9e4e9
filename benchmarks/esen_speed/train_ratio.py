"""Training cost per structure of several models, timed in alternation in one process (issue 14's ratio goal).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/esen_speed/train_ratio.py --models egnn-s,esen-l2-xs,mpnn-s --batches 4,16,64

The issue asks for esen-l2-xs's training cost per structure at batch 16 to be
at most 2x that of egnn-s. Timing the models one after the other in separate
processes moved unchanged code by 20 % between runs on this shared machine, so
here every round runs one training step of each model, in rotating order, and
the figure is the median over rounds. Each step is a forward pass with
conservative forces (``create_graph``), the L1 energy + force loss and the
backward pass, on rattled copies of aspirin (21 atoms), float32, one thread,
eager, with :func:`forcefields.allocator.tune_malloc`. Time is the CPU time of
the timing thread, ms per structure. The first model is the reference of the
ratios. Writes ``train_ratio.json`` next to this script.

A model may carry config overrides after ``@``, e.g. ``esen-l2-xs@mmax=1``
(several: ``name@key=value@key=value``), to time a variant that is not registered.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import torch

from forcefields.allocator import tune_malloc
from forcefields.training.losses import EnergyForceLoss
from profile_esen import aspirin, interleaved_cpu_ms, model_from_spec, train_step, training_batch

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="egnn-s,esen-l2-xs,mpnn-s", help="first one is the reference")
    parser.add_argument("--batches", default="4,16,64")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--out", default=str(HERE / "train_ratio.json"))
    args = parser.parse_args()
    tune_malloc()
    torch.set_num_threads(1)
    names = args.models.split(",")
    base = aspirin()
    loss_fn = EnergyForceLoss()
    results = []
    for size in (int(b) for b in args.batches.split(",")):
        batch = training_batch(size, base)
        models = {}
        for name in names:
            torch.manual_seed(0)
            models[name] = model_from_spec(name).train()
            for _ in range(2):  # warm-up
                train_step(models[name], loss_fn, batch)
        steps = {name: (lambda m=models[name]: train_step(m, loss_fn, batch)) for name in names}
        step_ms = interleaved_cpu_ms(steps, args.rounds)
        cpu = {name: [ms / size for ms in step_ms[name]] for name in names}
        reference = statistics.median(cpu[names[0]])
        for name in names:
            median = statistics.median(cpu[name])
            row = {"model": name, "batch": size, "cpu_median_ms_per_structure": round(median, 3),
                   "cpu_min_ms_per_structure": round(min(cpu[name]), 3), "rounds": args.rounds,
                   f"ratio_to_{names[0]}": round(median / reference, 3)}
            results.append(row)
            print(f"batch {size:3d}  {name:12s} {median:7.2f} ms/structure (min {min(cpu[name]):.2f})  "
                  f"{median / reference:.2f}x {names[0]}", flush=True)
    Path(args.out).write_text(json.dumps({"models": names, "results": results}, indent=1) + "\n")


if __name__ == "__main__":
    main()
