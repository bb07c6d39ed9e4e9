"""Fit the scaling laws of a grid's runs, per family.

    result = fit_grid("runs/scaling")          # GridFit; result.to_dict() is fit.json
    print(format_table(result))

For each family: L(N, D) from every evaluation of every run (N = the run's
parameters, D = structures seen), L(C) from the compute frontier (the lowest
loss reached at each compute, C = FLOPs per structure × D, over all widths),
the compute-optimal exponents a = β/(α+β) (N* ∝ C^a) and b = α/(α+β)
(D* ∝ C^b) with bootstrap intervals, and the measured κ.

Points seen before ``min_structures`` are left out of every fit (default:
the end of the learning-rate warm-up, ``warmup_steps × batch_size × devices``
structures): while the rate ramps up, and on the plateau that follows the
first steps, the loss measures the schedule, not the data.

Refused: runs made with different settings (the difference is named).
Excluded and listed: diverged runs. Too few points: one sentence saying how
many more are needed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .errors import ScalingError
from .paper import paper_row
from .powerlaw import EXPONENT_BOUNDS, MIN_POINTS_C, MIN_POINTS_ND, PowerLawFit, fit_c, fit_nd, loss_nd
from .results import RunRecord, load_runs
from .settings import compare_settings

__all__ = ["FamilyFit", "GridFit", "fit_grid", "fit_family", "compute_frontier", "format_table", "METRICS",
           "warmup_structures", "undetermined_exponents"]

METRICS = ("val_loss", "val_forces_mae", "val_energy_mae")
MIN_WIDTHS = 2
MIN_DATA_SIZES = 3


@dataclass
class FamilyFit:
    """The fits of one family.

    Attributes
    ----------
    family : str; runs : names of the runs used
    nd : PowerLawFit of L(N, D); c : PowerLawFit of L(C), or None (with ``c_error`` saying why)
    a, b : (value, (low, high)), compute-optimal exponents N* ∝ C^a, D* ∝ C^b
    kappa : float, FLOPs per structure per parameter (median over runs); kappa_paper = kappa / 3
    num_parameters : dict run name -> N; flops_per_structure : dict run name -> FLOPs
    ranges : dict "N", "D", "C" -> (min, max) of the fitted points
    """

    family: str
    runs: list[str]
    nd: PowerLawFit
    c: PowerLawFit | None
    c_error: str | None
    a: tuple[float, tuple[float, float]]
    b: tuple[float, tuple[float, float]]
    kappa: float
    kappa_paper: float
    num_parameters: dict[str, int]
    flops_per_structure: dict[str, float]
    ranges: dict[str, tuple[float, float]]
    frontier: list[tuple[float, float]] = field(default_factory=list)
    undetermined: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "family": self.family,
            "runs": self.runs,
            "L(N,D)": self.nd.to_dict(),
            "L(C)": self.c.to_dict() if self.c else None,
            "L(C)_error": self.c_error,
            "a": {"value": self.a[0], "interval": list(self.a[1])},
            "b": {"value": self.b[0], "interval": list(self.b[1])},
            "kappa": self.kappa,
            "kappa_paper_convention": self.kappa_paper,
            "num_parameters": self.num_parameters,
            "flops_per_structure": self.flops_per_structure,
            "ranges": {k: list(v) for k, v in self.ranges.items()},
            "frontier": [list(p) for p in self.frontier],
            "undetermined": self.undetermined,
            "paper": paper_row(self.family),
        }


@dataclass
class GridFit:
    """Fits of every family of a grid, and what was left out.

    Attributes
    ----------
    metric : the fitted quantity (``val_loss`` by default)
    families : dict family -> FamilyFit
    excluded : list of {"run", "reason"} (diverged runs, runs with no evaluation yet)
    settings : the shared protocol of the fitted runs
    min_structures : evaluations with fewer structures seen were left out of the fits
    """

    metric: str
    families: dict[str, FamilyFit]
    excluded: list[dict[str, str]]
    settings: dict[str, Any]
    level: float
    bootstrap: int
    min_structures: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "level": self.level,
            "bootstrap": self.bootstrap,
            "min_structures": self.min_structures,
            "families": {k: v.to_dict() for k, v in self.families.items()},
            "excluded": self.excluded,
            "settings": self.settings,
        }


def compute_frontier(c: Sequence[float], loss: Sequence[float]) -> np.ndarray:
    """Indices of the compute frontier: points with a lower loss than every point of smaller compute.

    Parameters
    ----------
    c : (k,) compute of each point (FLOPs); loss : (k,) its loss

    Returns
    -------
    (m,) int indices, in increasing compute.
    """
    c, loss = np.asarray(c, dtype=float), np.asarray(loss, dtype=float)
    order = np.lexsort((loss, c))
    keep, best = [], np.inf
    for i in order:
        if loss[i] < best:
            keep.append(i)
            best = loss[i]
    return np.array(keep, dtype=int)


def _points(runs: list[RunRecord], metric: str, min_structures: int = 0) -> tuple[np.ndarray, ...]:
    n, d, c, y = [], [], [], []
    for run in runs:
        for row in run.curve:
            value = row.get(metric)
            if value is None or not np.isfinite(value) or value <= 0 or row["structures"] < min_structures:
                continue
            n.append(run.num_parameters)
            d.append(row["structures"])
            c.append(row.get("flops") or 0.0)
            y.append(value)
    return tuple(np.asarray(v, dtype=float) for v in (n, d, c, y))


def _too_few(family: str, widths: int, sizes: int, points: int, min_structures: int = 0) -> str | None:
    needs = []
    if widths < MIN_WIDTHS:
        needs.append(f"{MIN_WIDTHS - widths} more width{'s' if MIN_WIDTHS - widths > 1 else ''}")
    if sizes < MIN_DATA_SIZES:
        needs.append(f"{MIN_DATA_SIZES - sizes} more evaluation point{'s' if MIN_DATA_SIZES - sizes > 1 else ''} in D")
    if points < MIN_POINTS_ND:
        needs.append(f"{MIN_POINTS_ND - points} more evaluation{'s' if MIN_POINTS_ND - points > 1 else ''}")
    if not needs:
        return None
    return (
        f"too few points to fit {family}: it has {points} evaluations from {widths} width"
        f"{'s' if widths != 1 else ''} at {sizes} numbers of structures; it needs {', '.join(needs)} "
        "(finish or add runs, or evaluate more often with --evals-per-decade"
        + (f", or lower --min-structures from {min_structures:,}" if min_structures else "") + ")."
    )


def fit_family(
    family: str, runs: list[RunRecord], metric: str = "val_loss", *, bootstrap: int = 200, level: float = 0.95,
    seed: int = 0, min_structures: int = 0,
) -> FamilyFit:
    """Fit L(N, D) and L(C) to one family's runs (diverged runs already left out), on evaluations at D ≥ min_structures."""
    n, d, c, y = _points(runs, metric, min_structures)
    message = _too_few(family, len(set(n.tolist())), len(set(d.tolist())), y.size, min_structures)
    if message:
        raise ScalingError(message)
    nd = fit_nd(n, d, y, bootstrap=bootstrap, level=level, seed=seed)
    alpha, beta = nd.params["alpha"], nd.params["beta"]
    sa, sb = nd.samples["alpha"], nd.samples["beta"]
    a_samples, b_samples = sb / (sa + sb), sa / (sa + sb)
    front = compute_frontier(c, y) if np.all(c > 0) else np.zeros(0, dtype=int)
    cfit, c_error = None, None
    if front.size >= MIN_POINTS_C:
        cfit = fit_c(c[front], y[front], bootstrap=bootstrap, level=level, seed=seed)
    else:
        c_error = (
            f"too few points on {family}'s compute frontier to fit L(C): {front.size}; "
            f"{MIN_POINTS_C - front.size} more needed (more widths or evaluations)."
        )
    kappas = [r.flops["kappa"] for r in runs if r.flops and r.curve]
    kappa = float(np.median(kappas)) if kappas else float("nan")
    used = [r for r in runs if r.curve]
    return FamilyFit(
        family=family,
        runs=[r.name for r in used],
        nd=nd,
        c=cfit,
        c_error=c_error,
        a=(beta / (alpha + beta), nd.interval(a_samples)),
        b=(alpha / (alpha + beta), nd.interval(b_samples)),
        kappa=kappa,
        kappa_paper=kappa / 3.0,
        num_parameters={r.name: int(r.num_parameters) for r in used},
        flops_per_structure={r.name: float(r.flops_per_structure or 0.0) for r in used},
        ranges={"N": (float(n.min()), float(n.max())), "D": (float(d.min()), float(d.max())),
                "C": (float(c.min()), float(c.max()))},
        frontier=[(float(c[i]), float(y[i])) for i in front],
        undetermined=undetermined_exponents(nd.params, (float(n.min()), float(n.max())), (float(d.min()), float(d.max())))
        + (["gamma"] if cfit is not None and at_bound(cfit.params["gamma"]) else []),
    )


