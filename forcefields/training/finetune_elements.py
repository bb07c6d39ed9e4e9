"""Elements a parent model never saw: name them, refuse them, or extend the element table.

Extending rebuilds the model with the larger element list and copies every
weight over. The only tensors whose shape depends on the element list are
the rows of element embeddings (``nn.Embedding`` modules with one row per
element; eSEN has two); a new element's row starts as the mean of the
existing rows, so it begins as an "average atom" and moves from there. Its
reference energy E0 comes from the refit on the new data
(:mod:`forcefields.training.finetune_energies`).
"""

from __future__ import annotations

from typing import Iterable

import torch
from torch import nn

__all__ = [
    "element_names",
    "unseen_elements",
    "refuse_unseen",
    "element_tables",
    "extend_elements",
    "freeze_rows",
]


def element_names(elements: Iterable[int]) -> str:
    """``[16, 17]`` -> ``"S (Z=16), Cl (Z=17)"``."""
    from ase.data import chemical_symbols

    return ", ".join(f"{chemical_symbols[int(z)]} (Z={int(z)})" for z in sorted(elements))


def _symbols(elements: Iterable[int]) -> str:
    from ase.data import chemical_symbols

    return ", ".join(chemical_symbols[int(z)] for z in sorted(elements))


def unseen_elements(model: nn.Module, elements: Iterable[int]) -> list[int]:
    """Atomic numbers among ``elements`` that ``model`` has no embedding for, sorted."""
    known = {int(z) for z in model.config.elements}
    return sorted({int(z) for z in elements} - known)


def refuse_unseen(model: nn.Module, elements: Iterable[int], parent_name: str, where: str) -> None:
    """Raise a ValueError naming the elements of ``where`` the parent was never trained on."""
    new = unseen_elements(model, elements)
    if new:
        raise ValueError(
            f"{where} holds {element_names(new)}, which {parent_name} was never trained on (it knows "
            f"{_symbols(model.config.elements)}); pass --new-elements extend (new_elements='extend') to "
            "add them to the element embedding, or choose a parent that covers them."
        )


def element_tables(model: nn.Module) -> list[str]:
    """Names of the embedding weights with one row per element (e.g. ``["embedding.weight"]``)."""
    n = len(model.config.elements)
    return [
        f"{name}.weight"
        for name, module in model.named_modules()
        if isinstance(module, nn.Embedding) and module.num_embeddings == n
    ]


def extend_elements(model: nn.Module, new: Iterable[int]) -> tuple[nn.Module, dict[str, torch.Tensor]]:
    """A copy of ``model`` whose element table also holds ``new`` (the input is not modified).

    Parameters
    ----------
    model : ForceField
    new : atomic numbers to add (ones already known are ignored)

    Returns
    -------
    model : ForceField with ``config.elements`` = old + new (sorted); the
        rows of known elements are copied, new rows are the mean of the old
        rows; E0 of new elements is 0 until refitted
    old_rows : dict table name -> (k,) long, rows of the extended tables that
        belong to the parent's elements (for :func:`freeze_rows`)

    Raises
    ------
    ValueError : a weight other than an element embedding changes shape
    """
    from ..models import build_model

    old = sorted(int(z) for z in model.config.elements)
    new = sorted({int(z) for z in new} - set(old))
    if not new:
        return model, {}
    if any(not 1 <= z <= 118 for z in new):
        raise ValueError(f"atomic numbers must lie in 1..118; got {new}.")
    merged = sorted(set(old) | set(new))
    config = model.config.to_dict()
    config["elements"] = merged
    dtype = next(model.parameters()).dtype
    device = next(model.parameters()).device
    with torch.random.fork_rng(devices=[]):
        extended = build_model(model.family, config, dtype=dtype, seed=0).to(device)
    tables = set(element_tables(model))
    position = {z: i for i, z in enumerate(merged)}
    keep = torch.tensor([position[z] for z in old], dtype=torch.long, device=device)
    added = torch.tensor([position[z] for z in new], dtype=torch.long, device=device)
    source = model.state_dict()
    target = extended.state_dict()
    state = {}
    for key, value in target.items():
        old_value = source[key]
        if key in tables:
            rows = value.clone()
            rows[keep] = old_value
            rows[added] = old_value.mean(dim=0, keepdim=True).expand(len(new), -1)
            state[key] = rows
        elif old_value.shape != value.shape:
            raise ValueError(
                f"cannot extend the elements of this {model.family} model: weight {key!r} changes shape "
                f"from {tuple(old_value.shape)} to {tuple(value.shape)} and is not an element embedding; "
                "fine-tune with a parent that already knows the elements."
            )
        else:
            state[key] = old_value
    extended.load_state_dict(state, strict=True)
    extended.train(model.training)
    return extended, {key: keep for key in sorted(tables)}


def freeze_rows(model: nn.Module, rows: dict[str, torch.Tensor]) -> list:
    """Keep some rows of some weights fixed during training (gradient hooks; in place).

    Used when the element embeddings are frozen but new elements were added:
    the table stays trainable, its parent rows get zero gradient. (With zero
    gradient Adam/AdamW leave a weight bit-identical as long as its group has
    no weight decay; :func:`~forcefields.training.freeze.parameter_groups`
    takes the names for that.)

    Returns
    -------
    list of hook handles (``handle.remove()`` undoes them).
    """
    params = dict(model.named_parameters())
    handles = []
    for name, idx in rows.items():
        param = params[name]
        param.requires_grad_(True)
        mask = torch.ones(param.shape[0], 1, dtype=param.dtype, device=param.device)
        mask[idx.to(param.device)] = 0.0

        def hook(grad, mask=mask):
            return grad * mask.to(grad.dtype)

        handles.append(param.register_hook(hook))
    return handles
