"""The ``forcefields train`` command line that reproduces a run's settings (for model cards).

A card's command must train the same model again: every setting that differs
from :class:`forcefields.training.config.TrainConfig`'s defaults is written as
its flag, and the few that shape the recipe whatever their value (model, data,
split, batch size, learning rate, budget, seed) always are. Settings that only
say where or how visibly a run goes (output folder, devices, progress bar,
logging, data-loader workers) are left out.
"""

from __future__ import annotations

import shlex
from dataclasses import fields
from typing import Any

from .config import TrainConfig

__all__ = ["train_command"]

# Where and how visibly a run goes, not what it trains.
_NOT_RECIPE = {"out", "resume", "accelerator", "devices", "strategy", "num_workers", "progress_bar", "log_every_n_steps"}
# Always written, so a reader sees the recipe's main numbers without knowing the defaults.
_ALWAYS = ("model", "data", "root", "split", "batch_size", "lr", "max_epochs", "max_time", "seed")


def _flag(name: str, value: Any) -> str:
    flag = "--" + name.replace("_", "-")
    if isinstance(value, bool):
        return flag if value else ""
    if isinstance(value, (list, tuple)):
        return f"{flag} " + " ".join(shlex.quote(str(v)) for v in value)
    if value is None:
        return f"{flag} none"
    return f"{flag} {shlex.quote(str(value))}"


def train_command(settings: dict[str, Any], root: str | None = None) -> str:
    """``forcefields train ...`` for a run's settings (its ``config.yaml`` as a dict).

    Parameters
    ----------
    settings : dict of :class:`TrainConfig` fields; unknown keys (e.g. ``epochs``) are ignored
    root : str, optional, written as ``--root`` instead of the recorded one (a relative
        path, so that the card names no local folder)

    Returns
    -------
    str, one command line
    """
    defaults = TrainConfig()
    settings = dict(settings)
    if root is not None and settings.get("root") is not None:
        settings["root"] = root
    parts = ["forcefields train"]
    names = [f.name for f in fields(TrainConfig)]
    for name in sorted(names, key=lambda n: (n not in _ALWAYS, _ALWAYS.index(n) if n in _ALWAYS else names.index(n))):
        if name in _NOT_RECIPE or name not in settings:
            continue
        value, default = settings[name], getattr(defaults, name)
        if name == "model_args":
            parts += [f"--model-arg {shlex.quote(f'{k}={v}')}" for k, v in sorted((value or {}).items())]
            continue
        if name == "split" and isinstance(value, dict):
            value = "{" + ", ".join(f"{k}: {v}" for k, v in value.items()) + "}"
        if (name in _ALWAYS and value is not None) or value != default:
            flag = _flag(name, value)
            if flag:
                parts.append(flag)
    return " ".join(parts)
