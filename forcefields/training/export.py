"""Export a trained model as a zoo checkpoint folder.

One format for everything: a training run's ``out/model`` is the same folder
the zoo ships (``config.json`` + ``model.safetensors`` + model card, see
:mod:`forcefields.zoo.format`), so ``forcefields.load("runs/x/model")`` and
``forcefields push`` work on it directly. Nothing is pickled.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..models import ForceField

__all__ = ["export_model", "load_exported"]


def export_model(model: ForceField, path: str | Path, metadata: dict[str, Any] | None = None) -> Path:
    """Write ``model`` to the folder ``path`` in the zoo's checkpoint format.

    Parameters
    ----------
    model : ForceField, with the weights to keep (e.g. the EMA weights)
    path : folder to create (an existing checkpoint there is replaced)
    metadata : dict, optional: ``name`` ("<variant>[.<tag>]"), ``statistics``,
        ``metrics`` (test metrics in meV and meV/Å), ``training`` (the recipe)

    Returns
    -------
    Path of the folder.
    """
    from ..zoo.format import save_checkpoint

    meta = dict(metadata or {})
    metrics = {
        ("force" + k[len("forces"):] if k.startswith("forces") else k): v
        for k, v in (meta.get("metrics") or {}).items()
    }
    return save_checkpoint(
        model,
        path,
        name=meta.get("name"),
        metrics=metrics,
        training=meta.get("training"),
        statistics=meta.get("statistics"),
    )


def load_exported(path: str | Path, dtype: torch.dtype | str | None = None) -> ForceField:
    """Rebuild a model written by :func:`export_model` (checksums verified)."""
    from ..zoo.format import load_checkpoint

    path = Path(path)
    if not (path / "config.json").is_file() or not (path / "model.safetensors").is_file():
        raise FileNotFoundError(
            f"{path} is not an exported model folder (config.json and model.safetensors are needed)."
        )
    return load_checkpoint(path, dtype=dtype)
