"""Keep glibc's malloc from handing large buffers back to the OS after every step.

A training or MD step allocates and frees the same tens-of-MB autograd buffers
again and again. With glibc's defaults such buffers are ``mmap``-ed (or the
heap top is trimmed) and returned to the OS when freed, so the next step
faults every page in again: at batch 64, tens of thousands of page faults and
about a tenth of a second of system time per step. :func:`tune_malloc` raises
the thresholds once per process so the freed memory stays in the heap and is
reused. It changes memory management only, never results.

Opt out with ``FORCEFIELDS_NO_MALLOPT=1``. Elsewhere than Linux with glibc it
does nothing.
"""

from __future__ import annotations

import ctypes
import os
import sys

__all__ = ["tune_malloc", "malloc_tuned"]

# mallopt parameters from glibc's <malloc.h>.
_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_THRESHOLD = -3

_SETTINGS = {
    _M_MMAP_THRESHOLD: 32 * 2**20,  # blocks below 32 MiB come from the heap, not from mmap
    _M_TRIM_THRESHOLD: 1 << 30,  # return heap memory to the OS only above 1 GiB of free top
    _M_TOP_PAD: 512 * 2**20,  # grow the heap in large steps (address space; pages are touched lazily)
}

_applied: bool | None = None


def tune_malloc() -> bool:
    """Set glibc's malloc thresholds for repeated large allocations (once per process).

    Returns
    -------
    bool
        True if the settings are (now or already) in force; False when opted
        out with ``FORCEFIELDS_NO_MALLOPT=1``, not on glibc, or if ``mallopt``
        refused a setting.
    """
    global _applied
    if _applied is not None:
        return _applied
    if os.environ.get("FORCEFIELDS_NO_MALLOPT", "").strip() not in ("", "0"):
        _applied = False
        return _applied
    _applied = False
    if not sys.platform.startswith("linux"):
        return _applied
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # only glibc has it (musl and others have no such mallopt)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return _applied
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    _applied = all(mallopt(param, value) == 1 for param, value in _SETTINGS.items())
    return _applied


def malloc_tuned() -> bool:
    """Whether :func:`tune_malloc` has put its settings in force in this process."""
    return bool(_applied)

