"""In-process A/B of methods as committed (A) against the working tree (B).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/esen_speed/code_ab.py \\
        --swap forcefields.nn.so2:SO2Linear.forward --ref HEAD --models esen-l2-xs,egnn-s

For each ``--swap module:Class.method``, the method's source at ``--ref`` is read
with ``git show``, its module executed under a private name, and the method
taken from there. Both variants then run in one process on the same model,
weights and inputs, in alternating order (ABBA...), so that load from other
jobs falls on both alike: the MD step on one aspirin and training steps
(forward, conservative forces with ``create_graph``, loss, backward to the
parameters) on batches of 16 and 64; with ``--frozen`` only the MD step, with
the weights frozen. Models whose code the swap does not reach
serve as a control: their ratio should be 1. Float32, one thread, eager; thread
CPU time per structure, ms (median and minimum over rounds). Before timing, float64
energies, forces and parameter gradients of the two variants are compared.
Writes ``<tag>.json`` next to this script.
"""

from __future__ import annotations

import argparse
import importlib
import json
import statistics
import subprocess
import sys
import time
import types
from pathlib import Path

import torch

from forcefields.allocator import tune_malloc
from forcefields.bench.systems import to_batch
from forcefields.models import create_model, registry
from forcefields.testing import make_molecules
from forcefields.training.losses import EnergyForceLoss
from profile_esen import aspirin, train_step, training_batch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def committed_method(spec: str, ref: str):
    """(class, method name, committed function, working-tree function) of ``module:Class.method``."""
    module_name, qualname = spec.split(":")
    class_name, method_name = qualname.split(".")
    path = Path(*module_name.split(".")).with_suffix(".py")
    source = subprocess.run(["git", "show", f"{ref}:{path.as_posix()}"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout
    old = types.ModuleType(f"_committed_{module_name.replace('.', '_')}")
    old.__package__ = module_name.rpartition(".")[0]  # relative imports resolve to the live package
    # dataclasses look their module up in sys.modules; registering decorators must not
    # replace the live classes in the model registry.
    sys.modules[old.__name__] = old
    registries = [registry._FAMILIES, registry._VARIANTS]
    saved = [dict(r) for r in registries]
    exec(compile(source, f"{ref}:{path}", "exec"), old.__dict__)
    for live, before in zip(registries, saved):
        live.clear()
        live.update(before)
    live_class = getattr(importlib.import_module(module_name), class_name)
    return live_class, method_name, getattr(getattr(old, class_name), method_name), live_class.__dict__[method_name]


def use(swaps, variant: str) -> None:
    for cls, name, committed, working in swaps:
        setattr(cls, name, committed if variant == "A" else working)


def max_difference(swaps, name: str) -> float:
    """Largest float64 difference of energies, forces and parameter gradients between A and B."""
    torch.manual_seed(0)
    model = create_model(name).double().train()
    batch = make_molecules(3, atoms=(6, 12), seed=1)
    results = {}
    for variant in "AB":
        use(swaps, variant)
        out = model(batch, compute_forces=True)
        loss = out["energy"].square().sum() + out["forces"].square().sum()
        grads = torch.autograd.grad(loss, [p for p in model.parameters() if p.requires_grad], allow_unused=True)
        flat = [out["energy"], out["forces"]] + [g for g in grads if g is not None]
        results[variant] = torch.cat([t.detach().flatten() for t in flat])
    return float((results["A"] - results["B"]).abs().max())


def cpu_ms(fn, repeats: int) -> float:
    fn()
    start = time.thread_time()
    for _ in range(repeats):
        fn()
    return (time.thread_time() - start) / repeats * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--swap", action="append", required=True, help="module:Class.method, repeatable")
    parser.add_argument("--ref", default="HEAD", help="git revision of variant A")
    parser.add_argument("--models", default="esen-l2-xs,esen-l1-s,egnn-s")
    parser.add_argument("--batches", default="16,64")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--no-md", action="store_true", help="time training steps only")
    parser.add_argument("--frozen", action="store_true",
                        help="MD step only, with the weights frozen (requires_grad_(False)), as inference-only users run it")
    parser.add_argument("--tag", default="code_ab")
    args = parser.parse_args()
    torch.set_num_threads(1)
    mallopt = tune_malloc()
    swaps = [committed_method(spec, args.ref) for spec in args.swap]
    loss_fn = EnergyForceLoss()
    results = {"swaps": args.swap, "ref": args.ref, "mallopt": mallopt, "models": {}}
    for name in args.models.split(","):
        diff = max_difference(swaps, name)
        torch.manual_seed(0)
        model = create_model(name).train()
        md_model = create_model(name).eval()
        md_model.load_state_dict(model.state_dict())
        if args.frozen:
            md_model.requires_grad_(False)
        md_batch = to_batch([aspirin()])
        cases = {} if args.no_md else {"md_ms": (lambda: md_model(md_batch, compute_forces=True), 1, 60)}
        for size in ([] if args.frozen else map(int, args.batches.split(","))):
            batch = training_batch(size, aspirin())
            cases[f"train_b{size}_ms_per_structure"] = (
                (lambda b=batch: train_step(model, loss_fn, b)), size, max(2, 48 // size))
        times = {key: {"A": [], "B": []} for key in cases}
        for r in range(args.rounds):
            for variant in ("AB" if r % 2 == 0 else "BA"):
                use(swaps, variant)
                for key, (fn, per, repeats) in cases.items():
                    times[key][variant].append(cpu_ms(fn, repeats) / per)
        row = {"float64_max_difference": diff}
        for key, t in times.items():
            a, b = statistics.median(t["A"]), statistics.median(t["B"])
            low_a, low_b = min(t["A"]), min(t["B"])
            row[key] = {"A": round(a, 3), "B": round(b, 3), "B/A": round(b / a, 3),
                        "min A": round(low_a, 3), "min B": round(low_b, 3), "min B/A": round(low_b / low_a, 3)}
        results["models"][name] = row
        print(name, json.dumps(row), flush=True)
        use(swaps, "B")
    (HERE / f"{args.tag}.json").write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
