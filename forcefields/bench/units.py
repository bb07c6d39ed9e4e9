"""What the speed harness times: points, and the units (a model in one compile mode, or a peer's model) that time them.

A unit holds the rules every timing order shares: a failed compilation fails
every later point, a spent budget or a predicted call over ``max_call_s``
skips a point, compiled units skip training steps, and after an
out-of-memory error a regime's larger sizes are skipped too.
:class:`ModelUnit` times one of our models in this process; :class:`PeerUnit`
a peer's model in the peer's own process (:class:`forcefields.bench.peers.PeerServer`).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Callable

import torch

from ..data.neighbors import radius_graph
from .memory import PeakMemory
from .resolve import as_dtype, maybe_compile, resolve_model
from .systems import to_batch
from .timing import Timing, warm_up
from .train_step import training_step

__all__ = ["Point", "record", "peer_base", "error_line", "is_oom", "UnitRules", "ModelUnit", "PeerError", "PeerUnit"]


def error_line(err: BaseException) -> str:
    """One line: the error's type and first line, and its root cause's when it has one.

    A peer's failure (:class:`PeerError`) is already the runner's one-line
    reason, and is kept as it is.
    """
    if isinstance(err, PeerError):
        return str(err)[:400]

    def line(e: BaseException) -> str:
        text = str(e).strip()
        return f"{type(e).__name__}: {text.splitlines()[0] if text else ''}".strip()

    root = err
    while root.__cause__ is not None and root.__cause__ is not root:
        root = root.__cause__
    out = line(err) + (f" (caused by {line(root)})" if root is not err else "")
    return out[:400]


def is_oom(err: BaseException) -> bool:
    text = str(err).lower()
    return isinstance(err, MemoryError) or getattr(err, "oom", False) or "out of memory" in text or "can't allocate memory" in text


@dataclass
class Point:
    """One timed call: a molecule (md), a batch of molecules (batch, train) or a droplet (large)."""

    regime: str
    system: str
    n_molecules: int
    structures: list  # list of ase.Atoms

    @property
    def n_atoms(self) -> int:
        return sum(len(a) for a in self.structures)


def record(base: dict, p: Point, *, status: str = "ok", reason: str | None = None,
           timing: Timing | None = None, peak: PeakMemory | None = None, n_edges: int | None = None) -> dict:
    """A speed record of ``p``: ``base`` plus the point, the status and the timing summary (s) when timed."""
    med = timing.median_s if timing else None
    rec = dict(
        base,
        regime=p.regime,
        system=p.system,
        n_atoms=p.n_atoms,
        n_molecules=p.n_molecules,
        status=status,
        reason=reason,
        median_s=med,
        p10_s=timing.p10_s if timing else None,
        p90_s=timing.p90_s if timing else None,
        mean_s=timing.mean_s if timing else None,
        std_s=timing.std_s if timing else None,
        repeats=timing.repeats if timing else 0,
        warmup=timing.warmup if timing else 0,
        first_call_s=timing.first_call_s if timing else None,
        molecules_per_s=p.n_molecules / med if med else None,
        atoms_per_s=p.n_atoms / med if med else None,
        us_per_atom=1e6 * med / p.n_atoms if med else None,
        peak_mem_mb=peak.peak_mb if (peak and timing) else None,
        mem_method=peak.method if (peak and timing) else None,
        n_edges=n_edges,
    )
    return rec


def peer_base(base: dict, info: dict) -> dict:
    """The fields every record of one peer model carries: ``base`` plus the runner's model, family, params and compile mode."""
    compiled = bool(info["compile"])
    return dict(base, model=str(info["model"]), family=str(info["family"]), source="peer", params=int(info["params"]),
                compile=compiled, compile_status=info.get("compile_status") or ("ok" if compiled else "off"))


def count_edges(batch, cutoff: float) -> int:
    return int(radius_graph(batch.pos, cutoff, batch.batch).shape[1])


