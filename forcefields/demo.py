"""Demo: a shipped potential drives molecular dynamics of aspirin (``make demo``).

1. loads the best shipped aspirin model of ``checkpoints/index.json`` (lowest
   force MAE), or the one given with ``--model``;
2. takes an aspirin frame from the model's ``reference.extxyz`` (or from
   ``../shared/data/rmd17`` when present);
3. runs Langevin dynamics at 300 K, then NVE (velocity Verlet), with ASE;
4. prints the NVE energy drift (meV/atom/ps) and the force error against the
   labelled reference frames (MAE, meV/Å).

Step counts shrink to fit ``--budget`` seconds on slow machines.

    python -m forcefields.demo [--model NAME] [--dtype float64] [--budget 90]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

__all__ = ["main", "pick_model", "reference_frames", "energy_drift"]

KCAL_MOL_TO_EV = 0.0433641
SHARED_RMD17 = Path(os.environ.get("FORCEFIELDS_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")) / "rmd17"


def pick_model(molecule: str = "aspirin") -> str | None:
    """Name of the shipped model of ``molecule`` with the lowest force MAE, or None."""
    from .zoo.resolve import index_entries

    candidates = [e for e in index_entries().values() if e.data and molecule in e.data]
    if not candidates:
        return None
    return min(candidates, key=lambda e: float(e.metrics.get("force_mae", math.inf))).name


def reference_frames(folder: Path | None, limit: int = 50) -> tuple[list, str]:
    """Labelled aspirin frames (ase.Atoms with energy eV and forces eV/Å), and where they came from."""
    from ase import Atoms
    from ase.calculators.singlepoint import SinglePointCalculator

    from .zoo.reference import read_reference_frames

    if folder is not None:
        frames = [a for a in read_reference_frames(folder) if a.calc is not None][:limit]
        if frames:
            return frames, f"{folder.name}/reference.extxyz"
    npz = SHARED_RMD17 / "rmd17_aspirin_test_01.npz"
    if npz.is_file():
        data = np.load(npz)
        frames = []
        for k in range(min(limit, len(data["energies"]))):
            a = Atoms(numbers=data["nuclear_charges"], positions=data["coords"][k])
            a.calc = SinglePointCalculator(
                a, energy=float(data["energies"][k]) * KCAL_MOL_TO_EV, forces=data["forces"][k] * KCAL_MOL_TO_EV
            )
            frames.append(a)
        return frames, str(npz)
    return [], ""


def energy_drift(times_fs: np.ndarray, total_energy_ev: np.ndarray, natoms: int) -> float:
    """Slope of a straight-line fit of total energy over time, in meV/atom/ps."""
    slope_ev_per_fs = np.polyfit(times_fs, total_energy_ev, 1)[0]
    return float(slope_ev_per_fs * 1e3 * 1e3 / natoms)


def _thermalize(atoms, temperature_k: float, rng) -> None:
    """Maxwell-Boltzmann momenta, no net momentum or rotation (ASE >= 3.29 and older)."""
    from ase.md import velocitydistribution as vd

    if hasattr(vd, "thermalize_momenta"):
        vd.thermalize_momenta(atoms, temperature_K=temperature_k, rng=rng)
    else:  # pragma: no cover - ASE < 3.29
        vd.MaxwellBoltzmannDistribution(atoms, temperature_K=temperature_k, rng=rng)
    vd.Stationary(atoms)
    vd.ZeroRotation(atoms)


def _force_error(calc, frames: list) -> tuple[float, float]:
    """Force MAE (meV/Å) and energy MAE (meV) of ``calc`` on labelled frames."""
    ferr, eerr = [], []
    for ref in frames:
        a = ref.copy()
        a.calc = calc
        ferr.append(np.abs(a.get_forces() - ref.get_forces()).ravel())
        eerr.append(abs(a.get_potential_energy() - ref.get_potential_energy()))
    return float(np.concatenate(ferr).mean() * 1e3), float(np.mean(eerr) * 1e3)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m forcefields.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="pretrained name or checkpoint folder (default: best shipped aspirin model)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float64", help="float64 keeps NVE drift free of round-off (default)")
    parser.add_argument("--langevin-steps", type=int, default=200)
    parser.add_argument("--nve-steps", type=int, default=400)
    parser.add_argument("--timestep", type=float, default=0.5, help="fs")
    parser.add_argument("--budget", type=float, default=90.0,
                        help="seconds for the dynamics and the reference errors; steps and frames shrink to fit")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from .console import make_console
    from rich.table import Table

    console = make_console()
    name = args.model or pick_model("aspirin")
    if name is None:
        console.print(
            "[bold red]No shipped aspirin model yet:[/bold red] checkpoints/index.json lists none. Train one, "
            "export it with forcefields.save(model, 'checkpoints/<variant>.rmd17-aspirin', reference=test_frames), "
            "rebuild the index with `python -m forcefields.zoo.index checkpoints/`, or pass --model NAME_OR_FOLDER."
        )
        return 1

    import torch
    from ase import units
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import Stationary, ZeroRotation
    from ase.md.verlet import VelocityVerlet

    from .ase_calculator import ForceFieldCalculator
    from .zoo.resolve import locate

    # 21 atoms are too few to split across threads; extra threads only spin on a busy machine.
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    try:
        folder, _ = locate(name)
        calc = ForceFieldCalculator(name, device=args.device, dtype=args.dtype)
    except (ValueError, KeyError, FileNotFoundError, RuntimeError) as err:
        console.print(f"[bold red]Cannot load {name}:[/bold red] {err.args[0] if isinstance(err, KeyError) else err}")
        return 1
    frames, origin = reference_frames(folder)
    if not frames:
        console.print(
            f"[bold red]No aspirin frame:[/bold red] {folder.name} has no reference.extxyz and "
            f"{SHARED_RMD17} is absent; save the model with reference frames."
        )
        return 1
    console.print(f"Loaded [bold]{name}[/bold] ({calc.model.num_parameters():,} parameters, {args.dtype}) "
                  f"in {time.perf_counter() - t0:.1f} s; frames from {origin}.")

    atoms = frames[0].copy()
    atoms.calc = calc
    # Cost of one force call, to fit the reference errors and the dynamics into the budget.
    atoms.get_forces()
    t1 = time.perf_counter()
    for _ in range(3):
        atoms.positions += 1e-4
        atoms.get_forces()
    per_step = (time.perf_counter() - t1) / 3
    frames = frames[: max(1, min(len(frames), int(0.15 * args.budget / per_step)))]
    md_budget = args.budget - per_step * len(frames)
    total = args.langevin_steps + args.nve_steps
    scale = min(1.0, md_budget / max(per_step * total, 1e-9))
    n_lang = max(10, int(args.langevin_steps * scale))
    n_nve = max(20, int(args.nve_steps * scale))
    if scale < 1:
        console.print(f"({per_step * 1e3:.0f} ms a step here: running {n_lang} + {n_nve} steps and "
                      f"{len(frames)} reference frames to stay within {args.budget:.0f} s)")

    rng = np.random.default_rng(args.seed)
    _thermalize(atoms, 300.0, rng)
    dt = args.timestep * units.fs
    builds_before = calc.num_builds
    t2 = time.perf_counter()
    times, etot, temps = [], [], []
    try:
        Langevin(atoms, dt, temperature_K=300, friction=0.01 / units.fs, fixcm=False, rng=rng).run(n_lang)
        temperature_eq = atoms.get_temperature()
        Stationary(atoms)  # no drift or spin of the whole molecule in the NVE part
        ZeroRotation(atoms)
        nve = VelocityVerlet(atoms, dt)

        def record() -> None:
            times.append(nve.get_time() / units.fs)
            etot.append(atoms.get_potential_energy() + atoms.get_kinetic_energy())
            temps.append(atoms.get_temperature())

        nve.attach(record, interval=1)
        nve.run(n_nve)
    except ValueError as err:  # NaN positions: the potential let the molecule fly apart
        console.print(f"[bold red]The dynamics became unstable:[/bold red] {err} Try a smaller --timestep.")
        return 1
    md_seconds = time.perf_counter() - t2
    md_builds = calc.num_builds - builds_before
    n = len(atoms)
    drift = energy_drift(np.asarray(times), np.asarray(etot), n)
    fluct = float(np.std(etot) / n * 1e3)
    fmae, emae = _force_error(calc, frames)

    table = Table(title=f"{name}: {atoms.get_chemical_formula()}, {n} atoms")
    table.add_column("quantity")
    table.add_column("value", justify="right")
    table.add_row("Langevin 300 K", f"{n_lang} steps × {args.timestep} fs, T after = {temperature_eq:.0f} K")
    table.add_row("NVE", f"{n_nve} steps × {args.timestep} fs, mean T = {np.mean(temps):.0f} K")
    table.add_row("NVE energy drift", f"{drift:+.3g} meV/atom/ps")
    table.add_row("NVE energy fluctuation (std)", f"{fluct:.3g} meV/atom")
    table.add_row(f"force MAE vs reference ({len(frames)} frames)", f"{fmae:.1f} meV/Å")
    table.add_row("energy MAE vs reference", f"{emae:.1f} meV")
    table.add_row("dynamics wall time", f"{md_seconds:.1f} s ({md_seconds / (n_lang + n_nve) * 1e3:.0f} ms/step)")
    table.add_row("neighbour-list builds", f"{md_builds} for {n_lang + n_nve} steps (skin {calc.skin} Å)")
    console.print(table)
    general_demo(console)
    return 0


def pick_general_model() -> str | None:
    """The shipped general potential (trained on the xTB corpus) with the lowest held-out force MAE, or None."""
    from .zoo.resolve import index_entries

    candidates = [e for e in index_entries().values() if e.data == "qm9-xtb"]
    if not candidates:
        return None
    return min(candidates, key=lambda e: float(e.metrics.get("force_mae", math.inf))).name


def general_demo(console, smiles: str = "CN1C=NC2=C1C(=O)N(C(=O)N2C)C", name: str | None = None) -> bool:
    """Relax caffeine, a molecule larger than any the general potential saw, from its SMILES.

    Returns False (and says why in one line) when no general potential is
    shipped or RDKit is missing; the aspirin part of the demo does not need either.
    """
    name = name or pick_general_model()
    if name is None:
        console.print("(no general potential, <variant>.qm9-xtb, is shipped yet: skipping the caffeine relaxation)")
        return False
    try:
        from .simulate import atoms_from_smiles, relax
    except ImportError as err:  # pragma: no cover - the package is always there
        console.print(f"(skipping the caffeine relaxation: {err})")
        return False
    try:
        atoms = atoms_from_smiles(smiles, seed=0)
    except ImportError as err:
        console.print(f"(skipping the caffeine relaxation: {err})")
        return False
    summary = relax(atoms, name, fmax=0.05, steps=300, progress=False)
    console.print(
        f"[bold]{name}[/bold], a general potential trained on GFN2-xTB labels of QM9 molecules, relaxes caffeine "
        f"({len(atoms)} atoms, 14 heavy atoms: larger than any molecule it saw) from its SMILES: "
        f"{summary.steps} BFGS steps, {1e3 * (summary.initial_energy - summary.final_energy) / len(atoms):.1f} meV/atom "
        f"lower, largest force {summary.initial_fmax:.2f} -> {summary.final_fmax:.3f} eV/Å "
        f"({'converged' if summary.converged else 'not converged'}) in {summary.wall_time_s:.1f} s."
    )
    return summary.converged


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
