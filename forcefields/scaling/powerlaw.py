"""Power-law fits by non-linear least squares, with bootstrap intervals.

Two laws (Ngo & Ravanbakhsh, arXiv 2510.09768; Hoffmann et al. 2022):

    L(N, D) = E + A·N^−α + B·D^−β          (parameters N, structures seen D)
    L(C)    = E + F·C^−γ                   (compute C in FLOPs)

fitted with :func:`scipy.optimize.least_squares` (trust-region reflective) on
the residuals of ``log L`` (relative errors, so small and large losses weigh
alike), every parameter as its logarithm (so all stay positive), the
exponents held within :data:`EXPONENT_BOUNDS` (an exponent the data do not
pin down, e.g. α when every width reaches the same loss, ends on a bound
instead of running off to infinity); several starting points, the best kept. Intervals: the percentile bootstrap over the
points (resampled with replacement, refitted from the best fit). Points of one
learning curve are correlated, so these intervals are, if anything, narrow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
from scipy.optimize import least_squares

__all__ = ["EXPONENT_BOUNDS", "PowerLawFit", "fit_nd", "fit_c", "loss_nd", "loss_c", "MIN_POINTS_ND", "MIN_POINTS_C"]

MIN_POINTS_ND = 6  # five parameters and at least one degree of freedom
MIN_POINTS_C = 4  # three parameters and at least one

# Exponents outside this range mean the data do not pin them down (see advise).
EXPONENT_BOUNDS = (1e-2, 4.0)


def loss_nd(params: dict[str, float], n: np.ndarray, d: np.ndarray) -> np.ndarray:
    """E + A·N^−α + B·D^−β for arrays ``n`` (parameters) and ``d`` (structures), same shape."""
    return params["E"] + params["A"] * np.power(n, -params["alpha"]) + params["B"] * np.power(d, -params["beta"])


def loss_c(params: dict[str, float], c: np.ndarray) -> np.ndarray:
    """E + F·C^−γ for an array ``c`` of FLOPs."""
    return params["E"] + params["F"] * np.power(c, -params["gamma"])


@dataclass
class PowerLawFit:
    """A fitted law with bootstrap intervals.

    Attributes
    ----------
    law : ``"L(N,D)"`` or ``"L(C)"``
    params : dict name -> best-fit value (E, A, alpha, B, beta; or E, F, gamma)
    intervals : dict name -> (low, high), the bootstrap percentile interval at ``level``
    samples : dict name -> (bootstrap,) array of refitted values (for derived quantities)
    level : float, e.g. 0.95
    num_points : int; rmse_log : float, root-mean-square residual of log L
    """

    law: str
    params: dict[str, float]
    intervals: dict[str, tuple[float, float]]
    samples: dict[str, np.ndarray] = field(repr=False)
    level: float
    num_points: int
    rmse_log: float

    def interval(self, values: np.ndarray) -> tuple[float, float]:
        """Percentile interval of bootstrap values of a derived quantity, at this fit's level."""
        values = np.asarray(values, dtype=float)
        values = values[np.isfinite(values)]
        if values.size == 0:
            return (float("nan"), float("nan"))
        tail = 100 * (1 - self.level) / 2
        lo, hi = np.percentile(values, [tail, 100 - tail])
        return (float(lo), float(hi))

    def to_dict(self) -> dict[str, Any]:
        return {
            "law": self.law,
            "params": dict(self.params),
            "intervals": {k: list(v) for k, v in self.intervals.items()},
            "level": self.level,
            "num_points": self.num_points,
            "bootstrap": int(next(iter(self.samples.values())).size) if self.samples else 0,
            "rmse_log": self.rmse_log,
        }


