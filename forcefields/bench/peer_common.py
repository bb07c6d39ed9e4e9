"""What every peer runner shares: the timing protocol, peak memory and the point loop.

Standalone on purpose (standard library and torch only, imported lazily):
runner scripts import it as a sibling module under the peer's own
interpreter, which has no forcefields installed. It mirrors
``forcefields.bench.timing`` and ``forcefields.bench.memory``; keep the three
in step.
"""

from __future__ import annotations

import gc
import json
import math
import os
import sys
import time

PROTOCOL = "forcefields.bench.peer/1"
# Marks the protocol's lines in serve mode: whatever else reaches stdout (a library's
# print before the runner could redirect it) is not taken for an answer.
SERVE_PREFIX = "@forcefields.bench.peer "

__all__ = ["PROTOCOL", "fail", "read_request", "warm_up", "measure", "Peak", "run_points", "serve", "write_output"]


def fail(code: int, message: str) -> int:
    """Print the one-line message the harness shows, and return the exit code."""
    print(f"peer runner: {message}", file=sys.stderr)
    return code


def read_request(path: str) -> dict:
    with open(path, encoding="utf-8") as fh:
        request = json.load(fh)
    if request.get("protocol") != PROTOCOL:
        raise ValueError(f"request protocol is {request.get('protocol')!r}; this runner speaks {PROTOCOL}")
    return request


