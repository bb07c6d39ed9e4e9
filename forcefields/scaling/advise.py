"""Which width, and how many structures, for a compute budget.

With C = κ·N·D (κ measured per family, FLOPs per structure per parameter),
minimising L(N, D) = E + A·N^−α + B·D^−β at fixed C gives

    N* = G · (C/κ)^a,   D* = (C/κ) / N*,   G = (αA / (βB))^(1/(α+β)),   a = β/(α+β).

:func:`advise` evaluates this for the best fit and for every bootstrap
refit (intervals), then picks the registered variant of the family whose
parameter count is nearest N* (in log), gives the structures that variant
can see within the budget and its predicted loss, and says when the answer
extrapolates beyond the measured widths or data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..models import create_model, list_models
from .errors import ScalingError
from .fit import FamilyFit, GridFit
from .powerlaw import EXPONENT_BOUNDS, loss_nd

__all__ = ["Advice", "advise", "optimal_allocation", "format_advice"]


def optimal_allocation(params: dict[str, np.ndarray | float], budget: float, kappa: float) -> tuple[Any, Any]:
    """(N*, D*) minimising L(N, D) under N·D = budget/κ; arrays broadcast (bootstrap samples)."""
    alpha, beta = np.asarray(params["alpha"]), np.asarray(params["beta"])
    A, B = np.asarray(params["A"]), np.asarray(params["B"])
    nd = budget / kappa
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        g = np.power(alpha * A / (beta * B), 1.0 / (alpha + beta))
        n_star = g * np.power(nd, beta / (alpha + beta))
    return n_star, nd / n_star


@dataclass
class Advice:
    """A recommendation for one family and budget.

    Attributes
    ----------
    family : str; budget_flops : float (FLOPs, training forward + backward)
    kappa : float, FLOPs per structure per parameter used
    n_star, d_star : (value, (low, high)), the compute-optimal parameters and structures
    variant : str, the registered variant nearest N*; variant_parameters : int
    structures : int, structures the variant sees within the budget (budget / flops per structure)
    predicted_loss : (value, (low, high)) at (variant parameters, structures)
    warnings : list of str (extrapolation, more structures than the data holds)
    """

    family: str
    budget_flops: float
    kappa: float
    n_star: tuple[float, tuple[float, float]]
    d_star: tuple[float, tuple[float, float]]
    variant: str
    variant_parameters: int
    structures: int
    predicted_loss: tuple[float, tuple[float, float]]
    metric: str
    warnings: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "family": self.family,
            "budget_flops": self.budget_flops,
            "kappa": self.kappa,
            "n_star": {"value": self.n_star[0], "interval": list(self.n_star[1])},
            "d_star": {"value": self.d_star[0], "interval": list(self.d_star[1])},
            "variant": self.variant,
            "variant_parameters": self.variant_parameters,
            "structures": self.structures,
            "predicted": {"metric": self.metric, "value": self.predicted_loss[0],
                          "interval": list(self.predicted_loss[1])},
            "warnings": self.warnings,
        }


def _variant_parameters(fit: FamilyFit, settings: dict[str, Any], elements: list[int] | None) -> dict[str, int]:
    """Parameter count of every registered variant of the family (measured runs reuse theirs)."""
    counts = dict(fit.num_parameters)
    overrides = dict(settings.get("model_args") or {})
    overrides["force_mode"] = settings.get("force_mode", "direct")
    if elements:
        overrides["elements"] = tuple(elements)
    prefix = fit.family + "-"
    for name in list_models():
        if name.startswith(prefix) and name[len(prefix):].isalpha() and name not in counts:
            counts[name] = int(create_model(name, seed=0, **overrides).num_parameters())
    return counts


def advise(
    result: GridFit, family: str, budget_flops: float, *, elements: list[int] | None = None,
    available_structures: int | None = None,
) -> Advice:
    """Recommend a width and a number of structures for ``budget_flops`` of training compute.

    Parameters
    ----------
    result : the grid's fit (:func:`~forcefields.scaling.fit.fit_grid`)
    family : a fitted family label, e.g. ``"egnn"``
    budget_flops : training compute (FLOPs of forward + backward, as counted by :mod:`.flops`)
    elements : the model's element table (for counting parameters of variants not run)
    available_structures : training structures the data holds (a warning when the advice needs more)
    """
    if family not in result.families:
        known = ", ".join(sorted(result.families)) or "none"
        raise ScalingError(f"no fit for family {family!r}; fitted families: {known}.")
    if not budget_flops > 0:
        raise ScalingError(f"--budget-flops {budget_flops} must be a positive number of FLOPs, e.g. 1e17.")
    fit = result.families[family]
    if not np.isfinite(fit.kappa) or fit.kappa <= 0:
        raise ScalingError(f"{family} has no FLOP measurement; rerun its runs so that flops.json is written.")
    params, samples = fit.nd.params, fit.nd.samples
    n_star, d_star = optimal_allocation(params, budget_flops, fit.kappa)
    n_boot, d_boot = optimal_allocation(samples, budget_flops, fit.kappa)
    counts = _variant_parameters(fit, result.settings, elements)
    variant = min(counts, key=lambda k: abs(np.log(counts[k]) - np.log(float(n_star))))
    n_variant = counts[variant]
    flops_per_structure = fit.flops_per_structure.get(variant) or fit.kappa * n_variant
    structures = int(budget_flops / flops_per_structure)
    if structures < 1:
        raise ScalingError(
            f"a budget of {budget_flops:.3g} FLOPs does not pay for one structure of {variant} "
            f"({flops_per_structure:.3g} FLOPs each); raise --budget-flops."
        )
    predicted = loss_nd(params, np.array([n_variant]), np.array([structures]))[0]
    predicted_boot = loss_nd(samples, np.full(samples["E"].shape, n_variant), np.full(samples["E"].shape, structures))
    warnings = []
    low, high = EXPONENT_BOUNDS
    loose = [k for k in ("alpha", "beta")
             if k in fit.undetermined or fit.nd.intervals[k][0] <= 2 * low or fit.nd.intervals[k][1] >= 0.98 * high]
    if loose:
        warnings.append(f"the data hardly constrain {' and '.join(loose)} (on or near the fit's bounds, or a term "
                        "too small to measure): add widths or structures before trusting this advice")
    (n_lo, n_hi), (d_lo, d_hi) = fit.ranges["N"], fit.ranges["D"]
    if n_variant > 3 * n_hi or n_variant < n_lo / 3:
        warnings.append(f"{variant} ({n_variant:,} parameters) lies outside the measured widths "
                        f"({n_lo:,.0f}–{n_hi:,.0f} parameters): the advice extrapolates")
    if structures > 3 * d_hi:
        warnings.append(f"{structures:,} structures is {structures / d_hi:.0f}× more than any run saw "
                        f"({d_hi:,.0f}): the predicted loss extrapolates")
    if available_structures is not None and structures > available_structures:
        warnings.append(f"the data holds {available_structures:,} training structures, fewer than the "
                        f"{structures:,} advised: generate more or train several epochs (no longer the fitted protocol)")
    return Advice(
        family=family,
        budget_flops=float(budget_flops),
        kappa=fit.kappa,
        n_star=(float(n_star), fit.nd.interval(n_boot)),
        d_star=(float(d_star), fit.nd.interval(d_boot)),
        variant=variant,
        variant_parameters=int(n_variant),
        structures=structures,
        predicted_loss=(float(predicted), fit.nd.interval(predicted_boot)),
        metric=result.metric,
        warnings=warnings,
    )


def format_advice(advice: Advice, level: float = 0.95) -> str:
    """A few lines for a person."""
    pct = int(round(100 * level))
    n, (nl, nh) = advice.n_star
    d, (dl, dh) = advice.d_star
    p, (pl, ph) = advice.predicted_loss
    lines = [
        f"{advice.family}, budget {advice.budget_flops:.3g} FLOPs (κ = {advice.kappa:.3g} FLOPs per structure per parameter):",
        f"  compute-optimal: N* = {n:.3g} parameters ({pct}%: {nl:.3g}–{nh:.3g}), "
        f"D* = {d:.3g} structures ({pct}%: {dl:.3g}–{dh:.3g})",
        f"  train {advice.variant} ({advice.variant_parameters:,} parameters) on {advice.structures:,} structures; "
        f"predicted {advice.metric} {p:.4g} ({pct}%: {pl:.4g}–{ph:.4g})",
    ]
    lines += [f"  note: {w}" for w in advice.warnings]
    return "\n".join(lines)