def _log_bounds(size: int, exponents: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Bounds on the log-parameters: the exponents' logs within EXPONENT_BOUNDS, the rest free."""
    low, high = np.full(size, -np.inf), np.full(size, np.inf)
    low[list(exponents)], high[list(exponents)] = np.log(EXPONENT_BOUNDS[0]), np.log(EXPONENT_BOUNDS[1])
    return low, high


def _solve(residual: Callable[[np.ndarray], np.ndarray], starts: Sequence[np.ndarray],
           bounds: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    # Levenberg–Marquardt (fast) first; only when its best fit leaves the bounds is the
    # bounded trust-region solver (several times slower) run.
    for method in ("lm", "trf"):
        best, best_cost = None, np.inf
        for x0 in starts:
            x0 = np.clip(x0, bounds[0], bounds[1])
            options = {"bounds": bounds} if method == "trf" else {}
            try:
                with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                    result = least_squares(residual, x0, method=method, max_nfev=400 * x0.size, **options)
            except (ValueError, FloatingPointError):
                continue
            if np.isfinite(result.cost) and result.cost < best_cost:
                best, best_cost = result.x, result.cost
        if best is not None and np.all(best >= bounds[0]) and np.all(best <= bounds[1]):
            return best
    if best is None:
        raise RuntimeError("the power-law fit did not converge from any starting point.")
    return best


def _bootstrap(
    fit_once: Callable[[np.ndarray, np.ndarray], np.ndarray],
    best: np.ndarray,
    size: int,
    reps: int,
    seed: int,
) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(reps):
        idx = rng.integers(0, size, size)
        try:
            out.append(fit_once(idx, best))
        except RuntimeError:
            continue
    return np.array(out) if out else np.zeros((0, best.size))


def fit_nd(
    n: Sequence[float],
    d: Sequence[float],
    loss: Sequence[float],
    *,
    bootstrap: int = 200,
    level: float = 0.95,
    seed: int = 0,
) -> PowerLawFit:
    """Fit L(N, D) = E + A·N^−α + B·D^−β.

    Parameters
    ----------
    n : (k,) parameter counts; d : (k,) structures seen; loss : (k,) positive losses
    bootstrap : refits on resampled points (0: no intervals)
    level : interval coverage
    seed : seed of the resampling

    Returns
    -------
    PowerLawFit with params ``E, A, alpha, B, beta``.
    """
    n, d, y = (np.asarray(v, dtype=float) for v in (n, d, loss))
    if not (n.shape == d.shape == y.shape) or y.ndim != 1:
        raise ValueError("n, d and loss must be 1-d arrays of the same length.")
    if np.any(y <= 0) or np.any(n <= 0) or np.any(d <= 0) or not np.all(np.isfinite(y)):
        raise ValueError("n, d and loss must be positive and finite for a power-law fit.")
    ln, ld, ly = np.log(n), np.log(d), np.log(y)

    # x = (log E, log A, log alpha, log B, log beta)
    def model(x: np.ndarray, idx: np.ndarray) -> np.ndarray:
        terms = np.stack([np.full(idx.size, x[0]), x[1] - np.exp(x[2]) * ln[idx], x[3] - np.exp(x[4]) * ld[idx]])
        return np.logaddexp.reduce(terms, axis=0)

    def residual_for(idx: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
        return lambda x: model(x, idx) - ly[idx]

    every = np.arange(y.size)
    starts = []
    scale = float(np.log(np.median(y)))
    for frac in (0.9, 0.5, 0.1):
        for a in (0.2, 0.5, 1.0):
            for b in (0.2, 0.5, 1.0):
                starts.append(np.array([np.log(frac) + float(ly.min()), scale + a * np.median(ln), np.log(a),
                                        scale + b * np.median(ld), np.log(b)]))
    bounds = _log_bounds(5, (2, 4))
    best = _solve(residual_for(every), starts, bounds)

    def fit_once(idx: np.ndarray, x0: np.ndarray) -> np.ndarray:
        return _solve(residual_for(idx), [x0], bounds)

    boot = _bootstrap(fit_once, best, y.size, bootstrap, seed)
    names = ("E", "A", "alpha", "B", "beta")

    with np.errstate(over="ignore"):
        values, samples = np.exp(best), (np.exp(boot) if boot.size else np.zeros((0, 5)))
    rmse = float(np.sqrt(np.mean(residual_for(every)(best) ** 2)))
    return _make_fit("L(N,D)", names, values, samples, level, y.size, rmse)


def fit_c(
    c: Sequence[float],
    loss: Sequence[float],
    *,
    bootstrap: int = 200,
    level: float = 0.95,
    seed: int = 0,
) -> PowerLawFit:
    """Fit L(C) = E + F·C^−γ (``c`` in FLOPs, ``loss`` positive); params ``E, F, gamma``."""
    c, y = np.asarray(c, dtype=float), np.asarray(loss, dtype=float)
    if c.shape != y.shape or y.ndim != 1:
        raise ValueError("c and loss must be 1-d arrays of the same length.")
    if np.any(y <= 0) or np.any(c <= 0) or not np.all(np.isfinite(y)):
        raise ValueError("c and loss must be positive and finite for a power-law fit.")
    lc, ly = np.log(c), np.log(y)

    # x = (log E, log F, log gamma)
    def residual_for(idx: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
        return lambda x: np.logaddexp(x[0], x[1] - np.exp(x[2]) * lc[idx]) - ly[idx]

    every = np.arange(y.size)
    scale = float(np.log(np.median(y)))
    starts = [np.array([np.log(frac) + float(ly.min()), scale + g * np.median(lc), np.log(g)])
              for frac in (0.9, 0.5, 0.1) for g in (0.1, 0.3, 0.8)]
    bounds = _log_bounds(3, (2,))
    best = _solve(residual_for(every), starts, bounds)
    boot = _bootstrap(lambda idx, x0: _solve(residual_for(idx), [x0], bounds), best, y.size, bootstrap, seed)
    with np.errstate(over="ignore"):
        values, samples = np.exp(best), (np.exp(boot) if boot.size else np.zeros((0, 3)))
    rmse = float(np.sqrt(np.mean(residual_for(every)(best) ** 2)))
    return _make_fit("L(C)", ("E", "F", "gamma"), values, samples, level, y.size, rmse)


def _make_fit(law, names, values, samples, level, size, rmse) -> PowerLawFit:
    params = {k: float(v) for k, v in zip(names, values)}
    sample_dict = {k: samples[:, i] for i, k in enumerate(names)}
    fit = PowerLawFit(law, params, {}, sample_dict, level, int(size), rmse)
    fit.intervals = {k: fit.interval(sample_dict[k]) for k in names}
    return fit
