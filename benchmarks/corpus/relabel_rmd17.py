"""rMD17 geometries relabelled with GFN2-xTB: zero-shot data for potentials trained on the xTB corpus.

Writes the first ``--frames`` test_01 frames of each molecule to an extxyz and
labels them with ``forcefields data generate --from-file`` (all frames in the
test split), into ``corpus/rmd17-xtb/<molecule>``. About 20 ms a label.

    OMP_NUM_THREADS=1 python benchmarks/corpus/relabel_rmd17.py --root ../shared/data/rmd17
"""

from __future__ import annotations

import argparse
from pathlib import Path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--root", default="../shared/data/rmd17")
    p.add_argument("--molecules", default="aspirin,ethanol")
    p.add_argument("--frames", type=int, default=300)
    p.add_argument("--out", default="corpus/rmd17-xtb")
    args = p.parse_args(argv)

    from ase import Atoms
    from ase.io import write

    from forcefields.data.generate.pipeline import label_structures
    from forcefields.data.generate.plan import GenerationSettings
    from forcefields.data.sources import load_source

    for molecule in args.molecules.split(","):
        frames = load_source(f"rmd17:{molecule}", args.root)
        test = frames.groups["test_01"][: args.frames]
        ptr = frames.ptr
        atoms = [Atoms(numbers=frames.numbers[ptr[k]:ptr[k + 1]], positions=frames.positions[ptr[k]:ptr[k + 1]],
                       info={"mol_id": 0, "rmd17_frame": int(k)}) for k in test]
        out = Path(args.out) / molecule
        out.mkdir(parents=True, exist_ok=True)
        src = out.with_suffix(".geometries.extxyz")
        write(src, atoms)
        settings = GenerationSettings(method="GFN2-xTB", val_fraction=0.0, test_fraction=1.0, unit_size=100)
        manifest = label_structures(out, src, settings)
        print(f"{molecule}: {manifest['counts']['geometries']} frames labelled, {manifest['time']['ms_per_label']} ms a label")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
