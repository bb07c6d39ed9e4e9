"""Fits of whole grids (from fabricated run folders) and every bad input's one sentence."""

from __future__ import annotations

import json

import pytest
from scaling_helpers import fake_grid

from forcefields.cli import main
from forcefields.scaling import ScalingError, ScalingSettings, advise, fit_grid, plan_grid, prepare_grid
from forcefields.scaling.results import write_json

TRUTH = {"mpnn": {"E": 0.02, "A": 30.0, "alpha": 0.3, "B": 8.0, "beta": 0.35},
         "egnn": {"E": 0.01, "A": 80.0, "alpha": 0.5, "B": 20.0, "beta": 0.5}}


def test_grid_fit_recovers_each_familys_exponents(tmp_path):
    out = fake_grid(tmp_path / "grid", TRUTH)
    result = fit_grid(out, bootstrap=100)
    assert set(result.families) == {"mpnn", "egnn"}
    for family, truth in TRUTH.items():
        fit = result.families[family]
        for name in ("alpha", "beta"):
            lo, hi = fit.nd.intervals[name]
            assert lo <= truth[name] <= hi, (family, name, fit.nd.params[name], (lo, hi))
        assert fit.kappa == pytest.approx(30.0)
        assert fit.c is not None and fit.c.params["gamma"] > 0
    # ordered as generated: egnn's exponents larger than mpnn's
    assert result.families["egnn"].nd.params["alpha"] > result.families["mpnn"].nd.params["alpha"]
    advice = advise(result, "egnn", 1e17)
    assert advice.variant.startswith("egnn-")
    lo, hi = advice.n_star[1]
    assert lo <= advice.n_star[0] <= hi


def test_runs_with_different_settings_are_refused_naming_the_difference(tmp_path):
    out = fake_grid(tmp_path / "grid", TRUTH)
    path = out / "egnn-m" / "settings.json"
    data = json.loads(path.read_text())
    data["grid"]["batch_size"] = 16
    write_json(path, data)
    with pytest.raises(ScalingError, match=r"different settings \(batch_size: 32 vs 16\)"):
        fit_grid(out, bootstrap=10)
    # one family alone is still comparable with itself
    assert "mpnn" in fit_grid(out, families=["mpnn"], bootstrap=10).families


def test_diverged_runs_are_excluded_and_listed(tmp_path):
    out = fake_grid(tmp_path / "grid", TRUTH)
    write_json(out / "mpnn-l" / "summary.json", {"status": "diverged", "reason": "non-finite training loss"})
    result = fit_grid(out, bootstrap=10)
    assert result.excluded == [{"run": "mpnn-l", "reason": "diverged: non-finite training loss"}]
    assert "mpnn-l" not in result.families["mpnn"].runs


def test_too_few_points_names_how_many_more_are_needed(tmp_path):
    out = fake_grid(tmp_path / "grid", {"mpnn": TRUTH["mpnn"]}, widths=("s",))
    with pytest.raises(ScalingError, match=r"too few points to fit mpnn: .* 1 width .*; it needs 1 more width"):
        fit_grid(out, bootstrap=10)


def test_bad_grid_inputs_each_give_their_sentence(tmp_path):
    with pytest.raises(ScalingError, match="unknown family 'mlp'"):
        plan_grid(["mlp"], ["s"])
    with pytest.raises(ScalingError, match="unknown width 'xxl'"):
        plan_grid(["mpnn"], ["xxl"])
    with pytest.raises(ScalingError, match="no data given"):
        ScalingSettings().validate()
    with pytest.raises(ScalingError, match="unknown scaling setting 'batchsize' \\(did you mean 'batch_size'\\?\\)"):
        ScalingSettings.from_dict({"batchsize": 3})
    settings = ScalingSettings(data=["x.extxyz"], max_structures=1000)
    prepare_grid(tmp_path / "g", settings, plan_grid(["mpnn"], ["xs"]))
    with pytest.raises(ScalingError, match=r"different settings \(max_structures: 1000 vs 2000\)"):
        prepare_grid(tmp_path / "g", ScalingSettings(data=["x.extxyz"], max_structures=2000), [])
    with pytest.raises(ScalingError, match="holds no grid.json"):
        fit_grid(tmp_path)
    out = fake_grid(tmp_path / "grid", TRUTH)
    result = fit_grid(out, bootstrap=10)
    with pytest.raises(ScalingError, match="no fit for family 'esen-l2'"):
        advise(result, "esen-l2", 1e17)
    with pytest.raises(ScalingError, match="must be a positive number of FLOPs"):
        advise(result, "egnn", -1.0)


def test_cli_prints_one_sentence_for_a_mistake(tmp_path, capsys):
    assert main(["scaling", "fit", str(tmp_path / "missing")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "does not exist" in err


def test_too_little_data_for_the_pass_is_one_sentence(tmp_path, tiny_data):
    from forcefields.scaling import run_grid

    settings = ScalingSettings(data=[str(tiny_data)], split={"train": 100, "val": 20, "test": 0},
                               max_structures=500, batch_size=8, progress_bar=False, accelerator="cpu")
    with pytest.raises(ScalingError, match="holds 100 structures, fewer than the 500"):
        run_grid(tmp_path / "g", settings, plan_grid(["mpnn"], ["xs"]), verbose=False)


def test_locks_of_live_processes_are_respected_and_dead_ones_taken_over(tmp_path):
    import os
    import socket
    import subprocess
    import sys

    from forcefields.scaling import run_one
    from forcefields.scaling.grid import RunSpec
    from forcefields.scaling.results import run_state

    folder = tmp_path / "mpnn-xs"
    write_json(folder / "settings.json", {"grid": {}, "run": {}})
    write_json(folder / "running.json", {"host": socket.gethostname(), "pid": os.getpid(), "heartbeat": 0})
    assert run_state(folder) == "running"
    settings = ScalingSettings(data=["unused.extxyz"], max_structures=100, batch_size=8)
    assert run_one(RunSpec("mpnn", "xs"), settings, tmp_path, verbose=False) == "running"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    write_json(folder / "running.json", {"host": socket.gethostname(), "pid": int(dead.stdout), "heartbeat": 0})
    assert run_state(folder) == "partial"  # killed: it resumes on the next run


def test_fit_leaves_out_points_before_the_warmup_end(tmp_path):
    from forcefields.scaling import ScalingSettings, fit_grid

    settings = ScalingSettings(data=["fake:data"], max_structures=100_000, warmup_steps=10, batch_size=32)
    out = fake_grid(tmp_path / "grid", TRUTH, settings=settings)
    default = fit_grid(out, bootstrap=0)
    assert default.min_structures == 320
    explicit = fit_grid(out, bootstrap=0, min_structures=5000)
    fam = next(iter(TRUTH))
    assert explicit.families[fam].ranges["D"][0] >= 5000 > default.families[fam].ranges["D"][0]
    assert explicit.to_dict()["min_structures"] == 5000
    with pytest.raises(ScalingError, match="lower --min-structures from 90,000"):
        fit_grid(out, bootstrap=0, min_structures=90_000)
