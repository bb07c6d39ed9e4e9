"""Model families and the registry of their scaled variants."""

from .base import ForceField, ForceFieldConfig, UnknownElementError
from .registry import (
    build_model,
    create_model,
    get_family,
    get_variant,
    list_families,
    list_models,
    register_family,
    register_variant,
)

__all__ = [
    "ForceField",
    "ForceFieldConfig",
    "UnknownElementError",
    "build_model",
    "create_model",
    "get_family",
    "get_variant",
    "list_families",
    "list_models",
    "register_family",
    "register_variant",
]
