"""The fitter recovers known exponents from noisy synthetic power-law losses, within its intervals."""

from __future__ import annotations

import numpy as np
import pytest

from forcefields.scaling import compute_frontier, fit_c, fit_nd
from forcefields.scaling.advise import optimal_allocation
from forcefields.scaling.powerlaw import loss_c, loss_nd

TRUE_ND = {"E": 0.05, "A": 40.0, "alpha": 0.4, "B": 12.0, "beta": 0.3}


def _synthetic_nd(noise: float, seed: int):
    rng = np.random.default_rng(seed)
    n = np.repeat([2e4, 8e4, 3e5, 1.2e6], 12)
    d = np.tile(np.geomspace(1e2, 2e5, 12), 4)
    clean = loss_nd(TRUE_ND, n, d)
    return n, d, clean * np.exp(rng.normal(scale=noise, size=clean.shape))


@pytest.mark.parametrize("seed", [0, 1])
def test_fit_nd_recovers_exponents_within_intervals(seed):
    n, d, y = _synthetic_nd(noise=0.02, seed=seed)
    fit = fit_nd(n, d, y, bootstrap=100, seed=seed)
    for name in ("alpha", "beta"):
        lo, hi = fit.intervals[name]
        assert lo <= TRUE_ND[name] <= hi, (name, fit.params[name], (lo, hi))
        assert hi - lo < 0.3, f"interval of {name} too wide to mean anything: {(lo, hi)}"
        assert abs(fit.params[name] - TRUE_ND[name]) < 0.1
    assert fit.rmse_log < 0.05
    # the compute-optimal exponents follow from the fitted ones
    a = fit.params["beta"] / (fit.params["alpha"] + fit.params["beta"])
    assert abs(a - 0.3 / 0.7) < 0.1


def test_fit_nd_without_noise_is_exact():
    n, d, _ = _synthetic_nd(noise=0.0, seed=0)
    fit = fit_nd(n, d, loss_nd(TRUE_ND, n, d), bootstrap=0)
    for name, value in TRUE_ND.items():
        assert fit.params[name] == pytest.approx(value, rel=1e-3)


def test_fit_c_recovers_gamma():
    rng = np.random.default_rng(3)
    truth = {"E": 0.02, "F": 300.0, "gamma": 0.25}
    c = np.geomspace(1e9, 1e15, 20)
    y = loss_c(truth, c) * np.exp(rng.normal(scale=0.02, size=c.size))
    fit = fit_c(c, y, bootstrap=100)
    lo, hi = fit.intervals["gamma"]
    assert lo <= truth["gamma"] <= hi and hi - lo < 0.2


def test_compute_frontier_keeps_only_improving_points():
    c = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    y = np.array([5.0, 6.0, 4.0, 4.5, 1.0])
    assert compute_frontier(c, y).tolist() == [0, 2, 4]


def test_optimal_allocation_spends_the_budget_at_the_minimum():
    budget, kappa = 1e15, 30.0
    n_star, d_star = optimal_allocation(TRUE_ND, budget, kappa)
    assert n_star * d_star * kappa == pytest.approx(budget)
    # any other split of the same budget gives a higher loss
    for factor in (0.5, 2.0):
        n = n_star * factor
        other = loss_nd(TRUE_ND, np.array([n]), np.array([budget / kappa / n]))[0]
        best = loss_nd(TRUE_ND, np.array([n_star]), np.array([d_star]))[0]
        assert other > best


def test_fit_refuses_non_positive_losses():
    with pytest.raises(ValueError, match="positive and finite"):
        fit_nd([1e4, 1e5], [10, 100], [0.1, -0.2])


def test_an_exponent_the_data_do_not_determine_ends_on_a_bound():
    from forcefields.scaling.fit import at_bound
    from forcefields.scaling.powerlaw import EXPONENT_BOUNDS

    # every width reaches the same loss: nothing pins alpha down
    n = np.repeat([2e4, 8e4, 3.2e5, 1.3e6], 8)
    d = np.tile(np.geomspace(1e3, 1e5, 8), 4)
    y = 0.05 + 8.0 * d ** -0.4
    fit = fit_nd(n, d, y, bootstrap=0)
    assert EXPONENT_BOUNDS[0] <= fit.params["alpha"] <= EXPONENT_BOUNDS[1]
    assert np.isfinite(fit.params["A"])
    assert fit.params["beta"] == pytest.approx(0.4, rel=0.05)
    # and is marked as undetermined, or its term is negligible
    assert at_bound(fit.params["alpha"]) or fit.params["A"] * n.min() ** -fit.params["alpha"] < 1e-3


def test_a_term_too_small_to_measure_marks_its_exponent_undetermined():
    from forcefields.scaling.fit import undetermined_exponents

    params = {"E": 0.0, "A": 1e-20, "alpha": 0.5, "B": 40.0, "beta": 0.45}
    assert undetermined_exponents(params, (2e4, 1.5e6), (8e2, 1e5)) == ["alpha"]
    params["A"] = 30.0
    assert undetermined_exponents(params, (2e4, 1.5e6), (8e2, 1e5)) == []
