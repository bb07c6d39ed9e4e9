"""What one part of esen's interaction block costs in training: the block timed with that part taken out.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/esen_speed/block_probe.py --model esen-l2-xs --without conv2

A cost probe, not a model: every interaction block of a copy of ``--model`` has
the named part replaced by the identity (``conv2``: the second SO(2) convolution,
the only part offered so far), and its training step
per structure is timed against the whole model and egnn-s, in rotating order
in one process (``train_ratio.py``'s method: CPU time of this thread, median
over rounds, aspirin copies, float32, one thread). If taking a part out entirely
does not bring esen-l2-xs under 2x egnn-s, no cheaper form of that part can.
"""

from __future__ import annotations

import argparse
import statistics

import torch
from torch import nn

from forcefields.allocator import tune_malloc
from forcefields.training.losses import EnergyForceLoss
from profile_esen import aspirin, interleaved_cpu_ms, model_from_spec, train_step, training_batch


class _SkipConvolution(nn.Module):
    """Stands in for an ``SO2Linear`` without extra scalars: returns its input."""

    def forward(self, x: torch.Tensor, edge_feat) -> tuple[torch.Tensor, None]:
        return x, None


STAND_INS = {"conv2": _SkipConvolution}


def without(name: str, part: str) -> nn.Module:
    """``name`` built as registered, with ``part`` of every interaction block replaced by the identity."""
    model = model_from_spec(name)
    for block in model.blocks:
        setattr(block, part, STAND_INS[part]())
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="esen-l2-xs")
    parser.add_argument("--without", choices=sorted(STAND_INS), default="conv2")
    parser.add_argument("--reference", default="egnn-s")
    parser.add_argument("--batches", default="4,16")
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    tune_malloc()
    torch.set_num_threads(1)
    loss_fn = EnergyForceLoss()
    probe = f"{args.model} without {args.without}"
    print(f"| batch | {args.reference} ms/structure | {args.model} | {probe} | ratio, whole | ratio, {probe} |\n|---|---|---|---|---|---|")
    for size in (int(b) for b in args.batches.split(",")):
        batch = training_batch(size, aspirin())
        models = {}
        for label, build in ((args.reference, lambda: model_from_spec(args.reference)), (args.model, lambda: model_from_spec(args.model)),
                             (probe, lambda: without(args.model, args.without))):
            torch.manual_seed(0)
            models[label] = build().train()
            for _ in range(2):  # warm-up
                train_step(models[label], loss_fn, batch)
        steps = {label: (lambda m=m: train_step(m, loss_fn, batch)) for label, m in models.items()}
        per_structure = {label: statistics.median(ms) / size for label, ms in interleaved_cpu_ms(steps, args.rounds).items()}
        ref = per_structure[args.reference]
        print(f"| {size} | {ref:.2f} | {per_structure[args.model]:.2f} | {per_structure[probe]:.2f} | "
              f"{per_structure[args.model] / ref:.2f} | {per_structure[probe] / ref:.2f} |", flush=True)


if __name__ == "__main__":
    main()