def _check_settings(runs: list[RunRecord]) -> dict[str, Any]:
    started = [r for r in runs if r.settings]
    if not started:
        return {}
    ref = started[0]
    for other in started[1:]:
        diff = compare_settings(ref.protocol, other.protocol)
        if diff:
            raise ScalingError(
                f"{ref.name} and {other.name} were made with different settings ({'; '.join(diff)}); "
                "fit them separately (--families) or rerun one with the other's settings."
            )
    return ref.protocol


def fit_grid(
    out: str | Path,
    *,
    metric: str = "val_loss",
    families: Sequence[str] | None = None,
    bootstrap: int = 200,
    level: float = 0.95,
    seed: int = 0,
    min_structures: int | None = None,
) -> GridFit:
    """Fit every family of a grid folder.

    Parameters
    ----------
    out : the grid folder (``grid.json`` and run folders)
    metric : ``val_loss`` (the training loss on held-out data, default), ``val_forces_mae`` or ``val_energy_mae``
    families : fit only these families (default: all with runs)
    bootstrap : resamples for the intervals; level : their coverage; seed : of the resampling
    min_structures : leave out evaluations at fewer structures seen (default: the end of the
        warm-up, ``warmup_steps × batch_size × devices`` of the grid's settings)

    Raises
    ------
    ScalingError : different settings, no runs, too few points, unknown metric.
    """
    if metric not in METRICS:
        raise ScalingError(f"unknown metric {metric!r}; use one of {', '.join(METRICS)}.")
    if not 0 < level < 1:
        raise ScalingError(f"level={level} must lie between 0 and 1 (e.g. 0.95).")
    runs = load_runs(out)
    if families:
        known = sorted({r.family for r in runs})
        missing = [f for f in families if f not in known]
        if missing:
            raise ScalingError(f"no runs of {', '.join(missing)} in {out}; its families are {', '.join(known)}.")
        runs = [r for r in runs if r.family in set(families)]
    settings = _check_settings(runs)
    if min_structures is None:
        min_structures = warmup_structures(settings)
    if min_structures < 0:
        raise ScalingError(f"min_structures={min_structures} must be zero or positive (structures seen).")
    excluded = []
    kept: dict[str, list[RunRecord]] = {}
    for run in runs:
        if run.state == "diverged":
            excluded.append({"run": run.name, "reason": f"diverged: {run.diverged_reason}"})
        elif not run.curve:
            if run.state != "left":
                excluded.append({"run": run.name, "reason": f"{run.state}, no evaluation yet"})
        else:
            kept.setdefault(run.family, []).append(run)
    if not kept:
        raise ScalingError(
            f"no run in {out} has an evaluation yet; run `forcefields scaling run` first "
            f"({len(runs)} planned, {len(excluded)} excluded)."
        )
    fits = {fam: fit_family(fam, rs, metric, bootstrap=bootstrap, level=level, seed=seed, min_structures=min_structures)
            for fam, rs in kept.items()}
    return GridFit(metric, fits, excluded, settings, level, bootstrap, int(min_structures))


