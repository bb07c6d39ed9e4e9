"""Speed of potentials against GFN2-xTB, their teacher, per structure on this CPU (one thread).

Systems: a QM9-sized molecule (from the corpus test set), aspirin (an rMD17
frame), a 101-atom alkane (C33H68, RDKit) and a 999-atom water droplet (the
speed benchmark's). Each method computes energy and forces through its ASE
calculator, reused across calls as in MD, on slightly displaced copies of the
structure; the median of the repeats is reported.

    OMP_NUM_THREADS=1 python benchmarks/corpus/speed_vs_xtb.py egnn-s.qm9-xtb mpnn-s.qm9-xtb --corpus corpus/qm9-xtb
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def systems(corpus: str, root: str) -> dict:
    from ase import Atoms

    from forcefields.bench.systems import water_droplet
    from forcefields.data.corpus import load_corpus
    from forcefields.data.sources import load_source
    from forcefields.simulate.molecule import atoms_from_smiles

    frames = load_corpus(corpus)
    test = frames.groups["test"]
    k = test[np.argsort(frames.natoms[test])[len(test) // 2]]  # a molecule of median size
    ptr = frames.ptr
    qm9 = Atoms(numbers=frames.numbers[ptr[k]:ptr[k + 1]], positions=frames.positions[ptr[k]:ptr[k + 1]])
    asp = load_source("rmd17:aspirin", root)
    aspirin = Atoms(numbers=asp.numbers[:asp.natoms[0]], positions=asp.positions[:asp.natoms[0]])
    return {
        f"QM9 molecule ({len(qm9)} atoms)": qm9,
        "aspirin (21 atoms)": aspirin,
        "alkane C33H68 (101 atoms)": atoms_from_smiles("C" * 33, seed=0),
        "water droplet (999 atoms)": water_droplet(999, seed=0),
    }


def time_calculator(atoms, calc, repeats: int) -> float:
    """Median seconds per energy+forces call on displaced copies (first call not counted)."""
    rng = np.random.default_rng(0)
    work = atoms.copy()
    work.calc = calc
    work.get_forces()
    times = []
    for _ in range(repeats):
        work.positions = atoms.positions + rng.normal(scale=0.01, size=atoms.positions.shape)
        t0 = time.perf_counter()
        work.get_forces()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("models", nargs="+")
    p.add_argument("--corpus", default="corpus/qm9-xtb")
    p.add_argument("--root", default="../shared/data/rmd17")
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--out", default=str(HERE / "speed_vs_xtb.json"))
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    import forcefields
    from forcefields.data.generate.labelers import make_labeler

    results = {"machine": f"{platform.machine()} {platform.processor()}", "threads": 1, "units": "ms per structure",
               "command": "python benchmarks/corpus/speed_vs_xtb.py " + " ".join(argv or __import__("sys").argv[1:]),
               "systems": {}}
    xtb = make_labeler("GFN2-xTB")
    for label, atoms in systems(args.corpus, args.root).items():
        repeats = args.repeats if len(atoms) < 500 else max(2, args.repeats // 5)
        row = {"atoms": len(atoms), "GFN2-xTB": 1e3 * time_calculator(atoms, xtb.ase_calculator(), repeats)}
        for name in args.models:
            calc = forcefields.calculator(name, dtype="float32")
            row[name] = 1e3 * time_calculator(atoms, calc, repeats)
        results["systems"][label] = row
        print(label, {k: (round(v, 2) if isinstance(v, float) else v) for k, v in row.items()}, flush=True)
    Path(args.out).write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