class UnitRules:
    """Records and skip rules of one unit; subclasses say how a point is warmed up and timed.

    Attributes
    ----------
    base : dict, the fields every record of the unit carries (model, family, source, params, compile, ...)
    compiled : bool
    max_call_s : float, the longest call a regime may grow to (s)
    records : list of dict, this unit's records so far
    """

    takes_training_steps = True

    def __init__(self, base: dict, compiled: bool, max_call_s: float):
        self.base, self.compiled, self.max_call_s = base, bool(compiled), float(max_call_s)
        self.records: list[dict] = []
        self.compile_error: str | None = None
        self.last: dict[str, tuple[int, float]] = {}  # regime -> (n_atoms, median_s)

    @property
    def label(self) -> str:
        return f"{self.base['model']}{' (compiled)' if self.compiled else ''}"

    def skip(self, p: Point, out_of_time: bool) -> bool:
        """Record ``p`` as failed or skipped and return True when it is not to be timed.

        ``out_of_time``: this unit's share of the time budget is spent. A unit
        that takes no training steps (a peer) skips training points without a record.
        """
        reason = status = None
        prev = self.last.get(p.regime)
        if p.regime == "train" and not self.takes_training_steps:
            return True
        if self.compile_error is not None:
            status, reason = "failed", f"torch.compile failed: {self.compile_error}"
        elif out_of_time:
            status, reason = "skipped", "time budget exhausted"
        elif self.compiled and p.regime == "train":
            status, reason = "skipped", ("training steps are timed eagerly only: torch.compile cannot take the "
                                         "second derivative of training on conservative forces")
        elif prev and prev[1] * p.n_atoms / prev[0] > self.max_call_s:
            status, reason = "skipped", f"time cap: a call would take over {self.max_call_s:g} s (--max-call-s)"
        if status is None:
            return False
        self.records.append(record(self.base, p, status=status, reason=reason))
        return True

    def warm(self, p: Point, warmup: int) -> tuple[Any, float, float, Any, int | None]:
        """Make ``p``'s call and warm it up, reading its peak memory.

        Returns
        -------
        (call, first_call_s, last_call_s, peak, n_edges): ``call`` is what
        :func:`forcefields.bench.timing.measure_rounds` times, ``peak`` has
        ``peak_mb`` and ``method``
        """
        raise NotImplementedError

    def done(self, p: Point, timing: Timing, peak, n_edges: int | None) -> None:
        self.records.append(record(self.base, p, timing=timing, peak=peak, n_edges=n_edges))
        self.last[p.regime] = (p.n_atoms, timing.median_s)

    def failed(self, p: Point, err: BaseException) -> None:
        reason = error_line(err)
        if self.compiled and not any(r["status"] == "ok" for r in self.records):
            self.compile_error = reason
            for r in self.records:
                r["compile_status"] = "failed"
            self.base["compile_status"] = "failed"
            self.records.append(record(self.base, p, status="failed", reason=f"torch.compile failed: {reason}"))
        elif is_oom(err):
            self.records.append(record(self.base, p, status="oom", reason=reason))
            self.last[p.regime] = (p.n_atoms, float("inf"))
        else:
            self.records.append(record(self.base, p, status="failed", reason=reason))


class ModelUnit(UnitRules):
    """One of our models in one compile mode, timed in this process.

    Parameters
    ----------
    name : registry variant or pretrained name
    compiled : time ``torch.compile(model)``
    s : SpeedSettings
    device : torch.device
    base : fields shared by every record of the run
    """

    def __init__(self, name: str, compiled: bool, s, device: torch.device, base: dict):
        self.name, self.s, self.device = name, s, device
        self.dtype = as_dtype(s.dtype)
        self.model, info = resolve_model(name, dtype=self.dtype, device=device, seed=s.seed, overrides=s.overrides)
        self.fn = maybe_compile(self.model, compiled)
        self.cutoff = float(self.model.cutoff)
        super().__init__(dict(base, model=name, family=info["family"], source=info["source"], params=info["params"],
                              compile=compiled, compile_status="ok" if compiled else "off"), compiled, s.max_call_s)

    def prepare(self, p: Point) -> tuple[Callable[[], Any], int]:
        """The call that ``p`` times, and the number of edges of its structures."""
        batch = to_batch(p.structures, device=self.device, dtype=self.dtype)
        n_edges = count_edges(batch, self.cutoff)
        if p.regime == "train":
            return training_step(self.model, batch, seed=self.s.seed), n_edges
        cutoff, fn = self.cutoff, self.fn

        def call():
            # The neighbour list is built here, eagerly, in both compile modes:
            # compilation covers the network, not torch-cluster's custom op.
            batch.edge_index = radius_graph(batch.pos, cutoff, batch.batch)
            out = fn(batch)
            return out["energy"].detach().cpu(), out["forces"].detach().cpu()

        return call, n_edges

    def warm(self, p: Point, warmup: int):
        call, n_edges = self.prepare(p)
        with PeakMemory(self.device) as peak:
            first, last = warm_up(call, self.device, warmup)
        return call, first, last, peak, n_edges


class PeerError(RuntimeError):
    """A peer runner's answer that a call failed: the runner's one-line reason, and whether memory ran out."""

    def __init__(self, reason: str, oom: bool = False):
        super().__init__(reason)
        self.oom = bool(oom)


class PeerUnit(UnitRules):
    """One peer model in one compile mode, timed in the peer's own process.

    Parameters
    ----------
    server : forcefields.bench.peers.PeerServer, the runner serving it
    index : the unit's position in ``server.units``
    point_ids : dict id(Point) -> the point's number in the server's request
    max_call_s : float
    base : fields shared by every record of the run
    """

    takes_training_steps = False

    def __init__(self, server, index: int, point_ids: dict[int, int], max_call_s: float, base: dict):
        info = server.units[index]
        self.server, self.index, self.point_ids = server, int(index), point_ids
        super().__init__(peer_base(base, info), bool(info["compile"]), max_call_s)

    def _ask(self, **command) -> dict:
        answer = self.server.ask(unit=self.index, **command)
        if not answer.get("ok"):
            reason = str(answer.get("reason") or "no reason given by the peer runner")
            raise PeerError(reason, oom=bool(answer.get("oom")))
        return answer

    def warm(self, p: Point, warmup: int):
        answer = self._ask(op="warm", point=self.point_ids[id(p)])
        peak = SimpleNamespace(peak_mb=answer.get("peak_mem_mb"), method=answer.get("mem_method"))
        return self, float(answer["first_call_s"]), float(answer["last_call_s"]), peak, None

    def burst(self, count: int) -> list[float]:
        """``count`` timed calls of the warmed-up point, timed by the runner (s)."""
        return [float(t) for t in self._ask(op="burst", count=int(count))["times"]]
