"""What a benchmark ran on: the machine, the device and the library versions.

Every result file records this next to its numbers, since a timing without
its CPU model, thread count and torch version cannot be compared with anything.
"""

from __future__ import annotations

import os
import platform
import re
from importlib import metadata

import torch

from ..allocator import malloc_tuned

__all__ = ["resolve_device", "machine_info", "device_label", "cpu_model", "library_versions"]

_NO_CUDA = "CUDA was asked for but torch sees no GPU; use --device cpu"


def resolve_device(device: str, fallback_cpu: bool = False) -> torch.device:
    """Turn a user's device string into a torch device that exists here.

    Parameters
    ----------
    device : "cpu", "cuda" or "cuda:<index>"
    fallback_cpu : bool
        Use the CPU (with a warning) instead of failing when CUDA is absent.

    Raises
    ------
    ValueError
        The device is not a CPU or CUDA device, or CUDA was asked for but is
        not available (and ``fallback_cpu`` is False).
    """
    name = str(device).strip().lower()
    if name == "gpu":
        name = "cuda"
    if name == "cpu":
        return torch.device("cpu")
    if not re.fullmatch(r"cuda(:\d+)?", name):
        raise ValueError(f"device {device!r} is not supported; use 'cpu' or 'cuda' (optionally 'cuda:N').")
    if not torch.cuda.is_available():
        if fallback_cpu:
            import warnings

            warnings.warn("CUDA is not available; benchmarking on the CPU instead (--fallback-cpu).", stacklevel=2)
            return torch.device("cpu")
        raise ValueError(_NO_CUDA)
    dev = torch.device(name)
    if dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ValueError(
            f"device {device!r} does not exist: torch sees {torch.cuda.device_count()} GPU(s); use cuda:0."
        )
    return dev


def cpu_model() -> str:
    """CPU model name from /proc/cpuinfo (Linux), else platform.processor()."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _short(name: str) -> str:
    s = name.lower()
    s = re.sub(r"\((r|tm)\)", " ", s)
    s = re.sub(r"@.*$", " ", s)  # clock speed
    s = re.sub(r"\b(cpu|processor|nvidia|corporation|\d+-core)\b", " ", s)
    s = re.sub(r"[^a-z0-9]+", "-", s).strip("-")
    return s or "unknown"


def device_label(device: torch.device | str) -> str:
    """Folder name for results of this device: ``cpu-<cpu>`` or ``cuda-<gpu>``.

    E.g. ``cpu-intel-xeon-platinum-8375c`` or ``cuda-h100-80gb-hbm3``.
    """
    device = torch.device(device)
    if device.type == "cuda":
        return "cuda-" + _short(torch.cuda.get_device_name(device))
    return "cpu-" + _short(cpu_model())


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def library_versions() -> dict[str, str | None]:
    """Versions of python and of the libraries that decide the speed."""
    import forcefields

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "e3nn": _version("e3nn"),
        "torch_geometric": _version("torch_geometric") or _version("torch-geometric"),
        "torch_cluster": _version("torch_cluster") or _version("torch-cluster"),
        "numpy": _version("numpy"),
        "forcefields": forcefields.__version__,
    }


def machine_info(device: torch.device | str) -> dict:
    """Machine, device and library facts stored with every result.

    Returns
    -------
    dict with ``device`` (str), ``device_label``, ``cpu_model``, ``cpu_count``
    (logical cores this process may use), ``torch_num_threads``, ``gpu_name``
    and ``gpu_memory_gb`` (None on CPU), ``cuda``, ``platform`` and ``versions`` (dict).
    """
    device = torch.device(device)
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    gpu_name = gpu_mem = None
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        gpu_name = props.name
        gpu_mem = round(props.total_memory / 2**30, 2)
    return {
        "device": str(device),
        "device_label": device_label(device),
        "cpu_model": cpu_model(),
        "cpu_count": int(cores),
        "torch_num_threads": int(torch.get_num_threads()),
        "malloc_tuned": malloc_tuned(),
        "gpu_name": gpu_name,
        "gpu_memory_gb": gpu_mem,
        "cuda": torch.version.cuda,
        "platform": platform.platform(),
        "versions": library_versions(),
    }