def warmup_structures(settings: dict[str, Any]) -> int:
    """Structures seen by the end of the learning-rate warm-up of a grid's protocol (0 without one)."""
    steps = int(settings.get("warmup_steps") or 0)
    return steps * int(settings.get("batch_size") or 0) * int(settings.get("devices") or 1)


# A term that is below this share of the fitted loss where it matters most says nothing about its exponent.
MIN_TERM_SHARE = 0.05


def undetermined_exponents(params: dict[str, float], n_range: tuple[float, float],
                           d_range: tuple[float, float]) -> list[str]:
    """The exponents of a fitted L(N, D) that its points do not determine.

    An exponent is undetermined when it sits on a bound of the fit, or when its
    term is below :data:`MIN_TERM_SHARE` of the fitted loss even where it is
    largest: A·N^−α at the smallest N and the largest D (the end of the
    smallest model's run), B·D^−β at the first D of the largest N. Then the
    loss barely depends on that variable over the measured range, and any
    exponent fits.

    Parameters
    ----------
    params : E, A, alpha, B, beta; n_range, d_range : (min, max) of the fitted N and D
    """
    out = [k for k in ("alpha", "beta") if at_bound(params[k])]
    (n_lo, n_hi), (d_lo, d_hi) = n_range, d_range
    one = np.ones(1)
    n_share = params["A"] * n_lo ** -params["alpha"] / loss_nd(params, one * n_lo, one * d_hi)[0]
    d_share = params["B"] * d_lo ** -params["beta"] / loss_nd(params, one * n_hi, one * d_lo)[0]
    for key, share in (("alpha", n_share), ("beta", d_share)):
        if share < MIN_TERM_SHARE and key not in out:
            out.append(key)
    return out


