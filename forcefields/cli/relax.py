"""``forcefields relax``: the minimum-energy geometry of one molecule with a pretrained potential.

    forcefields relax --model egnn-m.qm9-xtb --smiles "CN1C=NC2=C1C(=O)N(C(=O)N2C)C" --out caffeine.xyz
    forcefields relax --model ./my-model --structure start.extxyz --optimizer FIRE --fmax 0.05

ASE's BFGS, FIRE or LBFGS in float64 (default); prints the energies, the
final largest force and whether it converged.
"""

from __future__ import annotations

import argparse

from ._simulate import add_common, load_inputs

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "relax",
        help="relax a molecule's geometry (SMILES or file) with a pretrained potential",
        description=__doc__.split("\n\n")[0] + "\n\n" + __doc__.split("\n\n")[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_common(parser, dtype="float64")
    add = parser.add_argument
    add("--fmax", type=float, default=0.01, help="converged when every force is below this, eV/Å (default 0.01)")
    add("--steps", type=int, default=1000, help="most optimizer steps (default 1000)")
    add("--optimizer", default="BFGS", choices=["BFGS", "FIRE", "LBFGS"], help="ASE optimizer (default BFGS)")
    add("--out", default=None, help="final geometry, format from the extension (.xyz/.extxyz keep energy and forces)")
    parser.set_defaults(func=_run)
    return parser


def _run(args: argparse.Namespace) -> int:
    from rich.table import Table

    from ..console import make_console
    from ..simulate.relax import relax

    console = make_console()
    atoms, calc = load_inputs(args, console)
    s = relax(atoms, calc, fmax=args.fmax, steps=args.steps, optimizer=args.optimizer, out=args.out,
              progress=args.progress)

    table = Table(title=f"Relaxation of {atoms.get_chemical_formula()} ({s.natoms} atoms) with {args.model}")
    table.add_column("quantity")
    table.add_column("value", justify="right")
    table.add_row("converged", f"{'yes' if s.converged else 'no'} (fmax < {s.fmax_target:g} eV/Å)")
    table.add_row("steps", f"{s.steps} of at most {s.steps_max} ({s.optimizer})")
    table.add_row("energy", f"{s.initial_energy:.4f} → {s.final_energy:.4f} eV "
                            f"(Δ {s.final_energy - s.initial_energy:+.4f} eV)")
    table.add_row("largest force", f"{s.initial_fmax:.4f} → {s.final_fmax:.4f} eV/Å")
    table.add_row("wall time", f"{s.wall_time_s:.2f} s")
    if s.out:
        table.add_row("geometry", s.out)
    console.print(table)
    if not s.converged:
        console.print(f"[bold yellow]Not converged[/bold yellow] after {s.steps} steps; "
                      "raise --steps, loosen --fmax, or try --optimizer FIRE.")
        return 1
    return 0
