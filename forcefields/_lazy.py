"""Lazy re-exports for package ``__init__`` files (PEP 562).

A package lists ``{public name: submodule}`` and gets a module-level
``__getattr__``/``__dir__`` that import the submodule on first use, so that
``import forcefields`` does not pull in Lightning, ASE or the hub client.
"""

from __future__ import annotations

import importlib
import sys
from typing import Callable

__all__ = ["lazy_exports"]


def lazy_exports(package: str, exports: dict[str, str]) -> tuple[Callable, Callable]:
    """``(__getattr__, __dir__)`` for ``package``.

    Parameters
    ----------
    package : the package's ``__name__``
    exports : public name -> submodule, relative to ``package`` ("format")
        or absolute ("forcefields.models")
    """

    def __getattr__(name: str):
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        target = exports[name]
        module = target if target.startswith("forcefields") else f"{package}.{target}"
        value = getattr(importlib.import_module(module), name)
        sys.modules[package].__dict__[name] = value  # later lookups skip this function
        return value

    def __dir__():
        return sorted(set(exports) | set(sys.modules[package].__dict__))

    return __getattr__, __dir__
