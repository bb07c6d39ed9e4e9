"""Export a trained model to a plain folder: ``config.json`` + ``model.safetensors``.

``config.json`` holds the family, the model config (``config.to_dict()``), the
units and whatever metadata the caller adds (data statistics, metrics, the
training recipe); ``model.safetensors`` holds the state dict (weights and
persistent buffers). Nothing is pickled; :func:`load_exported` rebuilds the
model from the registry and loads the weights strictly. The zoo
(:mod:`forcefields.zoo`) writes the richer, versioned format from the same two files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from ..models import ForceField, build_model

__all__ = ["export_model", "load_exported"]

UNITS = {"energy": "eV", "length": "Å", "forces": "eV/Å"}


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, torch.Tensor):
        return obj.tolist()
    if hasattr(obj, "to_dict"):
        return _jsonable(obj.to_dict())
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalars
        return obj.item()
    return obj


def export_model(model: ForceField, path: str | Path, metadata: dict[str, Any] | None = None) -> Path:
    """Write ``model`` to the folder ``path``.

    Parameters
    ----------
    model : ForceField, with the weights to keep (e.g. the EMA weights)
    path : folder to create (existing files of the same names are replaced)
    metadata : dict, optional, JSON-serialisable extras (``statistics``, ``metrics``, ...)

    Returns
    -------
    Path of the folder.
    """
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    dtype = str(next(model.parameters()).dtype).replace("torch.", "")
    config = {
        "family": model.family,
        "model": model.config.to_dict(),
        "dtype": dtype,
        "units": UNITS,
        "num_parameters": model.num_parameters(),
        **_jsonable(metadata or {}),
    }
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(path / "model.safetensors"))
    with open(path / "config.json", "w", encoding="utf-8") as f:
        json.dump(config, f, indent=2, ensure_ascii=False)
        f.write("\n")
    return path


def load_exported(path: str | Path, dtype: torch.dtype | str | None = None) -> ForceField:
    """Rebuild a model written by :func:`export_model`."""
    path = Path(path)
    if not (path / "config.json").is_file() or not (path / "model.safetensors").is_file():
        raise FileNotFoundError(
            f"{path} is not an exported model folder (config.json and model.safetensors are needed)."
        )
    with open(path / "config.json", encoding="utf-8") as f:
        config = json.load(f)
    model = build_model(config["family"], dict(config["model"]), dtype=dtype or config.get("dtype"))
    state = load_file(str(path / "model.safetensors"))
    model.load_state_dict(state, strict=True)
    return model.eval()
