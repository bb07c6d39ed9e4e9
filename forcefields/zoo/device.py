"""Device and dtype arguments as users spell them ("cpu", "cuda:0", "float64")."""

from __future__ import annotations

import torch

__all__ = ["resolve_device", "resolve_dtype", "dtype_name"]

_DTYPES = {
    "float32": torch.float32,
    "float": torch.float32,
    "fp32": torch.float32,
    "float64": torch.float64,
    "double": torch.float64,
    "fp64": torch.float64,
}


def resolve_device(device: str | torch.device | None) -> torch.device:
    """A torch device, refusing CUDA when this machine has none.

    Parameters
    ----------
    device : "cpu", "cuda", "cuda:1", a torch.device, or None for the CPU
    """
    dev = torch.device(device if device is not None else "cpu")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={str(dev)!r} was asked for but this torch build sees no CUDA GPU; "
            "use device='cpu' or run on a machine with a GPU and a CUDA build of torch."
        )
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ValueError(
            f"device={str(dev)!r} does not exist: this machine has {torch.cuda.device_count()} GPU(s)."
        )
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"device={str(dev)!r} is not supported; use 'cpu' or 'cuda'.")
    return dev


def resolve_dtype(dtype: str | torch.dtype | None, default: torch.dtype = torch.float32) -> torch.dtype:
    """torch.float32 or torch.float64 from a name or a dtype; None gives ``default``."""
    if dtype is None:
        return default
    if isinstance(dtype, torch.dtype):
        if dtype not in (torch.float32, torch.float64):
            raise ValueError(f"dtype {dtype} is not supported; use float32 or float64.")
        return dtype
    key = str(dtype).lower().removeprefix("torch.")
    if key not in _DTYPES:
        raise ValueError(f"dtype {dtype!r} is not supported; use 'float32' or 'float64'.")
    return _DTYPES[key]


def dtype_name(dtype: torch.dtype) -> str:
    """'float32' or 'float64'."""
    return str(dtype).removeprefix("torch.")
