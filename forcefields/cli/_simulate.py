"""What ``forcefields md`` and ``forcefields relax`` share: the structure and the potential options."""

from __future__ import annotations

import argparse

__all__ = ["add_common", "load_inputs"]


def add_common(parser: argparse.ArgumentParser, dtype: str) -> None:
    """--model, --smiles | --structure, --device, --dtype, --seed, --out, --no-progress."""
    add = parser.add_argument
    add("--model", required=True, metavar="NAME|PATH", help="pretrained name (e.g. egnn-m.qm9-xtb) or checkpoint folder")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--smiles", help="the molecule as a SMILES string (3D conformer by RDKit: ETKDGv3 + MMFF)")
    what.add_argument("--structure", metavar="FILE", help="any file ASE reads (xyz, extxyz, pdb, ...); its last frame")
    add("--device", default="cpu", help="cpu or cuda (default cpu)")
    add("--dtype", default=dtype, choices=["float32", "float64"], help=f"precision of the potential (default {dtype})")
    add("--seed", type=int, default=0, help="seed of the conformer embedding (and of the dynamics); default 0")
    add("--no-progress", dest="progress", action="store_false", help="no progress bar")


def load_inputs(args: argparse.Namespace, console):
    """The structure (ase.Atoms) and the calculator from the parsed options; prints what was loaded."""
    import time

    from ..ase_calculator import ForceFieldCalculator
    from ..simulate.molecule import atoms_from_smiles, load_structure

    if args.smiles is not None:
        try:
            atoms = atoms_from_smiles(args.smiles, seed=args.seed)
        except ImportError as err:  # RDKit missing: its sentence names the extra
            raise RuntimeError(str(err)) from None
        origin = f"SMILES {args.smiles} ({atoms.info.get('conformer_method')}, seed {args.seed})"
    else:
        from pathlib import Path

        if not Path(args.structure).is_file():
            raise FileNotFoundError(f"no structure file {args.structure}; check the path, or give --smiles instead.")
        atoms = load_structure(args.structure)
        origin = args.structure
    t0 = time.perf_counter()
    compiled = bool(getattr(args, "compile", False))
    calc = ForceFieldCalculator(args.model, device=args.device, dtype=args.dtype, compile=compiled)
    console.print(
        f"[bold]{args.model}[/bold] ({calc.model.num_parameters():,} parameters, {args.dtype}, {args.device}"
        f"{', compiled on the first steps' if compiled else ''}) "
        f"loaded in {time.perf_counter() - t0:.1f} s; {atoms.get_chemical_formula()} ({len(atoms)} atoms) from {origin}."
    )
    return atoms, calc
