"""Model names on the command line -> models, with what a result must say about them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

__all__ = ["expand_model_names", "resolve_model", "model_info", "as_dtype", "maybe_compile"]


def as_dtype(dtype: str | torch.dtype) -> torch.dtype:
    """'float32' / 'float64' (or a torch dtype) -> torch dtype."""
    if isinstance(dtype, torch.dtype):
        return dtype
    table = {"float32": torch.float32, "float64": torch.float64, "float": torch.float32, "double": torch.float64}
    if dtype not in table:
        raise ValueError(f"dtype {dtype!r} is not supported; use float32 or float64.")
    return table[dtype]


def _pretrained_names() -> list[str]:
    try:
        from forcefields.zoo import list_pretrained
    except ImportError:
        return []
    return [getattr(e, "name", e) for e in list_pretrained()]


def expand_model_names(spec: str | list[str]) -> list[str]:
    """Comma-separated names (or a list) -> names; ``all`` is every registered
    variant and ``all-pretrained`` every pretrained checkpoint."""
    from forcefields.models import list_models

    items = [s.strip() for s in (spec.split(",") if isinstance(spec, str) else spec) if s and s.strip()]
    if not items:
        raise ValueError("no model given; pass --models with names such as egnn-s,esen-l2-s (or all).")
    names: list[str] = []
    for item in items:
        if item == "all":
            names.extend(list_models())
        elif item == "all-pretrained":
            pre = _pretrained_names()
            if not pre:
                raise ValueError("no pretrained checkpoint is available; train one or name models explicitly.")
            names.extend(pre)
        else:
            names.append(item)
    return list(dict.fromkeys(names))


def model_info(model: torch.nn.Module, name: str, source: str) -> dict[str, Any]:
    """Name, family, parameter count and the width-defining hyper-parameters."""
    config = getattr(model, "config", None)
    cfg = config.to_dict() if hasattr(config, "to_dict") else {}
    keep = ("hidden", "lmax", "num_layers", "cutoff", "force_mode", "num_rbf")
    return {
        "model": name,
        "family": getattr(model, "family", "unknown"),
        "source": source,
        "params": int(sum(p.numel() for p in model.parameters())),
        "config": {k: cfg[k] for k in keep if k in cfg},
    }


def resolve_model(
    name: str,
    *,
    dtype: str | torch.dtype = "float32",
    device: torch.device | str = "cpu",
    seed: int = 0,
    overrides: dict[str, Any] | None = None,
) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Build a registered variant (untrained, seeded) or load a pretrained checkpoint
    (by name, or a checkpoint folder).

    Returns
    -------
    (model in eval mode on ``device`` with ``dtype``, info dict from :func:`model_info`)

    Raises
    ------
    KeyError : the name is neither a registered variant nor a pretrained checkpoint
    """
    from forcefields.models import create_model, list_models

    dt = as_dtype(dtype)
    if name in list_models():
        model = create_model(name, dtype=dt, seed=seed, **(overrides or {}))
        source = "registry"
    elif name in _pretrained_names() or (Path(name) / "config.json").is_file():
        if overrides:
            raise ValueError(f"--override cannot change the pretrained model {name!r}; drop it or use a registry name.")
        from forcefields.zoo import load

        model = load(name, device=device, dtype=dt)
        source = "pretrained"
    else:
        import difflib

        known = list_models() + _pretrained_names()
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise KeyError(
            f"unknown model {name!r}: not a registered variant nor a pretrained checkpoint.{hint} "
            "`forcefields list` and `forcefields pretrained` list them."
        )
    model = model.to(device).eval()
    return model, model_info(model, name, source)


def maybe_compile(model: torch.nn.Module, enabled: bool):
    """The compiled model (:func:`forcefields.models.compiled.compile_force_field`) when enabled, else the model.

    Compilation is lazy: errors surface at the first call, which the speed
    harness catches and records as the compile failure reason.
    """
    if not enabled:
        return model
    from ..models.compiled import compile_force_field

    return compile_force_field(model)
