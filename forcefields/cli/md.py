"""``forcefields md``: molecular dynamics of one molecule with a pretrained potential.

    forcefields md --model egnn-m.qm9-xtb --smiles "CC(=O)Oc1ccccc1C(=O)O" --temperature 300 \\
        --steps 2000 --out aspirin-md.extxyz
    forcefields md --model ./my-model --structure start.xyz --thermostat nve --timestep 0.25 --dtype float64

Langevin (NVT) or velocity Verlet (NVE) from ASE, Maxwell-Boltzmann initial
velocities; prints the temperature, the energy drift and the time per step.
"""

from __future__ import annotations

import argparse

from ._simulate import add_common, load_inputs

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "md",
        help="molecular dynamics of a molecule (SMILES or file) with a pretrained potential",
        description=__doc__.split("\n\n")[0] + "\n\n" + __doc__.split("\n\n")[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_common(parser, dtype="float32")
    add = parser.add_argument
    add("--temperature", type=float, default=300.0, help="K, initial velocities and Langevin bath (default 300)")
    add("--steps", type=int, default=1000, help="integration steps (default 1000)")
    add("--timestep", type=float, default=0.5, help="fs (default 0.5)")
    add("--thermostat", default="langevin", choices=["langevin", "nve"], help="langevin (NVT, default) or nve")
    add("--friction", type=float, default=0.01, help="Langevin friction, 1/fs (default 0.01)")
    add("--interval", type=int, default=10, help="write a frame every N steps (default 10)")
    add("--out", default=None, help="extxyz trajectory with energies and forces (default: none written)")
    add("--compile", action="store_true",
        help="run the potential under torch.compile: the first steps compile (a minute or more), "
             "later steps are faster; for long runs")
    parser.set_defaults(func=_run)
    return parser


def _run(args: argparse.Namespace) -> int:
    from rich.table import Table

    from ..console import make_console
    from ..simulate.md import run_md

    console = make_console()
    atoms, calc = load_inputs(args, console)
    s = run_md(atoms, calc, temperature_K=args.temperature, steps=args.steps, timestep_fs=args.timestep,
               thermostat=args.thermostat, friction=args.friction, seed=args.seed, out=args.out,
               interval=args.interval, progress=args.progress)

    table = Table(title=f"MD of {atoms.get_chemical_formula()} ({s.natoms} atoms) with {args.model}")
    table.add_column("quantity")
    table.add_column("value", justify="right")
    bath = f"Langevin {s.temperature_target:g} K, friction {args.friction:g}/fs" if s.thermostat == "langevin" else "NVE"
    table.add_row("ensemble", bath)
    table.add_row("steps", f"{s.steps} of {s.steps_requested} × {s.timestep_fs:g} fs = {s.simulated_ps:.4g} ps")
    table.add_row("temperature", f"{s.temperature_mean:.1f} ± {s.temperature_std:.1f} K")
    note = "" if s.thermostat == "nve" else " (a thermostat exchanges energy: meaningful for NVE)"
    table.add_row("energy drift", f"{s.energy_drift * 1e3:+.3g} meV/atom/ps{note}")
    table.add_row("wall time", f"{s.wall_time_s:.1f} s ({s.ms_per_step:.2f} ms/step)")
    if s.out:
        table.add_row("trajectory", f"{s.out} ({s.frames_written} frames, every {args.interval} steps)")
    console.print(table)
    if s.blew_up:
        where = f"; the last frames are in {s.last_frames}" if s.last_frames else ""
        console.print(f"[bold red]The simulation blew up[/bold red] {s.reason}{where}. "
                      "Try a smaller --timestep, a lower --temperature, or --dtype float64.")
        return 1
    return 0
