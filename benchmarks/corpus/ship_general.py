"""Ship a potential trained on the xTB corpus: checkpoints/<variant>.qm9-xtb with its card.

    python benchmarks/corpus/ship_general.py runs/general/egnn-s --name egnn-s.qm9-xtb --corpus corpus/qm9-xtb

Takes the metrics from ``benchmarks/corpus/accuracy.json`` (written by
``evaluate.py`` for the run's model folder): held-out molecules, 500 K MD
frames, rMD17 relabelled with GFN2-xTB. Rebuild the index afterwards:
``python -m forcefields.zoo.index checkpoints/``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "zoo"))
from ship import earlier_stages, train_command  # noqa: E402


def reference_frames(corpus: str, count: int):
    """The first ``count`` held-out test frames of the corpus, as ase.Atoms with their xTB labels."""
    from ase import Atoms
    from ase.calculators.singlepoint import SinglePointCalculator

    from forcefields.data.corpus import load_corpus

    frames = load_corpus(corpus)
    ptr = frames.ptr
    out = []
    seen = set()
    for k in frames.groups["test"]:
        if int(frames.molecules[k]) in seen:
            continue
        seen.add(int(frames.molecules[k]))
        atoms = Atoms(numbers=frames.numbers[ptr[k]:ptr[k + 1]], positions=frames.positions[ptr[k]:ptr[k + 1]])
        atoms.calc = SinglePointCalculator(atoms, energy=float(frames.energy[k]), forces=frames.forces[ptr[k]:ptr[k + 1]])
        out.append(atoms)
        if len(out) >= count:
            break
    return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", type=Path)
    p.add_argument("--name", required=True)
    p.add_argument("--corpus", default="corpus/qm9-xtb")
    p.add_argument("--accuracy", type=Path, default=HERE / "accuracy.json")
    p.add_argument("--out", type=Path, default=Path("checkpoints"))
    p.add_argument("--frames", type=int, default=8)
    p.add_argument("--hardware", default="one thread of a 2-core CPU")
    args = p.parse_args(argv)

    from forcefields import save
    from forcefields.data.generate.store import read_manifest
    from forcefields.training import load_exported
    from forcefields.zoo.card import with_article

    model = load_exported(args.run / "model")
    exported = json.loads((args.run / "model" / "config.json").read_text())
    metrics_run = json.loads((args.run / "metrics.json").read_text())
    recipe = yaml.safe_load((args.run / "config.yaml").read_text())
    resolved = sorted((args.run / "logs").glob("version_*/hparams.yaml"))
    if resolved:
        hparams = yaml.load(resolved[-1].read_text(), Loader=yaml.FullLoader)
        recipe = {**recipe, **{k: hparams[k] for k in ("schedule", "energy_weight", "forces_weight") if k in hparams}}
    accuracy = json.loads(args.accuracy.read_text())
    acc = accuracy.get(args.name) or accuracy[args.run.name]
    manifest = read_manifest(Path(args.corpus))
    counts = manifest["counts"]
    test, md = acc.get("test") or acc["test_below_10ev"], acc["test_md500"]
    metrics = {
        "energy_mae": test["energy_mae_mev"],
        "energy_per_atom_mae": test["energy_per_atom_mae_mev"],
        "force_mae": test["force_mae_mev_a"],
        "force_rmse": test["force_rmse_mev_a"],
        "md500_force_mae": md["force_mae_mev_a"],
        "md500_energy_per_atom_mae": md["energy_per_atom_mae_mev"],
        **{f"{k.split(':', 1)[1]}_xtb_force_mae": v["force_mae_mev_a"] for k, v in acc.items() if k.startswith("zero_shot:")},
        "split": (("" if "test" in acc else "held-out frames with forces below 10 eV/Å; ")
                  + f"{test['n_frames']:,} geometries of {test['molecules']:,} held-out molecules of the corpus; "
                  f"md500: {md['n_frames']:,} frames of 500 K GFN2-xTB MD of {md['molecules']} of them"),
        "command": f"python benchmarks/corpus/evaluate.py {args.name} --corpus {args.corpus}",
    }
    stages = earlier_stages(recipe)
    train_cmd = " && ".join([train_command(c, ".") for c, _ in stages] + [train_command(recipe, ".")])
    train_cmd = train_cmd.replace(" --root . ", " ").replace(" --split None", "")
    if recipe.get("max_force"):
        train_cmd += f" --max-force {recipe['max_force']:g}"
    epochs, spe = metrics_run.get("epochs"), metrics_run.get("seconds_per_epoch") or 0.0
    card = {
        "description": (
            f"{with_article(recipe['model'])} general potential for small neutral organic molecules of H, C, N, O, F "
            f"({model.family} family, {model.num_parameters():,} parameters), trained on the forcefields QM9 corpus "
            f"labelled with GFN2-xTB ({counts['geometries']:,} geometries of {counts['molecules_labelled']:,} molecules). "
            "Energies in eV, forces in eV/Å. **It learns GFN2-xTB, a semi-empirical method, not DFT.**"
        ),
        "datasets": ["qm9-xtb"],
        "tags": ["force-field", "interatomic-potential", "molecular-dynamics", model.family, "gfn2-xtb", "qm9"],
        "training_data": (
            f"The QM9-xTB corpus made by `forcefields data generate` (generator {manifest['generator_version']}, "
            f"seed {manifest['settings']['seed']}): RDKit conformers of {counts['molecules_labelled']:,} QM9 molecules, "
            f"normal-mode samples at {manifest['settings']['temperature_min']:g}–{manifest['settings']['temperature_max']:g} K "
            "and GFN2-xTB MD snapshots, labelled with GFN2-xTB (tblite). Split by molecule: trained on the "
            f"{counts['geometries_by_split'].get('train', 0):,} training geometries"
            + (f" less those whose largest force exceeds {recipe['max_force']:g} eV/Å (0.4 %: squeezed geometries "
               "generator 1.0 let through)" if recipe.get("max_force") else "")
            + ", tested on held-out molecules (the metric 'force_mae' over all their geometries). "
            "Regenerate it with the command in the README."
        ),
        "recipe": (
            f"{recipe.get('optimizer')} lr {recipe.get('lr')}, batch {recipe.get('batch_size')}, "
            f"{recipe.get('loss')} loss (energy weight {recipe.get('energy_weight')}, forces weight "
            f"{recipe.get('forces_weight')}), EMA {recipe.get('ema_decay')}, {recipe.get('schedule')} schedule, "
            f"{epochs} epochs ({spe / 60:.1f} min each) in a wall-clock budget of {recipe.get('max_time')} on "
            f"{args.hardware}. Command: `{train_cmd}`."
        ),
        "reproduce": metrics["command"],
        "intended_use": (
            "A starting point: molecular dynamics and relaxation of small neutral organic molecules (H, C, N, O, F) "
            "at the GFN2-xTB level, and a parent for fine-tuning to better reference data (see the README's "
            "fine-tuning-to-DFT table)."
        ),
        "limitations": (
            "GFN2-xTB labels, not DFT: the potential inherits xTB's errors. Trained on molecules of up to 9 heavy "
            "atoms (QM9) near thermal (300–600 K) configurations; larger molecules, charged species, other elements, "
            "reactions and periodic systems are outside its training data. Short CPU training budget."
        ),
    }
    folder = save(model, args.out / args.name, name=args.name, card=card, metrics=metrics,
                  training={**recipe, "epochs": epochs, "seconds_per_epoch": spe, "command": train_cmd},
                  statistics=exported.get("statistics"), reference=reference_frames(args.corpus, args.frames))
    print(f"shipped {args.name} -> {folder}")


if __name__ == "__main__":
    main()