def at_bound(value: float) -> bool:
    """Whether a fitted exponent sits on one of :data:`EXPONENT_BOUNDS` (the data did not determine it)."""
    low, high = EXPONENT_BOUNDS
    return value <= low * 1.01 or value >= high * 0.99


def _ci(value: float, interval: tuple[float, float], undetermined: bool = False) -> str:
    mark = " †" if undetermined else ""
    return f"{value:.2f} [{interval[0]:.2f}, {interval[1]:.2f}]{mark}"


def format_table(result: GridFit) -> str:
    """A Markdown table of the exponents with intervals, next to the paper's."""
    pct = int(round(100 * result.level))
    lines = [
        f"fitted on {result.metric} at D ≥ {result.min_structures:,} structures; {pct}% bootstrap intervals "
        f"({result.bootstrap} resamples)",
        "",
        "| family | runs | N | D | α | β | γ | a | b | κ (C/3ND) | paper α / β / γ / κ |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for fam, f in result.families.items():
        p = paper_row(fam)
        paper = " / ".join("–" if p is None or p.get(k) is None else f"{p[k]:g}" for k in ("alpha", "beta", "gamma", "kappa"))
        u = set(f.undetermined)
        gamma = _ci(f.c.params["gamma"], f.c.intervals["gamma"], "gamma" in u) if f.c else "–"
        ab = bool(u & {"alpha", "beta"})  # the allocation needs both exponents
        lines.append(
            f"| {fam} | {len(f.runs)} | {f.ranges['N'][0]:.3g}–{f.ranges['N'][1]:.3g} "
            f"| {f.ranges['D'][0]:.3g}–{f.ranges['D'][1]:.3g} "
            f"| {_ci(f.nd.params['alpha'], f.nd.intervals['alpha'], 'alpha' in u)} "
            f"| {_ci(f.nd.params['beta'], f.nd.intervals['beta'], 'beta' in u)} "
            f"| {gamma} | {_ci(*f.a, ab)} | {_ci(*f.b, ab)} | {f.kappa_paper:.3g} | {paper} |"
        )
    notes = [f"- {fam}: {f.c_error}" for fam, f in result.families.items() if f.c_error]
    if any(f.undetermined for f in result.families.values()):
        notes.append(f"- †: not determined by these points: on a bound of the fit {EXPONENT_BOUNDS}, or its term is "
                     f"below {MIN_TERM_SHARE:.0%} of the loss over the whole measured range (e.g. α when every width "
                     "reaches the same loss); a and b inherit it. Add widths or structures.")
    if result.excluded:
        notes += [f"- excluded {e['run']}: {e['reason']}" for e in result.excluded]
    return "\n".join(lines + ([""] + notes if notes else []))
