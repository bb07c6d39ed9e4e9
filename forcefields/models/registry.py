"""Registry of families and of their named, scaled variants.

Names follow ``<family>[-l<lmax>]-<size>``, e.g. ``mpnn-s``, ``egnn-m``,
``esen-l2-s``. Sizes ``xs, s, m, l, xl`` double the width at fixed depth
(width-only scaling, as in Ngo & Ravanbakhsh, arXiv 2510.09768).

The per-variant learning rate follows the paper's transfer rule
``lr(w) = lr_star * w_base / w`` with ``lr_star`` tuned once per family at
width ``w_base``.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field, replace
from typing import Any

import torch

from .base import ForceField, ForceFieldConfig

__all__ = [
    "Variant",
    "register_family",
    "register_variant",
    "get_family",
    "list_families",
    "list_models",
    "get_variant",
    "create_model",
    "build_model",
    "SIZES",
]

SIZES = ("xs", "s", "m", "l", "xl")

_FAMILIES: dict[str, type[ForceField]] = {}
_VARIANTS: dict[str, "Variant"] = {}


@dataclass(frozen=True)
class Variant:
    """A named configuration of a family.

    Attributes
    ----------
    name : str, e.g. "egnn-m"
    family : str, e.g. "egnn"
    config : dict, hyper-parameters overriding the family's config defaults
    lr : float, learning rate from the width-transfer rule
    size : str, one of SIZES
    """

    name: str
    family: str
    config: dict[str, Any] = field(default_factory=dict)
    lr: float = 1e-3
    size: str = "s"

    def build_config(self, **overrides: Any) -> ForceFieldConfig:
        cls = get_family(self.family).config_class
        merged = {**self.config, **overrides}
        return cls.from_dict(merged)


def register_family(cls: type[ForceField]) -> type[ForceField]:
    """Class decorator: make a ForceField subclass available by its ``family`` name."""
    _FAMILIES[cls.family] = cls
    return cls


def register_variant(variant: Variant) -> Variant:
    if variant.family not in _FAMILIES:
        raise KeyError(f"family {variant.family!r} is not registered")
    _VARIANTS[variant.name] = variant
    return variant


FAMILY_MODULES = ("mpnn", "egnn", "esen", "gemnet")


def _ensure_loaded() -> None:
    # Importing the family modules registers them and their variants.
    import importlib

    for module in FAMILY_MODULES:
        importlib.import_module(f"{__package__}.{module}")


def get_family(family: str) -> type[ForceField]:
    _ensure_loaded()
    if family not in _FAMILIES:
        raise KeyError(
            f"unknown model family {family!r}; known families: {', '.join(sorted(_FAMILIES))}."
        )
    return _FAMILIES[family]


def list_families() -> list[str]:
    _ensure_loaded()
    return sorted(_FAMILIES)


def list_models(family: str | None = None) -> list[str]:
    """Names of all registered variants, optionally of one family, smallest first."""
    _ensure_loaded()
    order = {s: i for i, s in enumerate(SIZES)}
    names = [v for v in _VARIANTS.values() if family is None or v.family == family]
    names.sort(key=lambda v: (v.family, v.config.get("lmax", 0), order.get(v.size, 99)))
    return [v.name for v in names]


def get_variant(name: str) -> Variant:
    _ensure_loaded()
    if name not in _VARIANTS:
        close = difflib.get_close_matches(name, list(_VARIANTS), n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise KeyError(
            f"unknown model {name!r}.{hint} `forcefields list` shows every registered variant."
        )
    return _VARIANTS[name]


def build_model(
    family: str,
    config: dict[str, Any] | ForceFieldConfig,
    *,
    dtype: torch.dtype | str | None = None,
    seed: int | None = None,
) -> ForceField:
    """Instantiate a family from a config (dict or dataclass)."""
    cls = get_family(family)
    if isinstance(config, dict):
        config = cls.config_class.from_dict(config)
    if seed is not None:
        torch.manual_seed(seed)
    model = cls(config)
    if dtype is not None:
        model = model.to(_as_dtype(dtype))
    return model


def create_model(
    name: str,
    *,
    statistics: Any = None,
    dtype: torch.dtype | str | None = None,
    seed: int | None = 0,
    **overrides: Any,
) -> ForceField:
    """Build a registered variant by name.

    Parameters
    ----------
    name : registered variant, e.g. "egnn-m" (see :func:`list_models`)
    statistics : DatasetStatistics, optional
        Sets elements, reference energies, energy scale and neighbour count
        so the model starts well scaled on that data, and records the shortest
        distance per element pair of that data (``config.min_pair_distance``).
    dtype : torch.float32 (default) or torch.float64, or their names
    seed : int, fixes the initial weights
    **overrides : any config field of the family (e.g. ``force_mode="direct"``)
    """
    variant = get_variant(name)
    stat_fields: dict[str, Any] = {}
    if statistics is not None:
        stat_fields = dict(
            elements=tuple(statistics.elements),
            atomic_energies={str(k): float(v) for k, v in statistics.atomic_energies.items()},
            energy_scale=float(statistics.force_rms) if statistics.force_rms > 0 else 1.0,
            avg_num_neighbors=float(statistics.avg_num_neighbors),
        )
        shortest = getattr(statistics, "min_pair_distance", None)
        if shortest:
            stat_fields["min_pair_distance"] = {str(k): float(v) for k, v in shortest.items()}
    config = variant.build_config(**{**stat_fields, **overrides})
    return build_model(variant.family, config, dtype=dtype, seed=seed)


def _as_dtype(dtype: torch.dtype | str) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        return dtype
    table = {"float32": torch.float32, "float64": torch.float64, "float": torch.float32, "double": torch.float64}
    if dtype not in table:
        raise ValueError(f"dtype {dtype!r} is not supported; use 'float32' or 'float64'.")
    return table[dtype]


def width_transfer_lr(lr_star: float, width: int, base_width: int) -> float:
    """The paper's learning-rate transfer rule: lr(w) = lr_star * w_base / w."""
    return lr_star * base_width / width


def register_sizes(
    family: str,
    widths: dict[str, int],
    lr_star: float,
    base_width: int,
    prefix: str | None = None,
    **common: Any,
) -> None:
    """Register one variant per size, width-only scaling."""
    prefix = prefix or family
    for size, width in widths.items():
        register_variant(
            Variant(
                name=f"{prefix}-{size}",
                family=family,
                config={**common, "hidden": width},
                lr=width_transfer_lr(lr_star, width, base_width),
                size=size,
            )
        )
