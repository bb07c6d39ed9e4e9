"""In-process A/B of esen's shared edge frames (one per bond) against one frame per edge.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/esen_speed/paired_ab.py --models esen-l2-xs,esen-l1-s,esen-l2-s

Both variants run in the same process on the same model and inputs, in
alternating order (ABBA...), so load from other jobs and between-process noise
(which moved unchanged code by 20 % in earlier rounds) falls on both alike. The
single-frame variant is what the model does in eval mode and for edge lists
that do not pair (``forcefields.nn.edge_pairs.pair_edges`` returning None). Float32, one
thread, eager; thread CPU time per structure, ms: the MD step on one aspirin
(21 atoms, 292 edges) and training steps (forward, conservative forces with
``create_graph``, loss, backward) on batches of 16 and 64 rattled copies.
Writes ``paired_ab.json`` next to this script.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from forcefields.allocator import tune_malloc
from forcefields.bench.systems import to_batch
from forcefields.models import create_model
from forcefields.models import esen as esen_module
from forcefields.training.losses import EnergyForceLoss
from profile_esen import aspirin, train_step, training_batch

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="esen-l2-xs,esen-l1-s,esen-l2-s")
    parser.add_argument("--rounds", type=int, default=1, help="times to repeat the whole comparison")
    args = parser.parse_args()
    tune_malloc()
    torch.set_num_threads(1)
    variants = {"shared": esen_module.pair_edges, "per_edge": lambda *a: None}
    loss_fn = EnergyForceLoss("l1norm")
    results = {"torch": torch.__version__, "rows": []}
    for rnd in range(args.rounds):
        for name in args.models.split(","):
            torch.manual_seed(0)
            # Train mode throughout: the model shares frames only in training. The MD row
            # then runs without create_graph, the cost of an energy + forces call.
            model = create_model(name).train()
            for label, size, repeats in (("md", 1, 60), ("train b16", 16, 12), ("train b64", 64, 6)):
                if label == "md":
                    batch = to_batch([aspirin()])
                    step = lambda: model(batch, compute_forces=True, create_graph=False)  # noqa: E731
                else:
                    batch = training_batch(size, aspirin())
                    step = lambda: train_step(model, loss_fn, batch)  # noqa: E731
                times = {k: [] for k in variants}
                for i in range(repeats + 1):
                    order = list(variants.items()) if i % 2 else list(variants.items())[::-1]
                    for key, pairing in order:
                        esen_module.pair_edges = pairing
                        start = time.thread_time()
                        step()
                        if i:  # the first round is warm-up
                            times[key].append((time.thread_time() - start) * 1e3 / size)
                esen_module.pair_edges = variants["shared"]
                row = {"round": rnd, "model": name, "step": label}
                for key, t in times.items():
                    row[f"{key}_median_ms"], row[f"{key}_min_ms"] = statistics.median(t), min(t)
                results["rows"].append(row)
                print(f"{name:<11} {label:<10} shared {row['shared_median_ms']:6.2f}/{row['shared_min_ms']:6.2f}  "
                      f"per-edge {row['per_edge_median_ms']:6.2f}/{row['per_edge_min_ms']:6.2f} ms (median/min)", flush=True)
    (HERE / "paired_ab.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
