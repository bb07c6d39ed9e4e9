"""Turn a finished training run into a shipped checkpoint under checkpoints/.

    python benchmarks/zoo/ship.py runs/egnn-s.rmd17-aspirin --name egnn-s.rmd17-aspirin \
        --data rmd17:aspirin --root ../shared/data/rmd17

Reads the run's exported EMA model, its metrics.json (test metrics measured at
the end of training) and config.yaml (the recipe), takes a few test frames as
reference frames, and writes the zoo's folder (config.json, model.safetensors,
README.md card, reference.extxyz, reference_prediction.json). Rebuild the
index afterwards: ``python -m forcefields.zoo.index checkpoints/``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import yaml

from forcefields.training.command import train_command

MOLECULES = "aspirin, benzene, ethanol, malonaldehyde, naphthalene, salicylic acid, toluene, uracil"


def reference_frames(data: list[str], root: str, split: str, cutoff: float, count: int):
    """The first ``count`` test frames of each source, as ase.Atoms with eV/Å labels."""
    from ase import Atoms
    from ase.calculators.singlepoint import SinglePointCalculator

    from forcefields import MolecularDataModule

    dm = MolecularDataModule(sources=data, root=root, cutoff=cutoff, split=split, batch_size=1, dtype="float64")
    dm.prepare_data()
    dm.setup("test")
    frames = []
    per_source = max(1, count // len(data))
    seen: dict[str, int] = {}
    for batch in dm.test_dataloader():
        key = tuple(batch.z.tolist())
        if seen.get(str(key), 0) >= per_source:
            continue
        seen[str(key)] = seen.get(str(key), 0) + 1
        atoms = Atoms(numbers=batch.z.numpy(), positions=batch.pos.numpy())
        atoms.calc = SinglePointCalculator(
            atoms, energy=float(batch.energy[0]), forces=batch.forces.numpy()
        )
        frames.append(atoms)
        if len(frames) >= count:
            break
    return frames


def earlier_stages(recipe: dict) -> list[tuple[dict, dict]]:
    """(config, metrics) of the runs an ``--init-from`` chain started from, oldest first."""
    stages = []
    source = recipe.get("init_from")
    while source and (Path(source).parent / "config.yaml").is_file():
        run = Path(source).parent
        config = yaml.safe_load((run / "config.yaml").read_text())
        metrics = json.loads((run / "metrics.json").read_text()) if (run / "metrics.json").is_file() else {}
        stages.insert(0, (config, metrics))
        source = config.get("init_from")
    return stages


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", type=Path, help="training run folder (has model/, metrics.json, config.yaml)")
    p.add_argument("--name", required=True, help="<variant>.<tag>, e.g. egnn-s.rmd17-aspirin")
    p.add_argument("--data", nargs="+", required=True)
    p.add_argument("--root", default="../shared/data/rmd17")
    p.add_argument("--split", default="rmd17:1")
    p.add_argument("--out", type=Path, default=Path("checkpoints"))
    p.add_argument("--frames", type=int, default=8, help="reference frames kept with the checkpoint")
    p.add_argument("--hardware", default="one thread of a 2-core CPU", help="where it trained, for the card")
    args = p.parse_args(argv)

    from forcefields import save
    from forcefields.zoo.card import with_article
    from forcefields.training import load_exported

    exported = json.loads((args.run / "model" / "config.json").read_text())
    if "format_version" in exported:
        model = load_exported(args.run / "model")
    else:  # runs exported before training wrote the zoo format: config.json + weights only
        from safetensors.torch import load_file

        from forcefields import build_model

        model = build_model(exported["family"], dict(exported["model"]), dtype=exported.get("dtype"))
        model.load_state_dict(load_file(str(args.run / "model" / "model.safetensors")), strict=True)
        model.eval()
    metrics_run = json.loads((args.run / "metrics.json").read_text())
    recipe = yaml.safe_load((args.run / "config.yaml").read_text())
    test = metrics_run["test"]
    data = ", ".join(args.data)
    # what "auto" and the omitted weights resolved to, as the module recorded them
    resolved = sorted((args.run / "logs").glob("version_*/hparams.yaml"))
    if resolved:
        hparams = yaml.load(resolved[-1].read_text(), Loader=yaml.FullLoader)  # Lightning writes tuples
        recipe = {**recipe, **{k: hparams[k] for k in ("schedule", "energy_weight", "forces_weight") if k in hparams}}
    stages = earlier_stages(recipe)
    train_cmd = " && ".join([train_command(c, args.root) for c, _ in stages] + [train_command(recipe, args.root)])
    metrics = {
        "energy_mae": test.get("energy_mae"),
        "energy_per_atom_mae": test.get("energy_per_atom_mae"),
        "force_mae": test.get("forces_mae"),
        "force_rmse": test.get("forces_rmse"),
        "split": f"rMD17 test_01 (1000 frames per molecule) of {data}",
        "command": f"forcefields bench accuracy --models {args.name} --root {args.root}",
    }
    epochs = metrics_run.get("epochs")
    spe = metrics_run.get("seconds_per_epoch")
    card = {
        "description": (
            f"{with_article(recipe['model'])} potential ({model.family} family, {model.num_parameters():,} parameters) "
            f"trained on revised MD17 ({data}) at the PBE/def2-SVP level. Energies in eV, forces in eV/Å."
        ),
        "datasets": ["rmd17"],
        "tags": ["force-field", "interatomic-potential", "molecular-dynamics", model.family, "rmd17"],
        "training_data": (
            f"revised MD17 ({data}; Christensen & von Lilienfeld 2020, CC0), split {args.split}: "
            "950 training and 50 validation frames drawn (seed "
            f"{recipe.get('seed')}) from train_01 of each molecule; tested on the 1000 frames of test_01."
        ),
        "recipe": (
            f"{recipe.get('optimizer')} lr {recipe.get('lr')}, batch {recipe.get('batch_size')}, "
            f"{recipe.get('loss')} loss (energy weight {recipe.get('energy_weight')}, forces weight "
            f"{recipe.get('forces_weight')}), EMA {recipe.get('ema_decay')}, {recipe.get('schedule')} schedule, "
            f"{epochs} epochs in a wall-clock budget of {recipe.get('max_time')} on {args.hardware} "
            f"({spe:.1f} s per epoch)"
            + "".join(
                f", after a first stage with {c.get('force_mode') or 'conservative'} forces: "
                f"{m.get('epochs')} epochs in {c.get('max_time')}"
                for c, m in stages
            )
            + f". Command: `{train_cmd}`."
        ),
        "reproduce": metrics["command"],
        "intended_use": (
            "Molecular dynamics and geometry work on the molecules it was trained on, "
            "in vacuum, near the thermal (500 K) configurations of MD17."
        ),
        "limitations": (
            "Trained on one small molecule set with a short CPU budget: expect errors well above "
            "the published state of the art (aspirin forces: MACE 6.6 meV/Å), and no transfer to other "
            "molecules, elements, charged or periodic systems."
        ),
    }
    refs = reference_frames(args.data, args.root, args.split, model.cutoff, args.frames)
    folder = save(
        model,
        args.out / args.name,
        name=args.name,
        card=card,
        metrics=metrics,
        training={**recipe, "epochs": epochs, "seconds_per_epoch": spe, "command": train_cmd},
        statistics=exported.get("statistics"),
        reference=refs,
    )
    print(f"shipped {args.name} -> {folder}")


if __name__ == "__main__":
    main()
