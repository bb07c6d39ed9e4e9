"""Peak memory of a block of work, on the GPU or the CPU.

GPU: ``torch.cuda.max_memory_allocated`` after ``reset_peak_memory_stats``,
minus what was allocated before: the tensors the work needed (the caching
allocator's reserve is not counted).

CPU: Python's ``tracemalloc`` does not see torch's allocations, so the
process's resident set is read from the kernel instead. On Linux the
high-water mark (``VmHWM``) can be reset to the current resident size by
writing ``5`` to ``/proc/self/clear_refs``; the peak of the block is then
``VmHWM`` after it minus ``VmRSS`` before it. Where that reset is refused the
fallback is ``resource.getrusage(...).ru_maxrss``, which never resets: when
the block raised the process's high-water mark, the peak is that mark minus
the resident size before the block; when it did not (an earlier block peaked
higher), the peak is unknown and reported as None. The harness runs sizes in
ascending order, so each block normally sets a new mark. Before each block,
``gc.collect()`` and glibc's ``malloc_trim(0)`` hand freed memory back to the
kernel, so memory cached from an earlier block is not counted as the
baseline. The figure includes allocator overhead and fragmentation: read it as
an upper bound on what the tensors needed.
"""

from __future__ import annotations

import ctypes
import gc
import resource
import sys

import torch

__all__ = ["PeakMemory"]


def _status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def _reset_hwm() -> bool:
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _trim() -> None:
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def _maxrss_kb() -> int:
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r // 1024 if sys.platform == "darwin" else r  # bytes on macOS, kB on Linux


class PeakMemory:
    """Context manager measuring the peak memory (MB) of the block it wraps.

    Attributes (after the block)
    ----------------------------
    peak_mb : float or None, peak above the level at entry (MB = 2**20 bytes)
    method : str, how it was measured
    """

    def __init__(self, device: torch.device | str):
        self.device = torch.device(device)
        self.peak_mb: float | None = None
        self.method = ""

    def __enter__(self) -> "PeakMemory":
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._base = torch.cuda.memory_allocated(self.device)
            self.method = "cuda.max_memory_allocated"
            return self
        _trim()
        if _reset_hwm() and _status_kb("VmRSS") is not None:
            self._base = _status_kb("VmRSS")
            self.method = "rss_hwm"
        else:
            self._base = _status_kb("VmRSS")
            self._maxrss0 = _maxrss_kb()
            self.method = "ru_maxrss"
        return self

    def __exit__(self, *exc) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            peak = torch.cuda.max_memory_allocated(self.device) - self._base
            self.peak_mb = peak / 2**20
        elif self.method == "rss_hwm":
            hwm = _status_kb("VmHWM")
            self.peak_mb = None if hwm is None else max(hwm - self._base, 0) / 1024
        else:
            now = _maxrss_kb()
            grew = self._base is not None and now > self._maxrss0
            self.peak_mb = max(now - self._base, 0) / 1024 if grew else None
