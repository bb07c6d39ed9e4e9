"""Helpers of the scaling tests: tiny labelled data and fabricated grids.

Small molecules from ase.build, rattled, labelled by ASE's EMT calculator
(eV, Å) and written as extxyz: any data source the harness takes works the same.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

FORMULAS = ("H2O", "CH4", "NH3", "CH3OH", "C2H6", "H2CO")


def write_tiny_extxyz(path: Path, num: int, seed: int = 0) -> Path:
    """``num`` rattled small molecules with EMT energies and forces, as extxyz."""
    from ase.build import molecule
    from ase.calculators.emt import EMT
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.io import write

    rng = np.random.default_rng(seed)
    frames = []
    for k in range(num):
        atoms = molecule(FORMULAS[k % len(FORMULAS)])
        atoms.positions += rng.normal(scale=0.08, size=atoms.positions.shape)
        atoms.calc = EMT()
        energy, forces = atoms.get_potential_energy(), atoms.get_forces()
        atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=forces)
        frames.append(atoms)
    write(str(path), frames, format="extxyz")
    return path


def fake_grid(out: Path, families: dict[str, dict], widths=("xs", "s", "m", "l"), *, settings=None,
              noise: float = 0.02, seed: int = 0, kappa: float = 30.0) -> Path:
    """Run folders as a finished grid would leave them, with losses drawn from L(N, D) and noise.

    ``families`` maps a family label to its true parameters (E, A, alpha, B, beta);
    widths get 4× the parameters each, from 2·10^4. No training happens.
    """
    from forcefields.scaling import ScalingSettings
    from forcefields.scaling.powerlaw import loss_nd
    from forcefields.scaling.results import write_json

    rng = np.random.default_rng(seed)
    protocol = (settings or ScalingSettings(data=["fake:data"], max_structures=100_000)).protocol()
    points = [int(p) for p in np.geomspace(128, 100_000, 12).round()]
    runs = []
    for family, truth in families.items():
        for k, size in enumerate(widths):
            name, n = f"{family}-{size}", 2e4 * 4**k
            folder = out / name
            runs.append({"name": name, "family": family, "size": size})
            write_json(folder / "settings.json", {"grid": protocol, "run": {
                "name": name, "family": family, "size": size, "num_parameters": int(n),
                "eval_points": points, "elements": [1, 6, 7, 8]}})
            write_json(folder / "flops.json", {"flops_per_structure": kappa * n, "kappa": kappa,
                                               "kappa_paper": kappa / 3})
            d = np.array(points, dtype=float)
            y = loss_nd(truth, np.full_like(d, n), d) * np.exp(rng.normal(scale=noise, size=d.size))
            rows = [{"structures": int(di), "val_loss": float(yi), "val_forces_mae": float(1000 * yi),
                     "flops": kappa * n * di, "train_seconds": 1.0, "eval_seconds": 0.1} for di, yi in zip(d, y)]
            (folder / "curve.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
            write_json(folder / "summary.json", {"status": "complete"})
    write_json(out / "grid.json", {"settings": protocol, "runs": runs})
    return out
