"""What a fine-tuning run shows and writes: the before/after table and the checkpoint with its card."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..data.statistics import merge_min_pair_distances
from .finetune_data import data_fingerprint
from .finetune_elements import element_names

__all__ = ["before_after_table", "save_finetuned"]


def before_after_table(rows: list[tuple[str, dict[str, float] | None]], title: str):
    """A ``rich.table.Table`` of energy and force MAE per model row."""
    from rich.table import Table

    table = Table(title=title, header_style="bold")
    table.add_column("model")
    table.add_column("energy MAE (meV)", justify="right")
    table.add_column("force MAE (meV/Å)", justify="right")
    for label, errors in rows:
        if errors is None:
            table.add_row(label, "—", "—")
        else:
            table.add_row(label, f"{errors['energy_mae']:.2f}", f"{errors['forces_mae']:.2f}")
    return table


def _atoms_of(frames, indices: np.ndarray, limit: int = 5) -> list:
    """Labelled ase.Atoms of some frames (for reference.extxyz)."""
    from ase import Atoms
    from ase.calculators.singlepoint import SinglePointCalculator

    out = []
    ptr = frames.ptr
    for k in np.asarray(indices)[:limit]:
        a0, a1 = int(ptr[k]), int(ptr[k + 1])
        atoms = Atoms(numbers=frames.numbers[a0:a1], positions=frames.positions[a0:a1])
        atoms.calc = SinglePointCalculator(atoms, energy=float(frames.energy[k]), forces=frames.forces[a0:a1])
        out.append(atoms)
    return out


def save_finetuned(
    model, out: Path, name: str, parent_info: dict, sources: list, framesets: list, new_dm, metrics: dict,
    split_words: str, recipe: dict, replay_info: dict | None, command: str | None, eval_split: str,
) -> Path:
    """Save the fine-tuned model as a zoo checkpoint whose card tells its story.

    ``config.json`` ``training`` records the parent (name, weights sha256 and
    variant; never its local folder, since the checkpoint is made to be
    published), the data (sources, sha256, frames, split, reader options), the
    replay, the recipe, the reference energies, the new elements, the frozen
    parameters and the metrics before and after; the card says the same in
    words, and up to five evaluation frames become ``reference.extxyz``.
    """
    from ..zoo import save
    from ..zoo.card import FAMILY_WORDS, CardInfo, with_article

    label = metrics["data"]
    fingerprint = data_fingerprint([p for f in framesets for p in f.paths])
    frames = metrics["frames"]
    data_record = {
        "sources": [s.label for s in sources],
        "sha256": fingerprint,
        "frames": int(sum(f.num_frames for f in framesets)),
        "split": {k: frames[k] for k in ("train", "val", "test")},
        "split_seed": recipe["seed"],
        "reader": [s.options.to_dict() for s in sources],
        "units_read": dict(framesets[0].units),
    }
    parent_record = {k: parent_info[k] for k in ("name", "weights_sha256", "variant")}
    shortest = getattr(model.config, "min_pair_distance", None)
    if shortest:  # the parent's record, lowered where the new data comes closer
        model.config.min_pair_distance = merge_min_pair_distances(shortest, new_dm.statistics.min_pair_distance)
    training = {
        "finetuned_from": parent_record,
        "data": data_record,
        "replay": replay_info,
        "recipe": recipe,
        "epochs": metrics["epochs"],
        "best_epoch": metrics["best_epoch"],
        "reference_energies": metrics["reference_energies"],
        "new_elements": metrics["new_elements"],
        "frozen_parameters": metrics["frozen"]["names"],
        "metrics_before": metrics["before"],
        "metrics_before_refit": metrics["before_refit"],
        "metrics_after": metrics["after"],
    }
    if command:
        training["command"] = command
    after, before = metrics["after"], metrics["before"]
    numeric = {"energy_mae": after["energy_mae"], "force_mae": after["forces_mae"],
               "energy_rmse": after["energy_rmse"], "force_rmse": after["forces_rmse"]}
    if before is not None:
        numeric.update(parent_energy_mae=before["energy_mae"], parent_force_mae=before["forces_mae"])
    card_metrics: dict[str, Any] = {**numeric, "split": split_words}
    if command:
        card_metrics["command"] = command
    replay_line = (
        f"- replay: {replay_info['frames']} frames of {', '.join(replay_info['sources'])} "
        f"({replay_info['fraction']:.0%} of the training frames; energies shifted by the E0 change)"
        if replay_info else "- replay: none"
    )
    training_text = "\n".join([
        f"- parent: `{parent_record['name']}` (weights sha256 `{parent_record['weights_sha256']}`)",
        f"- data: {label} (sha256 `{fingerprint}`), {data_record['frames']} frames",
        f"- split: {frames['train']} train / {frames['val']} validation / {frames['test']} test (seed {recipe['seed']})",
        replay_line,
        f"- units read: energy {data_record['units_read'].get('energy', 'eV')}, converted to eV and eV/Å",
    ])
    e0 = metrics["reference_energies"]
    shifts = ", ".join(f"{element_names([int(z)])}: {float(v) * 1000:+.1f} meV" for z, v in e0["shift"].items())
    frozen = metrics["frozen"]
    recipe_text = "\n".join([
        f"- frozen: {recipe['freeze']} ({frozen['frozen']:,} of {frozen['frozen'] + frozen['trainable']:,} parameters)",
        f"- learning rate: {recipe['lr']:.3g} (readout), backbone × {recipe['backbone_lr_factor']:g}; "
        f"{recipe['optimizer']}, {recipe['schedule']} schedule, {recipe['warmup_steps']} warm-up steps, EMA {recipe['ema_decay']}",
        f"- loss: {recipe['loss']}; batch size {recipe['batch_size']}",
        f"- epochs: {metrics['epochs']} of at most {recipe['max_epochs']} (best validation at epoch {metrics['best_epoch']}; "
        f"early stopping patience {recipe['early_stopping_patience']})",
        f"- reference energies: {e0['mode']}; E0 change per element: {shifts or 'none'}",
        f"- new elements: {element_names(metrics['new_elements']) if metrics['new_elements'] else 'none'}",
    ] + ([f"\nFine-tuned with:\n\n```bash\n{command}\n```"] if command else []))
    card = CardInfo(
        description=(
            f"{with_article(FAMILY_WORDS.get(model.family, model.family))} fine-tuned from `{parent_record['name']}` on "
            f"{label} ({frames['train']} training frames), predicting total energies (eV) and forces (eV/Å)."
        ),
        tags=["fine-tuned"],
        datasets=["custom"],
        training_data=training_text,
        recipe=recipe_text,
        intended_use=(
            f"Energies and forces of the molecules of {label}, in configurations like its frames; the "
            f"parent `{parent_record['name']}` is the better choice for the molecules it was trained on."
        ),
    )
    eval_indices = np.concatenate([s[eval_split] for s in new_dm.splits.values()])[:5] if len(sources) == 1 else None
    reference = _atoms_of(framesets[0], eval_indices) if eval_indices is not None and eval_indices.size else None
    return save(model, out, name=name, card=card, metrics=card_metrics, training=training,
                statistics=new_dm.statistics, reference=reference)