# --------------------------------------------------------------- timing
def _percentile(xs, q):
    if len(xs) == 1:
        return xs[0]
    pos = (len(xs) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def _timed(fn, sync):
    t0 = time.perf_counter()
    fn()
    sync()
    return time.perf_counter() - t0


def warm_up(fn, sync, warmup):
    """Same as forcefields.bench.timing.warm_up: (first call, last warm-up call) in seconds."""
    sync()
    first = last = _timed(fn, sync)
    for _ in range(max(warmup, 1) - 1):
        last = _timed(fn, sync)
    return first, last


def measure(fn, sync, warmup, repeats, min_repeats, max_time_s):
    """Same protocol as forcefields.bench.timing.measure; returns a dict of seconds."""
    first, _ = warm_up(fn, sync, warmup)
    times = []
    start = time.perf_counter()
    min_repeats = max(1, min(min_repeats, repeats))
    while len(times) < repeats:
        times.append(_timed(fn, sync))
        if max_time_s is not None and len(times) >= min_repeats and time.perf_counter() - start > max_time_s:
            break
    xs = sorted(times)
    mean = sum(xs) / len(xs)
    std = math.sqrt(sum((x - mean) ** 2 for x in xs) / max(len(xs) - 1, 1))
    return {
        "median_s": _percentile(xs, 0.5),
        "p10_s": _percentile(xs, 0.1),
        "p90_s": _percentile(xs, 0.9),
        "mean_s": mean,
        "std_s": std,
        "repeats": len(xs),
        "warmup": max(warmup, 1),
        "first_call_s": first,
    }


# --------------------------------------------------------------- memory
def _status_kb(field):
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def _trim():
    gc.collect()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


class Peak:
    """Peak memory (MiB) of a block; same method as forcefields.bench.memory.PeakMemory."""

    def __init__(self, device):
        import torch

        self.torch, self.device = torch, device
        self.peak_mb, self.method = None, None

    def __enter__(self):
        torch = self.torch
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self.base = torch.cuda.memory_allocated(self.device)
            self.method = "cuda.max_memory_allocated"
            return self
        _trim()
        try:
            with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
                fh.write("5")
            self.base = _status_kb("VmRSS")
            self.method = "rss_hwm" if self.base is not None else None
        except OSError:
            self.method = None
        if self.method is None:
            import resource

            self.base = _status_kb("VmRSS")
            self.maxrss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            self.method = "ru_maxrss"
        return self

    def __exit__(self, *exc):
        torch = self.torch
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.peak_mb = (torch.cuda.max_memory_allocated(self.device) - self.base) / 2**20
        elif self.method == "rss_hwm":
            hwm = _status_kb("VmHWM")
            self.peak_mb = None if hwm is None else max(hwm - self.base, 0) / 1024
        else:
            import resource

            now = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            grew = self.base is not None and now > self.maxrss0
            self.peak_mb = max(now - self.base, 0) / 1024 if grew else None


# --------------------------------------------------------------- the loop
def _reason(err: BaseException) -> str:
    text = str(err).strip()
    return f"{type(err).__name__}: {text.splitlines()[0] if text else ''}"[:300]


def run_points(request, by_point, build, make_call, device):
    """Time every point of the request for every peer model and compile mode.

    Parameters
    ----------
    request : the request dict
    by_point : point id -> list of ase.Atoms
    build : cfg -> (model, name, family, params, config dict), the model in eval mode on ``device``
    make_call : (model, atoms list, cfg) -> a no-argument callable doing one energy+forces call
    device : torch.device

    Returns
    -------
    list of output records (see forcefields.bench.peers)
    """
    import torch

    s = request["settings"]
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
    max_call_s = s.get("max_call_s")
    records = []
    units = [(cfg, c) for cfg in (request.get("models") or [{}]) for c in s.get("compile_modes", [False])]
    share = float(s.get("time_budget_s") or 1e12 * len(units)) / len(units)  # the budget is shared equally
    for cfg, compiled in units:
        deadline = time.perf_counter() + share
        base_model, name, family, params, config = build(cfg)
        model = torch.compile(base_model) if compiled else base_model
        compile_status = "ok" if compiled else "off"
        compile_error = None
        mine = []
        last = {}  # regime -> (n_atoms, median_s) of its last timed point
        for point in request["points"]:
            rec = {"model": name, "family": family, "params": params, "config": config, "compile": bool(compiled),
                   "point": point["point"], "status": "ok", "reason": None}
            prev = last.get(point["regime"])
            if compile_error is not None:
                rec.update(status="failed", reason=f"torch.compile failed: {compile_error}")
            elif time.perf_counter() > deadline:
                rec.update(status="skipped", reason="time budget exhausted")
            elif max_call_s and prev and prev[1] * point["n_atoms"] / prev[0] > max_call_s:
                rec.update(status="skipped", reason=f"time cap: a call would take over {max_call_s:g} s (--max-call-s)")
            else:
                call = make_call(model, by_point[point["point"]], cfg)
                remaining = max(deadline - time.perf_counter(), 0.0)
                try:
                    with Peak(device) as peak:
                        timing = measure(call, sync, int(s.get("warmup", 3)), int(s.get("repeats", 20)),
                                         int(s.get("min_repeats", 3)),
                                         min(float(s.get("max_time_per_point_s", 10.0)), remaining))
                    rec.update(timing, peak_mem_mb=peak.peak_mb, mem_method=peak.method)
                    last[point["regime"]] = (point["n_atoms"], timing["median_s"])
                except Exception as err:  # recorded, not raised: one point must not sink the run
                    reason = _reason(err)
                    oom = isinstance(err, MemoryError) or "out of memory" in str(err).lower()
                    if compiled and not any(r["status"] == "ok" for r in mine):
                        compile_status, compile_error = "failed", reason
                        for r in mine:
                            r["compile_status"] = "failed"
                        rec.update(status="failed", reason=f"torch.compile failed: {reason}")
                    else:
                        rec.update(status="oom" if oom else "failed", reason=reason)
                    if oom:
                        last[point["regime"]] = (point["n_atoms"], float("inf"))
            rec["compile_status"] = compile_status
            mine.append(rec)
        records.extend(mine)
        del model, base_model
        gc.collect()
    return records


def serve(request, by_point, build, make_call, device, peer):
    """Answer the harness's side-by-side commands until it says ``quit`` (``--serve``, see forcefields.bench.peers).

    Every model of the request is built first; the first line sent is
    ``{"ready": true, "peer": peer, "units": [...]}`` with one entry (model,
    family, params, config, compile) per model and compile mode, in the
    order of :func:`run_points`. Then one JSON line is read and one answered
    at a time:

    * ``{"op": "warm", "unit": u, "point": k}``: the call of point ``k`` for
      unit ``u`` is made and warmed up (``warmup`` calls) inside a peak-memory
      reading -> ``{"ok": true, "first_call_s", "last_call_s", "peak_mem_mb", "mem_method"}``;
    * ``{"op": "burst", "unit": u, "count": n}``: ``n`` timed calls of the unit's
      warmed-up call -> ``{"ok": true, "times": [...]}``;
    * ``{"op": "quit"}``: return 0.

    A failure answers ``{"ok": false, "reason": "...", "oom": bool}`` and the
    loop goes on. Each line sent starts with ``SERVE_PREFIX``; anything a
    library prints from here on goes to stderr.

    Parameters
    ----------
    request, by_point, build, make_call, device : as :func:`run_points`
    peer : the peer's description (name, package, versions), sent in the first line
    """
    import torch

    channel = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # a library's print must not land in the protocol
    sys.stdout = sys.stderr

    def send(message):
        channel.write(SERVE_PREFIX + json.dumps(message) + "\n")
        channel.flush()

    s = request["settings"]
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
    warmup = int(s.get("warmup", 3))
    units = []
    for cfg in request.get("models") or [{}]:
        for compiled in s.get("compile_modes", [False]):
            base_model, name, family, params, config = build(cfg)
            model = torch.compile(base_model) if compiled else base_model
            info = {"model": name, "family": family, "params": params, "config": config, "compile": bool(compiled)}
            units.append({"model": model, "cfg": cfg, "info": info, "call": None})
    send({"ready": True, "peer": peer, "units": [u["info"] for u in units]})
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            cmd = json.loads(line)
            op = cmd.get("op")
            if op == "quit":
                break
            unit = units[int(cmd["unit"])]
            if op == "warm":
                unit["call"] = None
                gc.collect()
                call = make_call(unit["model"], by_point[int(cmd["point"])], unit["cfg"])
                with Peak(device) as peak:
                    first, last = warm_up(call, sync, warmup)
                unit["call"] = call
                reply = {"ok": True, "first_call_s": first, "last_call_s": last,
                         "peak_mem_mb": peak.peak_mb, "mem_method": peak.method}
            elif op == "burst":
                if unit["call"] is None:
                    raise ValueError("burst before a successful warm of this unit")
                reply = {"ok": True, "times": [_timed(unit["call"], sync) for _ in range(int(cmd["count"]))]}
            else:
                raise ValueError(f"unknown op {op!r}")
        except Exception as err:  # answered, not raised: one point must not end the peer
            reply = {"ok": False, "reason": _reason(err),
                     "oom": isinstance(err, MemoryError) or "out of memory" in str(err).lower()}
        send(reply)
    channel.close()
    return 0


def write_output(request, peer: dict, records: list) -> None:
    with open(request["output"], "w", encoding="utf-8") as fh:
        json.dump({"protocol": PROTOCOL, "peer": peer, "records": records}, fh, indent=1)


def group_structures(structures):
    """extxyz frames -> point id -> list of frames, from ``info['bench_point']``."""
    by_point = {}
    for atoms in structures:
        by_point.setdefault(int(atoms.info["bench_point"]), []).append(atoms)
    return by_point


def torch_device(settings):
    """The torch device of the request, or a ValueError when CUDA is asked for but absent."""
    import torch

    device = torch.device(settings.get("device", "cpu"))
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("CUDA was asked for but the peer's torch sees no GPU; use --device cpu")
    if settings.get("threads"):
        torch.set_num_threads(int(settings["threads"]))
    return device
