"""CPU cost of the eSEN family on aspirin: MD step, training step, op profiles (issue 14).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/esen_speed/profile_esen.py --tag before

Float32, one thread, eager mode. For each model:

* ``md_ms``: one energy + conservative-forces call on one aspirin molecule
  (21 atoms, first frame of ``rmd17_aspirin_test_01.npz``; neighbour list
  built inside the call, as in an MD step), median over repeats, ms;
* ``train_ms_per_structure``: one training step (forward with conservative
  forces and ``create_graph``, L1-norm energy + force loss, backward to the
  parameters as in training; a plain ``loss.backward()`` before round 6) on
  batches of 4, 16 and 64 rattled copies, divided by the batch size, ms;
* with ``--profile``: torch.profiler tables (top ops by self CPU time) of the
  forward and of the force backward of the MD step, separately;
* unless ``--no-mallopt``: glibc's malloc thresholds raised first
  (:func:`forcefields.allocator.tune_malloc`; recorded as ``mallopt``);
* with ``--compile``: the MD step of ``torch.compile(model)``, first call
  (compile) time and steady-state ms.

Writes ``<tag>.json`` and ``<tag>.md`` next to this script. Timings depend on
the machine's load: compare runs taken the same way, back to back.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from ase import Atoms

from forcefields.allocator import tune_malloc
from forcefields.bench.systems import batch_systems, to_batch
from forcefields.models import create_model
from forcefields.training.backward import backward_to_parameters
from forcefields.training.losses import EnergyForceLoss

HERE = Path(__file__).resolve().parent
ASPIRIN = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "rmd17" / "rmd17_aspirin_test_01.npz"
DEFAULT_MODELS = "esen-l1-s,esen-l2-xs,esen-l2-s,esen-l4-s,egnn-s"


def aspirin() -> Atoms:
    """Aspirin (21 atoms), first rMD17 test frame, Å."""
    with np.load(ASPIRIN) as d:
        return Atoms(numbers=d["nuclear_charges"].astype(int), positions=d["coords"][0])


def timed(fn, repeats: int, warmup: int = 2, budget_s: float = 4.0) -> dict:
    """Median and minimum wall and CPU time of ``fn()`` in ms (stops early after ``budget_s``, >= 3 repeats).

    The CPU time of this (single) thread leaves out the time the thread waits
    while other jobs hold the cores, so it is the steadier number on a shared
    machine.
    """
    for _ in range(warmup):
        fn()
    times, cpu = [], []
    start = time.perf_counter()
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.thread_time()
        fn()
        cpu.append(time.thread_time() - c0)
        times.append(time.perf_counter() - t0)
        if len(times) >= 3 and time.perf_counter() - start > budget_s:
            break
    return {"median_ms": 1e3 * statistics.median(times), "min_ms": 1e3 * min(times),
            "cpu_median_ms": 1e3 * statistics.median(cpu), "cpu_min_ms": 1e3 * min(cpu), "repeats": len(times)}


def model_from_spec(spec: str):
    """The model named by ``name[@key=value...]``: a registered variant with config overrides.

    Values are read as JSON where they parse (``mmax=1`` is an int), else as strings.
    """
    name, *pairs = spec.split("@")
    overrides = {}
    for pair in pairs:
        key, _, text = pair.partition("=")
        try:
            overrides[key] = json.loads(text)
        except json.JSONDecodeError:
            overrides[key] = text
    return create_model(name, **overrides)


def interleaved_cpu_ms(steps: dict, rounds: int, order: str = "rotate") -> dict:
    """Thread CPU time (ms) of every step in ``steps`` (key -> callable), each run once per round.

    Running all of them in every round lets load from other jobs fall on all
    alike. ``order="rotate"`` starts each round one step further along the
    list; ``"mirror"`` reverses the list every other round (ABBA...).

    Returns
    -------
    dict key -> list of ``rounds`` times in ms
    """
    keys = list(steps)
    times = {key: [] for key in keys}
    for r in range(rounds):
        if order == "rotate":
            sequence = keys[r % len(keys):] + keys[: r % len(keys)]
        elif order == "mirror":
            sequence = keys if r % 2 == 0 else keys[::-1]
        else:
            raise ValueError(f"order must be 'rotate' or 'mirror', not {order!r}.")
        for key in sequence:
            start = time.thread_time()
            steps[key]()
            times[key].append(1e3 * (time.thread_time() - start))
    return times


def md_step(model, batch):
    out = model(batch, compute_forces=True)
    return out["energy"], out["forces"]


def training_batch(size: int, base: Atoms):
    batch = to_batch(batch_systems(size, base=base, seed=size))
    gen = torch.Generator().manual_seed(size)
    batch.energy = torch.randn(size, generator=gen)
    batch.forces = torch.randn(batch.pos.shape, generator=gen)
    return batch


def train_step(model, loss_fn, batch):
    out = model(batch, compute_forces=True)
    loss = loss_fn(out["energy"], out["forces"], batch.energy, batch.forces, batch.natoms, batch.batch)["total"]
    backward_to_parameters(loss, model)  # as ForceFieldModule does (plain loss.backward() before round 6)
    model.zero_grad(set_to_none=True)


def profile_tables(model, batch, rows: int = 15) -> dict:
    """Top ops by self CPU time for the forward (energy) and the force backward, separately."""
    from torch.profiler import ProfilerActivity, profile

    pos = batch.pos.detach().requires_grad_(True)
    batch = batch.clone()
    batch.pos = pos
    for _ in range(2):
        energy = model(batch, compute_forces=False)["energy"]
        torch.autograd.grad(energy.sum(), pos)
    with profile(activities=[ProfilerActivity.CPU]) as fwd:
        for _ in range(5):
            energy = model(batch, compute_forces=False)["energy"]
    energies = [model(batch, compute_forces=False)["energy"] for _ in range(5)]  # separate graphs
    with profile(activities=[ProfilerActivity.CPU]) as bwd:
        for energy in energies:
            torch.autograd.grad(energy.sum(), pos)
    return {
        "forward": fwd.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows),
        "force_backward": bwd.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tag", default="before")
    parser.add_argument("--models", default=DEFAULT_MODELS)
    parser.add_argument("--batches", default="4,16,64")
    parser.add_argument("--profile", default="esen-l1-s,esen-l2-s,esen-l4-s",
                        help="models to profile (comma list; empty for none)")
    parser.add_argument("--compile", default="", help="models whose MD step to time under torch.compile")
    parser.add_argument("--md-repeats", type=int, default=30)
    parser.add_argument("--no-mallopt", action="store_true",
                        help="keep glibc's default malloc thresholds (see forcefields.allocator)")
    args = parser.parse_args()
    mallopt = False if args.no_mallopt else tune_malloc()

    torch.set_num_threads(1)
    torch.manual_seed(0)
    base = aspirin()
    md_batch = to_batch([base])
    loss_fn = EnergyForceLoss("l1norm")
    batch_sizes = [int(b) for b in args.batches.split(",") if b]
    train_batches = {b: training_batch(b, base) for b in batch_sizes}
    profiled = [m for m in args.profile.split(",") if m]
    compiled = [m for m in args.compile.split(",") if m]
    results = {"tag": args.tag, "threads": torch.get_num_threads(), "torch": torch.__version__,
               "omp_num_threads": os.environ.get("OMP_NUM_THREADS"), "mallopt": mallopt, "models": {}}
    for name in args.models.split(","):
        torch.manual_seed(0)
        model = create_model(name).eval()
        rec = {"num_parameters": model.num_parameters()}
        rec["md"] = timed(lambda: md_step(model, md_batch), args.md_repeats)
        model.train()
        rec["train_ms_per_structure"] = {}
        for b, batch in train_batches.items():
            t = timed(lambda: train_step(model, loss_fn, batch), repeats=8, warmup=1, budget_s=3.0)
            rec["train_ms_per_structure"][str(b)] = {k: (v / b if k.endswith("_ms") else v) for k, v in t.items()}
        model.eval()
        if name in profiled:
            rec["profile"] = profile_tables(model, md_batch)
        if name in compiled:
            # The whole model does not compile (torch_cluster's radius has no fake-tensor
            # kernel), so the interaction blocks are compiled, on a copy.
            cmodel = copy.deepcopy(model)
            for k, block in enumerate(cmodel.blocks):
                cmodel.blocks[k] = torch.compile(block)
            t0 = time.perf_counter()
            md_step(cmodel, md_batch)
            rec["compile"] = {"what": "interaction blocks", "first_call_s": time.perf_counter() - t0,
                              "md": timed(lambda: md_step(cmodel, md_batch), args.md_repeats)}
        results["models"][name] = rec
        tr = rec["train_ms_per_structure"]
        print(f"{name:<11} md cpu {rec['md']['cpu_median_ms']:7.2f} ms  train/structure cpu "
              + "  ".join(f"b{b}: {tr[str(b)]['cpu_median_ms']:6.2f}" for b in batch_sizes), flush=True)

    (HERE / f"{args.tag}.json").write_text(json.dumps(results, indent=1))
    (HERE / f"{args.tag}.md").write_text(summary(results, batch_sizes))


def summary(results: dict, batch_sizes: list[int]) -> str:
    lines = [f"# eSEN CPU cost: {results['tag']}", "",
             f"float32, {results['threads']} thread, eager, torch {results['torch']}; aspirin (21 atoms). "
             "The machine was shared with two other jobs: cells give the median CPU time of the "
             "timing thread (ms), then the median wall time in brackets. "
             f"glibc malloc thresholds raised (forcefields.allocator): {results.get('mallopt', False)}.", "",
             "| model | params | MD step ms | " + " | ".join(f"train ms/structure b={b}" for b in batch_sizes) + " |",
             "|---|---|---|" + "---|" * len(batch_sizes)]

    def cell(t: dict) -> str:
        return f"{t['cpu_median_ms']:.2f} ({t['median_ms']:.2f})"

    for name, rec in results["models"].items():
        tr = rec["train_ms_per_structure"]
        lines.append(f"| {name} | {rec['num_parameters']:,} | {cell(rec['md'])} | "
                     + " | ".join(cell(tr[str(b)]) for b in batch_sizes) + " |")
    for name, rec in results["models"].items():
        if "compile" in rec:
            c = rec["compile"]
            lines += ["", f"torch.compile of the {c['what']} of {name}: first call {c['first_call_s']:.1f} s, MD step "
                      f"{c['md']['cpu_median_ms']:.2f} ({c['md']['median_ms']:.2f}) ms"]
    for name, rec in results["models"].items():
        if "profile" in rec:
            for part, table in rec["profile"].items():
                lines += ["", f"## {name}: {part} (5 MD-sized calls)", "", "```", table.rstrip(), "```"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
