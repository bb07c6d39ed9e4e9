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

:func:`measure_rounds` times several calls *side by side* instead: after each
has been warmed up on its own (:func:`warm_up`), they take turns in rounds, a
short burst of timed calls each, the order rotating from round to round. On a
shared machine whose speed drifts by tens of percent over minutes, timing one
model after another moves their ratio with the drift; taking turns puts the
drift on all of them alike.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import Callable

import torch

__all__ = ["Timing", "synchronize", "measure", "summarize", "warm_up", "measure_rounds"]


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
    first, _ = warm_up(fn, device, warmup)
    # A single call in rounds of one call each: the protocol above, with the exception re-raised.
    times = measure_rounds({0: fn}, device, repeats=repeats, min_repeats=min_repeats, max_time_s=max_time_s)[0]
    if isinstance(times, BaseException):
        raise times
    return summarize(times, warmup=max(warmup, 1), first_call_s=first)


def _timed_call(fn: Callable[[], object], device: torch.device) -> float:
    t0 = time.perf_counter()
    fn()
    synchronize(device)
    return time.perf_counter() - t0


def _burst(fn, count: int, device: torch.device) -> list[float]:
    """``count`` timed calls of ``fn`` back to back, or, for a call timed elsewhere, its own timings."""
    if hasattr(fn, "burst"):  # e.g. a peer model in its own process, which times its calls itself
        return [float(t) for t in fn.burst(count)]
    return [_timed_call(fn, device) for _ in range(count)]


def warm_up(fn: Callable[[], object], device: torch.device | str, warmup: int) -> tuple[float, float]:
    """The untimed part of the protocol: ``max(warmup, 1)`` calls of ``fn``.

    Returns
    -------
    first_call_s : float, the first call (compilation included for a compiled model)
    last_call_s : float, the last warm-up call (the first call when ``warmup <= 1``),
        an estimate of one warm call
    """
    device = torch.device(device)
    synchronize(device)
    first = last = _timed_call(fn, device)
    for _ in range(max(warmup, 1) - 1):
        last = _timed_call(fn, device)
    return first, last


def measure_rounds(
    fns: dict,
    device: torch.device | str = "cpu",
    *,
    repeats: int = 20,
    min_repeats: int = 3,
    max_time_s: float | None = None,
    burst_s: float = 0.05,
    call_s: dict | None = None,
) -> dict:
    """Time several warmed-up calls side by side, in rotating rounds.

    Each round gives every call still short of ``repeats`` timed calls one
    burst of back-to-back calls (about ``burst_s`` seconds of them, at least
    one), so a call still runs with its own data in the caches, as in
    :func:`measure`; round ``r`` starts with the ``r``-th call of the list.

    Parameters
    ----------
    fns : dict key -> callable with no arguments, already warmed up (:func:`warm_up`);
        or an object whose ``burst(count)`` makes ``count`` calls elsewhere and
        returns their times (s), e.g. a peer model timed in its own process
    device : where the calls queue their work; CUDA is synchronised around each call
    repeats : most timed calls of each
    min_repeats : fewest timed calls of each, whatever ``max_time_s`` says
    max_time_s : stop starting rounds once this many seconds are spent in all
        (after every call has ``min_repeats``); None for no cap
    burst_s : seconds of calls per burst
    call_s : dict key -> estimated seconds of one call (sizes the bursts);
        missing keys get bursts of one call

    Returns
    -------
    dict key -> list of timed calls (seconds), or the exception the call
    raised; a call that raised is not called again.
    """
    if repeats < 1:
        raise ValueError(f"repeats={repeats} must be at least 1.")
    min_repeats = max(1, min(min_repeats, repeats))
    device = torch.device(device)
    call_s = call_s or {}
    keys = list(fns)
    burst = {k: max(1, int(burst_s / call_s[k])) if call_s.get(k) else 1 for k in keys}
    results: dict = {k: [] for k in keys}
    start = time.perf_counter()
    r = 0
    while True:
        live = [k for k in keys if isinstance(results[k], list) and len(results[k]) < repeats]
        if not live:
            break
        done_min = all(len(results[k]) >= min_repeats for k in keys if isinstance(results[k], list))
        if done_min and max_time_s is not None and time.perf_counter() - start > max_time_s:
            break
        shift = r % len(live)
        for k in live[shift:] + live[:shift]:
            try:
                results[k].extend(_burst(fns[k], min(burst[k], repeats - len(results[k])), device))
            except KeyboardInterrupt:
                raise
            except Exception as err:  # reported per call: one failure must not sink the others
                results[k] = err
        r += 1
    return results
