"""The timing protocol shared by every regime (and mirrored by the peer runners).

1. ``warmup`` calls that are not timed (first calls allocate, tune kernels,
   compile).
2. Timed calls, each bracketed by a device synchronisation, so a CUDA call is
   timed until its kernels finish; wall clock (``time.perf_counter``), because a
   molecular-dynamics step waits for the host work too (neighbour list,
   Python).
3. At least ``min_repeats`` and at most ``repeats`` timed calls; after
   ``min_repeats`` the loop stops early once ``max_time_s`` is spent.
4. Reported: median, 10th and 90th percentile, mean, standard deviation and
   the number of timed calls.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import Callable

import torch

__all__ = ["Timing", "synchronize", "measure", "summarize"]


@dataclass
class Timing:
    """Summary of repeated timings (seconds)."""

    median_s: float
    p10_s: float
    p90_s: float
    mean_s: float
    std_s: float
    repeats: int
    warmup: int
    first_call_s: float

    def to_dict(self) -> dict:
        return asdict(self)


def synchronize(device: torch.device | str) -> None:
    """Wait for queued work on ``device`` (a no-op on the CPU)."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _percentile(sorted_x: list[float], q: float) -> float:
    # Linear interpolation between closest ranks (numpy's default).
    if len(sorted_x) == 1:
        return sorted_x[0]
    pos = (len(sorted_x) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_x) - 1)
    return sorted_x[lo] + (sorted_x[hi] - sorted_x[lo]) * (pos - lo)


def summarize(times: list[float], warmup: int = 0, first_call_s: float = float("nan")) -> Timing:
    """Median, p10/p90, mean and std of timed calls (s)."""
    if not times:
        raise ValueError("no timed calls to summarise; use repeats >= 1.")
    xs = sorted(float(t) for t in times)
    mean = sum(xs) / len(xs)
    var = sum((x - mean) ** 2 for x in xs) / max(len(xs) - 1, 1)
    return Timing(
        median_s=_percentile(xs, 0.5),
        p10_s=_percentile(xs, 0.1),
        p90_s=_percentile(xs, 0.9),
        mean_s=mean,
        std_s=math.sqrt(var),
        repeats=len(xs),
        warmup=int(warmup),
        first_call_s=float(first_call_s),
    )


def measure(
    fn: Callable[[], object],
    device: torch.device | str = "cpu",
    *,
    warmup: int = 3,
    repeats: int = 20,
    min_repeats: int = 3,
    max_time_s: float | None = None,
) -> Timing:
    """Time ``fn()`` by the protocol in this module's docstring.

    Parameters
    ----------
    fn : callable with no arguments, one full call (e.g. energy and forces)
    device : where ``fn`` queues its work; CUDA is synchronised around each call
    warmup : untimed calls first (at least 1 is always made and reported as
        ``first_call_s``, which includes compilation when the model is compiled)
    repeats : most timed calls
    min_repeats : fewest timed calls, whatever ``max_time_s`` says
    max_time_s : stop timing once this many seconds are spent (after
        ``min_repeats``); None for no cap

    Returns
    -------
    Timing (seconds per call)
    """
    if repeats < 1:
        raise ValueError(f"repeats={repeats} must be at least 1.")
    min_repeats = max(1, min(min_repeats, repeats))
    device = torch.device(device)
    synchronize(device)
    t0 = time.perf_counter()
    fn()
    synchronize(device)
    first = time.perf_counter() - t0
    for _ in range(max(warmup, 1) - 1):
        fn()
    synchronize(device)
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < repeats:
        t0 = time.perf_counter()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - t0)
        if max_time_s is not None and len(times) >= min_repeats and time.perf_counter() - start > max_time_s:
            break
    return summarize(times, warmup=max(warmup, 1), first_call_s=first)
