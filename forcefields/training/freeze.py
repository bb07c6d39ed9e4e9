"""Which parameters of a force field are its input stage, its interaction blocks, its readout.

Fine-tuning freezes a prefix of the network (the input stage and the first
``k`` interaction blocks, or the whole backbone) and trains the rest, often
with a lower learning rate for the backbone than for the readout. Each
family says which of its modules are which in
:meth:`~forcefields.models.ForceField.finetune_parts`; "readout" is
everything after the last interaction block.
"""

from __future__ import annotations

from typing import Any

from torch import nn

__all__ = [
    "parameter_parts",
    "num_blocks",
    "parse_freeze",
    "freeze",
    "frozen_names",
    "parameter_groups",
    "count_parameters",
]


def _owns(prefix: str, name: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def num_blocks(model: nn.Module) -> int:
    """Number of interaction blocks."""
    return len(model.finetune_parts()["blocks"])


def parameter_parts(model: nn.Module) -> dict[str, str]:
    """Each parameter name -> ``"input"``, ``"block<k>"`` or ``"readout"``.

    Raises
    ------
    ValueError : a parameter belongs to no part, or to several (the family's
        ``finetune_parts()`` is out of date)
    """
    parts = model.finetune_parts()
    prefixes = [(p, "input") for p in parts["input"]]
    prefixes += [(p, f"block{k}") for k, p in enumerate(parts["blocks"])]
    prefixes += [(p, "readout") for p in parts["readout"]]
    out: dict[str, str] = {}
    for name, _ in model.named_parameters():
        owners = [part for prefix, part in prefixes if _owns(prefix, name)]
        if len(owners) != 1:
            family = getattr(model, "family", type(model).__name__)
            where = "no part" if not owners else f"several parts ({', '.join(owners)})"
            raise ValueError(
                f"parameter {name!r} of the {family} model is in {where} of its finetune_parts(); "
                "fix that method so each module is named exactly once before freezing."
            )
        out[name] = owners[0]
    return out


def parse_freeze(spec: int | str | None, model: nn.Module) -> int:
    """Turn a freeze request into the number of blocks frozen with the input stage.

    Parameters
    ----------
    spec : 0 / None (nothing), k (input stage + first k blocks), "backbone"
        (everything except the readout), or "all-blocks" (same as "backbone")
    model : ForceField

    Returns
    -------
    int: -1 for nothing, k >= 0 for the input stage and k blocks (k = number
    of blocks means the whole backbone).
    """
    total = num_blocks(model)
    if spec is None:
        return -1
    if isinstance(spec, str):
        text = spec.strip().lower()
        if text in ("backbone", "all-blocks"):
            return total
        if text in ("none", "no", ""):
            return -1
        if not text.lstrip("-").isdigit():
            raise ValueError(
                f"freeze={spec!r} is not understood; use 0 (train everything), k (freeze the input stage "
                f"and the first k of the {total} interaction blocks) or 'backbone' (all but the readout)."
            )
        spec = int(text)
    k = int(spec)
    if k < 0 or k > total:
        raise ValueError(
            f"freeze={k} asks for more interaction blocks than the model has ({total}) or a negative "
            f"number; use 0..{total}, or 'backbone'."
        )
    return -1 if k == 0 else k


def freeze(model: nn.Module, spec: int | str | None) -> list[str]:
    """Set ``requires_grad=False`` on the input stage and the first k blocks (in place).

    Parameters
    ----------
    model : ForceField
    spec : see :func:`parse_freeze`

    Returns
    -------
    list of the frozen parameter names.
    """
    k = parse_freeze(spec, model)
    if k < 0:
        return []
    parts = parameter_parts(model)
    frozen = []
    for name, param in model.named_parameters():
        part = parts[name]
        if part == "input" or (part.startswith("block") and int(part[5:]) < k):
            param.requires_grad_(False)
            frozen.append(name)
    return frozen


def frozen_names(model: nn.Module) -> list[str]:
    """Names of the parameters that do not require gradients."""
    return [name for name, p in model.named_parameters() if not p.requires_grad]


def parameter_groups(
    model: nn.Module,
    lr: float,
    backbone_lr_factor: float = 1.0,
    no_decay: set[str] | frozenset[str] = frozenset(),
) -> list[dict[str, Any]]:
    """Optimiser parameter groups: readout at ``lr``, the trainable backbone at ``lr * factor``.

    Parameters
    ----------
    model : ForceField (frozen parameters are left out)
    lr : learning rate of the readout
    backbone_lr_factor : multiplier of ``lr`` for the input stage and blocks
    no_decay : names of parameters that get ``weight_decay=0`` (e.g. a partly
        frozen embedding whose frozen rows must not shrink)

    Returns
    -------
    list of dicts with ``params``, ``lr``, ``name`` (and ``weight_decay`` where
    set), for ``torch.optim`` optimisers. Empty groups are dropped.
    """
    if not backbone_lr_factor > 0:
        raise ValueError(
            f"backbone_lr_factor={backbone_lr_factor} must be positive; use freeze='backbone' to stop "
            "the backbone from learning."
        )
    parts = parameter_parts(model)
    groups: dict[str, dict[str, Any]] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        is_readout = parts[name] == "readout"
        key = ("readout" if is_readout else "backbone") + ("-no-decay" if name in no_decay else "")
        if key not in groups:
            groups[key] = {"params": [], "lr": lr if is_readout else lr * backbone_lr_factor, "name": key}
            if name in no_decay:
                groups[key]["weight_decay"] = 0.0
        groups[key]["params"].append(param)
    if not groups:
        raise ValueError("every parameter is frozen, so fine-tuning would change nothing; freeze fewer blocks.")
    return list(groups.values())


def count_parameters(model: nn.Module) -> dict[str, int]:
    """Trainable and frozen parameter counts (numbers of scalars)."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    return {"trainable": int(trainable), "frozen": int(frozen)}
