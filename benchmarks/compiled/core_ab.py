"""Whole-model ``torch.compile`` against the compiled network core (issue 14, round 5).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/compiled/core_ab.py --models esen-l1-s,esen-l2-s

For each model, one aspirin MD step (energy + conservative forces from
given edges, as the ASE calculator calls it; float32, one thread) in one process,
with the number of graphs each variant's first calls compiled:

* ``eager``: ``model(batch)``;
* ``whole``: ``torch.compile(model, dynamic=None)``, what the harness did before;
* ``core``: :class:`forcefields.models.compiled.CompiledForceField` (the default: Python kernel launches);
* ``core_cpp``: the same with inductor's C++ wrapper (off by default);
* with ``--ref REV``, ``eager_ref`` and ``core_ref``: the same model (same
  weights) built by the package as committed at ``REV``
  (``benchmarks/esen_speed/package_ab.py``'s unpacked copy), to A/B a change
  to the compiled path in one process.

``core`` and ``core_cpp`` compile the same function with different options;
time them in separate runs (``--variants eager,core``).

The first calls (compilation, and the recompile for dynamic shapes on a
rattled copy) are timed as ``compile_s``; then the variants are timed in
alternating rounds and the median CPU time of the timing thread (ms) is
kept, the steadier figure on a shared machine. Forces of each compiled variant are
compared with eager (max abs difference, eV/Å). Writes ``core_ab.json`` next to this script.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from ase import Atoms

from forcefields.allocator import tune_malloc
from forcefields.bench.systems import to_batch
from forcefields.data.neighbors import radius_graph
from forcefields.models import create_model
from forcefields.models.compiled import CompiledForceField
from torch._dynamo.utils import counters

HERE = Path(__file__).resolve().parent
ASPIRIN = HERE.parents[1] / ".." / "shared" / "data" / "rmd17" / "rmd17_aspirin_test_01.npz"


def aspirin(rattle: float = 0.0) -> Atoms:
    with np.load(ASPIRIN) as d:
        atoms = Atoms(numbers=d["nuclear_charges"].astype(int), positions=d["coords"][0])
    if rattle:
        atoms.rattle(stdev=rattle, seed=1)
    return atoms


def cpu_ms(fn, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        c0 = time.thread_time()
        fn()
        out.append(1e3 * (time.thread_time() - c0))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="mpnn-s,egnn-s,esen-l1-s,esen-l2-s,gemnet-xs")
    parser.add_argument("--variants", default="eager,whole,core")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--out", default=str(HERE / "core_ab.json"))
    parser.add_argument("--ref", default=None, help="git revision for the eager_ref and core_ref variants")
    args = parser.parse_args()
    ref_models = ref_compiled = None
    if args.ref:
        import importlib
        import sys
        import tempfile

        sys.path.insert(0, str(HERE.parent / "esen_speed"))
        from package_ab import committed_models_module

        ref_models = committed_models_module(args.ref, Path(tempfile.mkdtemp(prefix="core-ab-ref-")))
        ref_compiled = importlib.import_module("forcefields_ref.models.compiled")
    tune_malloc()
    torch.set_num_threads(1)
    batch, moved = to_batch([aspirin()]), to_batch([aspirin(0.05)])
    for b in (batch, moved):
        # The edges come with the input, as from the ASE calculator's neighbour list: torch.compile
        # cannot trace torch-cluster's radius search inside a whole-model graph.
        b.edge_index = radius_graph(b.pos, 5.0, b.batch)
    results = {"torch": torch.__version__, "threads": 1, "dtype": "float32", "molecule": "aspirin (21 atoms)",
               "ref": args.ref, "models": {}}
    for name in args.models.split(","):
        torch.manual_seed(0)
        model = create_model(name).eval()
        makers = {
            "eager": lambda: model,
            "whole": lambda: torch.compile(model, dynamic=None),
            "core": lambda: CompiledForceField(model, cpp_wrapper=False),
            "core_cpp": lambda: CompiledForceField(model, cpp_wrapper=True),
        }
        if ref_models is not None:
            ref_model = ref_models.create_model(name).eval()
            ref_model.load_state_dict(model.state_dict())
            makers["eager_ref"] = lambda: ref_model
            makers["core_ref"] = lambda: ref_compiled.CompiledForceField(ref_model, cpp_wrapper=False)
        reference = model(batch)["forces"].detach()
        fns, row, times = {}, {}, {}
        for variant in args.variants.split(","):
            fn = makers[variant]()
            graphs = counters["stats"]["unique_graphs"]
            t0 = time.perf_counter()
            for b in (batch, moved, batch, moved):
                fn(b)
            row[variant] = {"compile_s": round(time.perf_counter() - t0, 1),
                            "graphs": counters["stats"]["unique_graphs"] - graphs,
                            "max_force_diff": float((fn(batch)["forces"] - reference).abs().max())}
            fns[variant], times[variant] = fn, []
        # Alternating rounds: a change in the machine's load falls on every variant alike.
        for _ in range(args.rounds):
            for variant, fn in fns.items():
                times[variant] += cpu_ms(lambda: fn(batch), args.repeats)
        for variant in fns:
            row[variant]["md_ms"] = round(statistics.median(times[variant]), 3)
            print(f"{name:12s} {variant:9s} {row[variant]['md_ms']:7.2f} ms  first calls {row[variant]['compile_s']:6.1f} s  "
                  f"graphs {row[variant]['graphs']:3d}  max |dF| {row[variant]['max_force_diff']:.1e}", flush=True)
        torch._dynamo.reset()
        results["models"][name] = row
        Path(args.out).write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
