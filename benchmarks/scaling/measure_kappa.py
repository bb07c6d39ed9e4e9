"""Measure FLOPs per structure and κ = C/(N·D) of variants on real rMD17 batches.

    python benchmarks/scaling/measure_kappa.py --root ../shared/data/rmd17 \\
        --models mpnn-s,egnn-s,esen-l2-s,esen-l4-s --batch-size 8 --batches 2

Forward + backward of one training step (direct forces, L1-norm loss, the
scaling protocol's defaults), counted by torch.utils.flop_counter.FlopCounterMode.
"""

from __future__ import annotations

import argparse
import json

from forcefields.data import MolecularDataModule
from forcefields.models import create_model
from forcefields.scaling import measure_training_cost
from forcefields.training.losses import EnergyForceLoss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="rmd17:aspirin")
    parser.add_argument("--root", default=None)
    parser.add_argument("--models", default="mpnn-s,egnn-s,esen-l2-s,esen-l4-s")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--batches", type=int, default=2)
    parser.add_argument("--force-mode", default="direct", choices=["direct", "conservative"])
    args = parser.parse_args()
    loss = EnergyForceLoss("l1norm")
    rows = []
    for name in args.models.split(","):
        model = create_model(name, force_mode=args.force_mode)
        dm = MolecularDataModule([args.data], root=args.root, cutoff=model.cutoff, split="rmd17:1",
                                 batch_size=args.batch_size, verbose=False)
        dm.setup("fit")
        model = create_model(name, statistics=dm.statistics, force_mode=args.force_mode)
        batches = [b for _, b in zip(range(args.batches), dm.train_dataloader())]
        cost = measure_training_cost(model, loss, batches)
        rows.append({"model": name, **{k: cost[k] for k in ("num_parameters", "flops_per_structure", "kappa",
                                                            "kappa_paper", "seconds_per_structure", "atoms_per_structure")}})
        r = rows[-1]
        print(f"{name:<12} N={r['num_parameters']:>9,}  FLOPs/structure={r['flops_per_structure']:.3e}  "
              f"kappa={r['kappa']:.1f}  (paper convention {r['kappa_paper']:.1f})  "
              f"{1000 * r['seconds_per_structure']:.2f} ms/structure", flush=True)
    print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
