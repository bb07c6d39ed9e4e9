"""How far from rotation-equivariant is a trained model, measured on real frames.

    python benchmarks/symmetry/rotation_error.py mpnn-s.rmd17-aspirin mpnn-s.rmd17-aspirin-symloss egnn-s.rmd17-aspirin esen-l2-xs.rmd17-aspirin \
        --data rmd17:aspirin --root ../shared/data/rmd17 --frames 200 --rotations 8 \
        --out benchmarks/symmetry/results.json

For each model, each test frame is evaluated as is and under K random
rotations; reported are the mean absolute change of the energy (meV) and the
mean absolute deviation of the rotated forces from the co-rotated forces
(meV/Å), next to the model's force MAE on the same frames. Equivariant
families give float round-off; the unconstrained mpnn gives a real number.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch


def measure(model, loader, rotations: int, seed: int = 0) -> dict[str, float]:
    from forcefields.testing import evaluate, random_rotation

    gen = torch.Generator().manual_seed(seed)
    de, df, fmae, n_mol, n_comp = 0.0, 0.0, 0.0, 0, 0
    for batch in loader:
        e0, f0 = evaluate(model, batch)
        fmae += float((f0 - batch.forces).abs().sum())
        for _ in range(rotations):
            rot = random_rotation(batch.pos.dtype, False, gen)
            e1, f1 = evaluate(model, batch, pos=batch.pos @ rot.T)
            de += float((e1 - e0).abs().sum())
            df += float((f1 - f0 @ rot.T).abs().sum())
        n_mol += batch.num_graphs
        n_comp += batch.forces.numel()
    return {
        "energy_rotation_mae_meV": 1000 * de / (n_mol * rotations),
        "force_rotation_mae_meV_per_A": 1000 * df / (n_comp * rotations),
        "force_mae_meV_per_A": 1000 * fmae / n_comp,
        "frames": n_mol,
        "rotations": rotations,
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("models", nargs="+", help="pretrained names or checkpoint/exported folders")
    p.add_argument("--data", default="rmd17:aspirin")
    p.add_argument("--root", default="../shared/data/rmd17")
    p.add_argument("--frames", type=int, default=200)
    p.add_argument("--rotations", type=int, default=8)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)

    from rich.console import Console
    from rich.table import Table

    from forcefields import MolecularDataModule
    from forcefields.training import load_exported

    dm = MolecularDataModule(
        sources=[args.data], root=args.root, cutoff=5.0,
        split={"protocol": "rmd17:1"}, batch_size=16, dtype="float64",
    )
    dm.setup("test")
    batches = []
    seen = 0
    for batch in dm.test_dataloader():
        batches.append(batch)
        seen += batch.num_graphs
        if seen >= args.frames:
            break
    results = {}
    for spec in args.models:
        path = Path(spec)
        if (path / "config.json").is_file() and not (path / "README.md").is_file():
            model = load_exported(path)
        else:
            import forcefields

            model = forcefields.load(spec)
        model = model.double().eval()
        results[spec] = {"family": model.family, "num_parameters": model.num_parameters(), **measure(model, batches, args.rotations)}
    table = Table(title=f"rotation error on {seen} test frames of {args.data} ({args.rotations} rotations each)")
    for col in ("model", "family", "energy change (meV)", "force deviation (meV/Å)", "force MAE (meV/Å)"):
        table.add_column(col, justify="right" if "(" in col else "left")
    for spec, r in results.items():
        table.add_row(spec, r["family"], f"{r['energy_rotation_mae_meV']:.3g}",
                      f"{r['force_rotation_mae_meV_per_A']:.3g}", f"{r['force_mae_meV_per_A']:.1f}")
    Console(width=140).print(table)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
