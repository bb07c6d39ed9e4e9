"""Model cards: README.md with the Hugging Face YAML header, written at save time.

The header carries license, library, tags, datasets and the measured metrics
(as ``model-index``); the text states what a user must know before trusting
the potential: training data and split, recipe, test metrics and the command
that reproduces them, intended use and limitations.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

__all__ = ["CardInfo", "render_card", "read_card", "card_num_parameters", "metric_unit", "with_article"]

FAMILY_WORDS = {
    "mpnn": "unconstrained message-passing network (MPNN: translation invariance only)",
    "egnn": "multi-channel E(3)-equivariant graph network (MC-EGNN, Cartesian vectors)",
    "esen": "eSEN network (spherical-tensor features, SO(2) edge convolutions)",
}


def with_article(words: str) -> str:
    """``words`` after "A " or "An " (chosen by their first letter), to open a sentence."""
    return ("An " if words[:1].lower() in ("a", "e", "i", "o", "u") else "A ") + words


CITATION = """@article{ngo2025scaling,
  title   = {Scaling Laws and Symmetry, Evidence from Neural Force Fields},
  author  = {Ngo, Khang and Ravanbakhsh, Siamak},
  journal = {arXiv preprint arXiv:2510.09768},
  year    = {2025}
}"""


@dataclass
class CardInfo:
    """Words of a model card; every field has a default made from the config.

    Attributes
    ----------
    description : one paragraph saying what the model is
    license : SPDX identifier for the weights (the Hub's ``license`` field)
    datasets, tags : Hub metadata lists
    training_data : the data and the split it was trained on
    recipe : how it was trained (optimizer, schedule, loss, epochs, seed)
    reproduce : the shell command that re-measures the test metrics
    intended_use, limitations, citation : text sections
    """

    description: str = ""
    license: str = "mit"
    datasets: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    training_data: str = ""
    recipe: str = ""
    reproduce: str = ""
    intended_use: str = ""
    limitations: str = ""
    citation: str = CITATION

    @classmethod
    def from_any(cls, card: Any) -> "CardInfo":
        """None, a dict of the fields above, or a string (the description)."""
        if card is None:
            return cls()
        if isinstance(card, cls):
            return card
        if isinstance(card, str):
            return cls(description=card)
        if isinstance(card, dict):
            known = {f.name for f in fields(cls)}
            unknown = sorted(set(card) - known)
            if unknown:
                raise ValueError(f"card keys {unknown} are unknown; use some of {sorted(known)}.")
            return cls(**card)
        raise TypeError(f"card must be a dict, a string or a CardInfo, not {type(card).__name__}.")


def metric_unit(key: str) -> str:
    """Unit of a metric from its name: forces in meV/Å, energies in meV (or meV/atom)."""
    k = key.lower()
    if "force" in k:
        return "meV/Å"
    if "energy" in k:
        return "meV/atom" if "per_atom" in k else "meV"
    return ""


def _numeric_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def _symbols(elements: list[int]) -> str:
    from ase.data import chemical_symbols

    return ", ".join(chemical_symbols[int(z)] for z in sorted(elements))


def _header(config: dict[str, Any], info: CardInfo) -> dict[str, Any]:
    name, tag, family = config.get("name"), config.get("tag"), config.get("family")
    tags = list(dict.fromkeys(["forcefields", "interatomic-potential", "machine-learned-force-field", "molecular-dynamics", family, *(info.tags or [])]))
    datasets = info.datasets or ([tag.split("-")[0]] if tag else [])
    meta: dict[str, Any] = {
        "license": info.license,
        "library_name": "forcefields",
        "tags": [t for t in tags if t],
    }
    if datasets:
        meta["datasets"] = list(datasets)
    metrics = config.get("metrics") or {}
    numeric = _numeric_metrics(metrics)
    if numeric:
        meta["model-index"] = [
            {
                "name": name,
                "results": [
                    {
                        "task": {"type": "other", "name": "Energy and force prediction"},
                        "dataset": {"name": str(metrics.get("split") or tag or "test set"), "type": str(datasets[0] if datasets else "custom")},
                        "metrics": [
                            {"type": k, "value": v, "name": f"{k} ({metric_unit(k)})" if metric_unit(k) else k}
                            for k, v in numeric.items()
                        ],
                    }
                ],
            }
        ]
    return meta


def _describe_training(training: dict[str, Any]) -> str:
    keys = ("dataset", "data", "molecule", "split", "train_frames", "num_train", "val_frames", "num_val", "test_frames")
    lines = [f"- {k.replace('_', ' ')}: {training[k]}" for k in keys if k in training]
    return "\n".join(lines) if lines else "Not recorded in this checkpoint."


def _describe_recipe(training: dict[str, Any]) -> str:
    skip = {"dataset", "data", "molecule", "split", "train_frames", "num_train", "val_frames", "num_val", "test_frames", "command"}
    lines = [f"- {k.replace('_', ' ')}: {v}" for k, v in training.items() if k not in skip and not isinstance(v, (dict, list))]
    if "command" in training:
        lines.append(f"\nTrained with:\n\n```bash\n{training['command']}\n```")
    return "\n".join(lines) if lines else "Not recorded in this checkpoint."


def render_card(config: dict[str, Any], info: CardInfo) -> str:
    """README.md text for a checkpoint whose config.json content is ``config``."""
    name = config.get("name") or "model"
    family = config.get("family", "")
    tag = config.get("tag")
    elements = config.get("elements", [])
    training = config.get("training") or {}
    metrics = config.get("metrics") or {}
    numeric = _numeric_metrics(metrics)
    force_mode = config.get("force_mode", "conservative")
    forces = "conservative, F = −∂E/∂r by autograd" if force_mode == "conservative" else "direct (a vector head; not the exact gradient of the energy)"
    description = info.description or (
        f"{with_article(FAMILY_WORDS.get(family, family + ' model'))} trained"
        + (f" on {tag}" if tag else "")
        + ", predicting total energies (eV) and atomic forces (eV/Å) of molecules."
    )
    header = yaml.safe_dump(_header(config, info), sort_keys=False, allow_unicode=True)
    out = [f"---\n{header}---\n", f"# {name}\n", description + "\n"]
    out.append(
        "| | |\n|---|---|\n"
        f"| Family | {family} |\n"
        f"| Variant | {config.get('variant', '')} |\n"
        f"| Parameters | {int(config.get('num_parameters', 0)):,} |\n"
        f"| Cutoff | {config.get('cutoff')} Å |\n"
        f"| Elements | {_symbols(elements)} |\n"
        f"| Forces | {forces} |\n"
        f"| dtype | {config.get('dtype')} |\n"
        "| Units | energy eV, length Å, forces eV/Å |\n"
        f"| forcefields | {config.get('library_version')} (checkpoint format {config.get('format_version')}) |\n"
    )
    out.append(
        "## Usage\n\n```python\nimport forcefields\n\n"
        f'model = forcefields.load("{name}")                 # a torch module\n'
        f'atoms.calc = forcefields.calculator("{name}")      # an ASE calculator\n```\n'
    )
    out.append("## Training data\n\n" + (info.training_data or _describe_training(training)) + "\n")
    out.append("## Training recipe\n\n" + (info.recipe or _describe_recipe(training)) + "\n")
    ev = ["## Evaluation\n"]
    if numeric:
        where = metrics.get("split")
        ev.append((f"Measured on {where}.\n\n" if where else "") + "| metric | value | unit |\n|---|---|---|")
        ev += [f"| {k} | {v:.4g} | {metric_unit(k)} |" for k, v in numeric.items()]
        cmd = info.reproduce or metrics.get("command")
        ev.append("\nReproduce with:\n\n```bash\n" + cmd + "\n```" if cmd else "\nThe command that measured these was not recorded.")
    else:
        ev.append("No test metrics were recorded for this checkpoint.")
    out.append("\n".join(ev) + "\n")
    out.append(
        "## Intended use\n\n"
        + (info.intended_use or (
            "Energies and forces of the molecules it was trained on"
            + (f" ({tag})" if tag else "")
            + ", in configurations like those of its training data: molecular dynamics near room "
            "temperature, geometry relaxation, vibrational analysis, and a starting point for fine-tuning."
        ))
        + "\n"
    )
    out.append(
        "## Limitations\n\n"
        + (info.limitations or (
            f"- Knows only {_symbols(elements) or 'its training elements'}; other elements are refused.\n"
            "- Isolated molecules only: periodic boundary conditions are not supported.\n"
            "- Accuracy away from the training distribution (other molecules, bond breaking, high "
            "temperatures, charged or excited states) is unknown and likely poor.\n"
            "- Inherits the errors of the reference electronic-structure method of its training data."
        ))
        + "\n"
    )
    if info.citation:
        out.append("## Citation\n\n```bibtex\n" + info.citation.strip() + "\n```\n")
    return "\n".join(out)


def read_card(path: str | Path) -> tuple[dict[str, Any], str]:
    """Split a model card into its YAML header (dict) and its text."""
    text = Path(path).read_text(encoding="utf-8")
    m = re.match(r"^---\n(.*?)\n---\n?(.*)$", text, flags=re.S)
    if not m:
        return {}, text
    return (yaml.safe_load(m.group(1)) or {}), m.group(2)


def card_num_parameters(text: str) -> int | None:
    """The parameter count the card's table states, or None."""
    m = re.search(r"^\| Parameters \| ([\d,]+) \|", text, flags=re.M)
    return int(m.group(1).replace(",", "")) if m else None
