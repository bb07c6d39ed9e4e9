"""A miniature grid end to end on CPU: two families × two widths, a few hundred structures.

One run is killed part-way and resumed; the grid then gives a fit, plots,
advice, a status table and a SLURM script, through the Python API and the
command line.
"""

from __future__ import annotations

import json
import shutil

import lightning as L
import pytest

from forcefields.cli import main
from forcefields.scaling import ScalingSettings, fit_grid, plan_grid, prepare_grid, run_grid, run_one
from forcefields.scaling.curve import read_curve
from forcefields.scaling.results import load_runs, run_state

KILL_AT_STEP = 12  # inside the fourth chunk (chunks end at steps 4, 6, 10, 15, 24, 38)


class _Killed(RuntimeError):
    pass


class _KillAt(L.Callback):
    """Stands in for a killed job: fails after a given optimiser step."""

    def __init__(self, step: int):
        self.step = step

    def on_train_batch_end(self, trainer, *args):
        if trainer.global_step >= self.step:
            raise _Killed(f"killed at step {trainer.global_step}")


def _settings(data):
    return ScalingSettings(data=[str(data)], split={"train": 320, "val": 40, "test": 40, "seed": 0},
                           max_structures=300, batch_size=8, val_structures=40, warmup_steps=5,
                           progress_bar=False, accelerator="cpu")


@pytest.fixture(scope="module")
def grid(tiny_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("grid")
    settings = _settings(tiny_data)
    runs = plan_grid(["mpnn", "egnn"], ["xs", "s"])
    prepare_grid(out, settings, runs)
    killed = runs[0]
    with pytest.raises(_Killed):
        run_one(killed, settings, out, callbacks=[_KillAt(KILL_AT_STEP)], verbose=False)
    after_kill = {
        "state": run_state(out / killed.name),
        "curve": [r["structures"] for r in read_curve(out / killed.name / "curve.jsonl")],
        "checkpoint": (out / killed.name / "checkpoints" / "last.ckpt").is_file(),
    }
    states = run_grid(out, settings, runs, verbose=False)
    return {"out": out, "settings": settings, "runs": runs, "after_kill": after_kill, "states": states}


def test_killed_run_resumes_from_its_checkpoint(grid, tiny_data, tmp_path):
    out, settings = grid["out"], grid["settings"]
    points = settings.eval_points()
    assert grid["after_kill"] == {"state": "failed", "curve": points[:3], "checkpoint": True}
    assert grid["states"] == {"mpnn-xs": "complete", "mpnn-s": "complete", "egnn-xs": "complete", "egnn-s": "complete"}
    lines = (out / "mpnn-xs" / "curve.jsonl").read_text().splitlines()
    # resumed, not restarted: the evaluations before the kill were not repeated
    assert [json.loads(x)["structures"] for x in lines] == points
    # and resuming lost nothing: the same numbers as a run never killed
    run_one(grid["runs"][0], settings, tmp_path, verbose=False)
    fresh = read_curve(tmp_path / "mpnn-xs" / "curve.jsonl")
    resumed = read_curve(out / "mpnn-xs" / "curve.jsonl")
    assert [r["step"] for r in resumed] == [r["step"] for r in fresh]
    assert [r["val_loss"] for r in resumed] == pytest.approx([r["val_loss"] for r in fresh], rel=1e-5)


def test_runs_record_their_protocol_and_compute(grid):
    for run in load_runs(grid["out"]):
        assert run.state == "complete"
        settings = json.loads((run.folder / "settings.json").read_text())
        assert settings["grid"]["optimizer"] == "schedulefree" and settings["grid"]["loss"] == "l1norm"
        assert settings["grid"]["force_mode"] == "direct" and settings["run"]["schedule"] == "constant"
        assert settings["run"]["evaluation_weights"] == "schedule-free averaged x"
        from forcefields.models import get_variant

        assert settings["run"]["lr"] == pytest.approx(get_variant(run.name).lr)  # the registry's transfer
        assert [r["structures"] for r in run.curve] == grid["settings"].eval_points()
        assert all(r["flops"] == pytest.approx(run.flops_per_structure * r["structures"]) for r in run.curve)
        assert run.summary["kappa"] == pytest.approx(run.flops_per_structure / run.num_parameters)
        assert run.summary["train_seconds"] > 0


def test_complete_runs_are_skipped(grid):
    out = grid["out"]
    before = {r.name: (r.folder / "curve.jsonl").stat().st_mtime_ns for r in load_runs(out)}
    assert set(run_grid(out, grid["settings"], grid["runs"], verbose=False).values()) == {"complete"}
    assert before == {r.name: (r.folder / "curve.jsonl").stat().st_mtime_ns for r in load_runs(out)}


def test_fit_plots_advice_status_and_export(grid, tmp_path, capsys):
    out = grid["out"]
    result = fit_grid(out, bootstrap=20)
    assert set(result.families) == {"mpnn", "egnn"}
    for fam in result.families.values():
        assert 0 < fam.nd.params["alpha"] and 0 < fam.nd.params["beta"]
        after_warmup = [p for p in grid["settings"].eval_points() if p >= result.min_structures]
        assert result.min_structures == grid["settings"].warmup_steps * grid["settings"].batch_size
        assert fam.nd.num_points == 2 * len(after_warmup)
    assert main(["scaling", "fit", str(out), "--bootstrap", "20"]) == 0
    assert "| mpnn |" in capsys.readouterr().out and (out / "fit.json").is_file()
    assert main(["scaling", "plot", str(out), "--bootstrap", "20"]) == 0
    for name in ("loss_vs_N", "loss_vs_D", "compute_frontier"):
        png = out / "plots" / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    capsys.readouterr()
    assert main(["scaling", "advise", str(out), "--budget-flops", "1e12", "--family", "egnn",
                 "--bootstrap", "20", "--json"]) == 0
    advice = json.loads(capsys.readouterr().out)
    assert advice["variant"].startswith("egnn-") and advice["structures"] > 0
    assert main(["scaling", "status", str(out), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["totals"]["complete"] == 4 and status["totals"]["flops"] > 0
    jobs = tmp_path / "jobs.sh"
    assert main(["scaling", "export", str(out), "--slurm", str(jobs), "--sbatch", "gres=gpu:1",
                 "--sbatch=--time=01:00:00"]) == 0
    script = jobs.read_text()
    assert "#SBATCH --array=0-3" in script and "#SBATCH --gres=gpu:1" in script and "#SBATCH --time=01:00:00" in script
    assert script.count("scaling run --out") == 4 and "--only egnn-s" in script


def test_cli_run_reuses_the_grid_settings(grid, tmp_path, capsys):
    out = tmp_path / "copy"
    shutil.copytree(grid["out"], out)
    assert main(["scaling", "run", "--out", str(out), "--only", "egnn-s"]) == 0
    assert "egnn-s: complete" in capsys.readouterr().out
    assert main(["scaling", "run", "--out", str(out), "--batch-size", "4"]) == 1
    assert "different settings (batch_size: 8 vs 4)" in capsys.readouterr().err
