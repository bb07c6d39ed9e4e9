"""Fixed cost of an eager MD step: a 3-atom water against aspirin, and the aten calls per step.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/compiled/overhead.py --models esen-l1-s,esen-l2-s,egnn-s

One energy + forces call (neighbour list inside), float32, one thread, untrained
weights; median CPU time of the timing thread over 40 calls, ms. When water costs
most of what aspirin does, the step is made of per-call overhead, not arithmetic.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from ase import Atoms

from forcefields.allocator import tune_malloc
from forcefields.bench.systems import to_batch
from forcefields.models import create_model

ASPIRIN = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "rmd17" / "rmd17_aspirin_test_01.npz"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="esen-l1-s,esen-l2-s,egnn-s")
    args = parser.parse_args()
    tune_malloc()
    torch.set_num_threads(1)
    with np.load(ASPIRIN) as d:
        aspirin = Atoms(numbers=d["nuclear_charges"].astype(int), positions=d["coords"][0])
    water = Atoms("OH2", positions=[[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]])
    from torch.profiler import ProfilerActivity, profile

    print("| model | water (ms) | aspirin (ms) | aten calls per step |\n|---|---|---|---|")
    for name in args.models.split(","):
        torch.manual_seed(0)
        model = create_model(name).eval()
        row = []
        for mol in (water, aspirin):
            batch = to_batch([mol])
            for _ in range(3):
                model(batch)
            cpu = []
            for _ in range(40):
                c0 = time.thread_time()
                model(batch)
                cpu.append(1e3 * (time.thread_time() - c0))
            row.append(statistics.median(cpu))
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            model(batch)
        calls = sum(e.count for e in prof.key_averages() if e.key.startswith("aten::"))
        print(f"| {name} | {row[0]:.2f} | {row[1]:.2f} | {calls:,} |")


if __name__ == "__main__":
    main()
