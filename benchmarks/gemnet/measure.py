"""Cost of the gemnet family: parameters, CPU training-step time, memory and FLOPs.

A training step is forward + conservative forces (graph kept) + an energy and
force MSE + backward, in float32 on one CPU thread. Measured on

- rMD17 aspirin, a batch of 4 frames (``rmd17_aspirin_test_01.npz`` under
  ``--root``; the stored aspirin geometry of the speed benchmark, rattled,
  when the folder is absent);
- the water droplets of the speed benchmark
  (:func:`forcefields.bench.systems.water_droplet`), one droplet per step,
  where triplets grow as neighbours² per atom.

For each it prints ms per step, the peak memory of the step (MB, resident
set high-water mark, see :mod:`forcefields.bench.memory`), the FLOPs of the
step's matrix products per structure (:class:`torch.utils.flop_counter.FlopCounterMode`,
the scaling harness's convention, forward + backward) and the graph sizes
(edges E, triplets T, quadruplets Q).

Usage::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/gemnet/measure.py \\
        --models gemnet-xs gemnet-s --root ../shared/data/rmd17 --droplets 48 96 192
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

from forcefields.bench.memory import PeakMemory
from forcefields.bench.systems import batch_systems, to_batch, water_droplet
from forcefields.data.neighbors import radius_graph
from forcefields.models import create_model
from forcefields.nn.gemnet_graph import build_directional_graph
from forcefields.scaling.flops import count_flops


def aspirin_batch(root: str | None, size: int = 4):
    """z, pos (Å) of ``size`` aspirin frames as a Batch; real rMD17 frames when ``root`` has them."""
    path = Path(root) / "rmd17_aspirin_test_01.npz" if root else None
    if path is not None and path.is_file():
        from ase import Atoms

        with np.load(path) as d:
            frames = [Atoms(numbers=d["nuclear_charges"].astype(int), positions=d["coords"][k]) for k in range(size)]
        return to_batch(frames), f"rMD17 {path.name} frames 0-{size - 1}"
    return to_batch(batch_systems(size)), "stored aspirin, rattled 0.01 Å (no rMD17 folder)"


def graph_sizes(model, batch) -> dict[str, int]:
    """Edges, triplets and quadruplets of ``batch`` under ``model``'s cutoffs."""
    edge_index = radius_graph(batch.pos, model.cutoff, batch.batch)
    edge_vec = batch.pos[edge_index[0]] - batch.pos[edge_index[1]]
    with torch.no_grad():
        graph = build_directional_graph(
            edge_index, edge_vec, batch.pos.shape[0], model.radial, model.config.num_angular,
            model.quad_envelope, model.config.num_dihedral, model.config.num_quad_angular,
        )
    return {"edges": graph.num_edges, "triplets": graph.num_triplets, "quadruplets": graph.num_quadruplets}


def training_step(model, batch) -> None:
    out = model(batch, compute_forces=True, create_graph=True)
    target_e = torch.zeros_like(out["energy"])
    target_f = torch.zeros_like(out["forces"])
    loss = (out["energy"] - target_e).pow(2).mean() + (out["forces"] - target_f).pow(2).mean()
    loss.backward()
    model.zero_grad(set_to_none=True)


def measure(model, batch, repeats: int) -> dict[str, float]:
    structures = int(batch.num_graphs)
    flops = count_flops(lambda: training_step(model, batch))
    training_step(model, batch)  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        training_step(model, batch)
        times.append(time.perf_counter() - start)
    with PeakMemory("cpu") as peak:
        training_step(model, batch)
    return {
        "ms_per_step": 1e3 * statistics.median(times),
        "peak_mb": peak.peak_mb,
        "flops_per_structure": flops / structures,
        **{k: v / structures for k, v in graph_sizes(model, batch).items()},
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=["gemnet-xs", "gemnet-s"])
    parser.add_argument("--root", default=None, help="folder of the rMD17 npz files")
    parser.add_argument("--droplets", nargs="*", type=int, default=[48, 96, 192], help="droplet sizes (atoms)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-quad", action="store_true", help="also measure without the quadruplet interaction")
    parser.add_argument("--json", default=None, help="write the results here")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    aspirin, aspirin_source = aspirin_batch(args.root)
    print(f"aspirin: {aspirin_source}; one thread, float32; FLOPs = matrix products, forward + backward")
    rows = []
    variants = [(name, {}) for name in args.models]
    if args.no_quad:
        variants += [(name, {"quad_interaction": False}) for name in args.models]
    for name, overrides in variants:
        model = create_model(name, seed=0, **overrides).train()
        label = name + (" (no quad)" if overrides else "")
        systems = [("aspirin x4", aspirin)] + [
            (f"water {n}", to_batch([water_droplet(n, seed=0)])) for n in args.droplets
        ]
        for system, batch in systems:
            row = {"model": label, "params": model.num_parameters(), "system": system,
                   "atoms": int(batch.pos.shape[0] / batch.num_graphs), **measure(model, batch, args.repeats)}
            rows.append(row)
            print(
                f"{label:22s} {row['params']:>10,d} params  {system:11s} {row['atoms']:>4d} atoms  "
                f"{row['ms_per_step']:9.1f} ms/step  peak {row['peak_mb'] if row['peak_mb'] is None else round(row['peak_mb'], 1)} MB  "
                f"{row['flops_per_structure'] / 1e9:8.3f} GFLOP/structure  "
                f"E {row['edges']:.0f} T {row['triplets']:.0f} Q {row['quadruplets']:.0f} per structure",
                flush=True,
            )
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
