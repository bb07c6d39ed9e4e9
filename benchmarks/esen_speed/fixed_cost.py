"""Split a training step's cost into a fixed part and a part per structure (issue 14).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/esen_speed/fixed_cost.py --models egnn-s,esen-l2-xs --batch 16

A step on one structure costs mostly what does not grow with the batch (Python,
autograd bookkeeping, the dispatch of each of a few thousand aten calls); a step
on ``--batch`` structures adds the arithmetic and memory traffic of the other
structures. Timing both, in alternation with the other models in every round
(as ``train_ratio.py`` does), gives per model

    fixed = t(1) - marginal,   marginal = (t(B) - t(1)) / (B - 1)

in ms (thread CPU time, medians over rounds), so one can tell whether a gap
between two models lies in the number of operations (fixed) or in what each
operation does (marginal). The training step is ``profile_esen.train_step``:
aspirin copies, forward with conservative forces, L1 loss, backward to the
parameters, float32, one thread. Writes ``fixed_cost.json`` next to this script.
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
    parser.add_argument("--models", default="egnn-s,esen-l2-xs",
                        help="first one is the reference of the ratios; overrides after @, e.g. esen-l2-xs@mmax=1")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--out", default=str(HERE / "fixed_cost.json"))
    args = parser.parse_args()
    if args.batch < 2:
        parser.error("--batch must be at least 2 (the marginal cost compares it with a batch of one).")
    tune_malloc()
    torch.set_num_threads(1)
    names = args.models.split(",")
    base = aspirin()
    loss_fn = EnergyForceLoss()
    batches = {1: training_batch(1, base), args.batch: training_batch(args.batch, base)}
    models = {}
    for name in names:
        torch.manual_seed(0)
        models[name] = model_from_spec(name).train()
        for batch in batches.values():
            for _ in range(2):  # warm-up
                train_step(models[name], loss_fn, batch)
    steps = {(name, size): (lambda m=models[name], b=batches[size]: train_step(m, loss_fn, b))
             for name in names for size in batches}
    step_ms = interleaved_cpu_ms(steps, args.rounds)
    rows = []
    for name in names:
        one, many = statistics.median(step_ms[(name, 1)]), statistics.median(step_ms[(name, args.batch)])
        marginal = (many - one) / (args.batch - 1)
        rows.append({"model": name, "step_ms_batch_1": round(one, 3), f"step_ms_batch_{args.batch}": round(many, 3),
                     "fixed_ms": round(one - marginal, 3), "marginal_ms_per_structure": round(marginal, 3),
                     "rounds": args.rounds})
    reference = rows[0]
    print(f"{'model':12s} {'step@1':>8s} {'step@' + str(args.batch):>9s} {'fixed':>8s} {'marginal':>9s}  "
          f"fixed / marginal vs {reference['model']}")
    for row in rows:
        print(f"{row['model']:12s} {row['step_ms_batch_1']:8.2f} {row[f'step_ms_batch_{args.batch}']:9.2f} "
              f"{row['fixed_ms']:8.2f} {row['marginal_ms_per_structure']:9.3f}  "
              f"{row['fixed_ms'] / reference['fixed_ms']:.2f}x / "
              f"{row['marginal_ms_per_structure'] / reference['marginal_ms_per_structure']:.2f}x")
    Path(args.out).write_text(json.dumps({"models": names, "batch": args.batch, "results": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
