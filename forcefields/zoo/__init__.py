"""The pretrained zoo: checkpoint format, names, index, Hub push/pull.

>>> import forcefields
>>> forcefields.list_pretrained()                                  # doctest: +SKIP
>>> model = forcefields.load("egnn-m.rmd17-aspirin", dtype="float64")   # doctest: +SKIP
>>> forcefields.save(model, "my-model", name="egnn-m.my-molecule")      # doctest: +SKIP

Names are ``<variant>.<tag>``: the registry variant, then what it was trained
on. See :mod:`forcefields.zoo.resolve` for where a name is looked up and
:mod:`forcefields.zoo.format` for what a checkpoint folder holds.
"""

from __future__ import annotations

from .._lazy import lazy_exports

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

__all__ = [
    "load",
    "save",
    "list_pretrained",
    "pretrained_info",
    "push",
    "pull",
    "ModelInfo",
    "PretrainedEntry",
    "PushResult",
    "CardInfo",
    "build_index",
    "FORMAT_VERSION",
    "CheckpointError",
    "ChecksumError",
    "FormatVersionError",
    "PretrainedNotFoundError",
]

# Re-exported lazily: `python -m forcefields.zoo.index` must find its module not yet imported.
_LAZY = {
    "push": "hub",
    "pull": "hub",
    "PushResult": "hub",
    "PretrainedEntry": "index",
    "build_index": "index",
    "CardInfo": "card",
    "FORMAT_VERSION": "format",
    "CheckpointError": "errors",
    "ChecksumError": "errors",
    "FormatVersionError": "errors",
    "PretrainedNotFoundError": "errors",
}


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)

# save() is the format module's writer itself, not a wrapper that repeats its signature.
from .format import save_checkpoint as save  # noqa: E402


def load(
    name_or_path: str | os.PathLike,
    device: str | torch.device = "cpu",
    dtype: str | torch.dtype | None = None,
) -> torch.nn.Module:
    """A pretrained force field by name, or from a checkpoint folder.

    Parameters
    ----------
    name_or_path : "<variant>.<tag>" (see :func:`list_pretrained`) or a folder written by :func:`save`
    device : "cpu" or "cuda"
    dtype : "float32" or "float64"; None keeps the dtype it was saved in

    Returns
    -------
    ForceField in eval mode: ``model(batch)`` gives energy (eV) and forces (eV/Å).
    """
    from .format import load_checkpoint
    from .resolve import locate

    folder, entry = locate(name_or_path)
    return load_checkpoint(
        folder, device=device, dtype=dtype,
        expected_files=entry.expected_files if entry else None,
        expected_what=f"the index entry of {entry.name}" if entry else "the index",
    )


def list_pretrained() -> list["PretrainedEntry"]:
    """Every known pretrained model: the shipped index, shipped folders and the cache.

    Returns
    -------
    list of :class:`PretrainedEntry` (name, data, num_parameters, metrics,
    size_bytes, ...; ``source`` says "shipped", "cache" or "hub"), sorted by name.
    """
    from .index import entry_from_folder
    from .resolve import cache_root, checkpoint_dirs, index_entries

    out = dict(index_entries())
    for d in checkpoint_dirs():
        if not d.is_dir():
            continue
        for folder in sorted(d.iterdir()):
            if folder.name not in out and (folder / "config.json").is_file() and not folder.name.startswith("."):
                out[folder.name] = entry_from_folder(folder)
    cache = cache_root()
    if cache.is_dir():
        for folder in sorted(cache.iterdir()):
            if (folder / "config.json").is_file() and not folder.name.startswith("."):
                if folder.name in out:
                    if out[folder.name].source == "hub":
                        out[folder.name].source, out[folder.name].path = "cache", str(folder)
                    continue
                entry = entry_from_folder(folder)
                entry.source = "cache"
                out[folder.name] = entry
    return [out[k] for k in sorted(out)]


@dataclass
class ModelInfo:
    """What :func:`pretrained_info` knows about a model.

    Attributes
    ----------
    name : str
    entry : its index entry (or one made from the folder)
    path : local folder, or None when it is only on the Hub
    config : config.json content, or None when not local
    card : README.md text, or None when not local
    """

    name: str
    entry: "PretrainedEntry"
    path: Path | None
    config: dict | None
    card: str | None

    @property
    def card_num_parameters(self) -> int | None:
        from .card import card_num_parameters

        return card_num_parameters(self.card) if self.card else None


def pretrained_info(name_or_path: str | os.PathLike, download: bool = False) -> ModelInfo:
    """The model card, config and index entry of a pretrained model.

    Parameters
    ----------
    name_or_path : pretrained name or checkpoint folder
    download : fetch it when it is not local (otherwise the index entry alone is shown)
    """
    from .format import CARD_FILE, read_config
    from .index import entry_from_folder
    from .resolve import cache_root, checkpoint_dirs, index_entries, locate

    entries = index_entries()
    name = str(name_or_path)
    if name in entries and not download:
        try:
            folder, _ = locate(name, download=False)
        except FileNotFoundError:
            return ModelInfo(name=name, entry=entries[name], path=None, config=None, card=None)
    else:
        folder, _ = locate(name_or_path, download=download)
    config = read_config(folder)
    entry = entries.get(config.get("name") or folder.name) or entry_from_folder(folder)
    entry.path = str(folder)
    if folder.resolve().is_relative_to(cache_root().resolve()):
        entry.source = "cache"
    elif not any(folder.resolve().is_relative_to(d.resolve()) for d in checkpoint_dirs()):
        entry.source = "folder"
    card_file = folder / CARD_FILE
    card = card_file.read_text(encoding="utf-8") if card_file.is_file() else None
    return ModelInfo(name=config.get("name") or folder.name, entry=entry, path=folder, config=config, card=card)
