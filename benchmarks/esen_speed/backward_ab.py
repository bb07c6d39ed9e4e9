"""In-process A/B: the training backward into every leaf against the trainable parameters only.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/esen_speed/backward_ab.py --models mpnn-s,egnn-s,esen-l2-xs,esen-l1-s,gemnet-xs

A training step on conservative forces differentiates the force loss through
``F = -dE/dr``. A plain ``loss.backward()`` also fills the gradient of the
positions (a leaf of that graph), which needs second derivatives through the
geometry that nothing reads; ``backward(inputs=parameters)``
(:func:`forcefields.training.backward.backward_to_parameters`, what
``ForceFieldModule`` now does) skips them. For each model this first checks
that both give the same parameter gradients in float64, then times training
steps (forward, L1 energy + force loss, backward) on a batch of rattled
aspirin copies, both variants alternating in one process (ABBA...), float32,
one thread; thread CPU time per structure, median over rounds. Writes
``backward_ab.json`` next to this script.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from forcefields.allocator import tune_malloc
from forcefields.models import create_model
from forcefields.training.backward import backward_to_parameters
from forcefields.training.losses import EnergyForceLoss
from profile_esen import aspirin, training_batch

HERE = Path(__file__).resolve().parent


def step(model, loss_fn, batch, parameters_only: bool) -> None:
    """One training step's forward and backward (gradients cleared after)."""
    out = model(batch, compute_forces=True)
    loss = loss_fn(out["energy"], out["forces"], batch.energy, batch.forces, batch.natoms, batch.batch)["total"]
    if parameters_only:
        backward_to_parameters(loss, model)
    else:
        loss.backward()
    model.zero_grad(set_to_none=True)


def gradient_difference(name: str, batch, loss_fn) -> float:
    """Largest |difference| of the two variants' float64 parameter gradients, relative to the largest gradient."""
    torch.manual_seed(0)
    model = create_model(name).train().double()
    batch = batch.clone()
    for key in ("pos", "energy", "forces"):
        setattr(batch, key, getattr(batch, key).double())
    grads = []
    for parameters_only in (False, True):
        out = model(batch, compute_forces=True)
        loss = loss_fn(out["energy"], out["forces"], batch.energy, batch.forces, batch.natoms, batch.batch)["total"]
        backward_to_parameters(loss, model) if parameters_only else loss.backward()
        grads.append([p.grad.clone() for p in model.parameters()])
        model.zero_grad(set_to_none=True)
    scale = max(float(g.abs().max()) for g in grads[0])
    return max(float((a - b).abs().max()) for a, b in zip(*grads)) / scale


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="mpnn-s,egnn-s,esen-l2-xs,esen-l1-s,gemnet-xs")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=12)
    args = parser.parse_args()
    tune_malloc()
    torch.set_num_threads(1)
    batch = training_batch(args.batch, aspirin())
    loss_fn = EnergyForceLoss()
    results = []
    print("| model | float64 gradient difference | every leaf (ms/structure) | parameters only (ms/structure) | ratio |\n|---|---|---|---|---|")
    for name in args.models.split(","):
        difference = gradient_difference(name, batch, loss_fn)
        torch.manual_seed(0)
        model = create_model(name).train()
        for variant in (False, True, False, True):  # warm-up
            step(model, loss_fn, batch, variant)
        cpu = {False: [], True: []}
        for r in range(args.rounds):
            for variant in ((False, True) if r % 2 == 0 else (True, False)):
                c0 = time.thread_time()
                step(model, loss_fn, batch, variant)
                cpu[variant].append(1e3 * (time.thread_time() - c0) / args.batch)
        every, params = statistics.median(cpu[False]), statistics.median(cpu[True])
        results.append({"model": name, "batch": args.batch, "rounds": args.rounds, "gradient_difference_float64": difference,
                        "every_leaf_ms_per_structure": round(every, 3), "parameters_only_ms_per_structure": round(params, 3),
                        "ratio": round(params / every, 3)})
        print(f"| {name} | {difference:.1e} | {every:.2f} | {params:.2f} | {params / every:.2f} |", flush=True)
    (HERE / "backward_ab.json").write_text(json.dumps({"results": results}, indent=1) + "\n")


if __name__ == "__main__":
    main()
