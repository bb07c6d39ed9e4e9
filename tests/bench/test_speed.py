"""The speed harness end to end on the CPU, with tiny settings."""

from __future__ import annotations

import json

import pytest
import torch

from forcefields.bench import speed as speed_mod
from forcefields.bench import units as units_mod
from forcefields.bench.schema import validate
from forcefields.bench.store import load_results


def test_speed_runs_end_to_end(tiny_settings):
    result = speed_mod.run_speed(tiny_settings())
    path = result["path"]
    assert path.name == "speed-float32.json" and path.parent.name.startswith("cpu-")
    doc = load_results(path)
    assert doc["complete"] is True and not path.with_name("speed-float32.partial.json").exists()
    assert path.with_suffix(".csv").read_text().count("\n") == len(doc["records"]) + 1

    machine = doc["runs"][0]["machine"]
    assert machine["torch_num_threads"] == torch.get_num_threads()
    assert machine["versions"]["torch"] == torch.__version__ and machine["cpu_model"]

    recs = doc["records"]
    assert all(r["status"] == "ok" for r in recs), [r["reason"] for r in recs if r["status"] != "ok"]
    by_regime = {}
    for r in recs:
        by_regime.setdefault(r["regime"], []).append(r)
    assert [r["n_atoms"] for r in by_regime["md"]] == [9]
    assert [r["n_molecules"] for r in by_regime["batch"]] == [1, 2]
    assert [r["n_atoms"] for r in by_regime["batch"]] == [21, 42]
    assert [r["n_atoms"] for r in by_regime["large"]] == [30, 60]
    for r in recs:
        assert r["atoms_per_s"] == pytest.approx(r["n_atoms"] / r["median_s"])
        assert r["us_per_atom"] == pytest.approx(1e6 * r["median_s"] / r["n_atoms"])
        assert r["repeats"] >= 1 and r["n_edges"] > 0
        assert r["params"] > 0 and r["compile"] is False and r["compile_status"] == "off"


def test_time_cap_skips_larger_sizes(tiny_settings):
    result = speed_mod.run_speed(tiny_settings(regimes=("large",), large_sizes=(30, 60, 3000), max_call_s=1e-9))
    recs = {r["n_atoms"]: r for r in result["records"]}
    assert recs[30]["status"] == "ok"
    assert recs[60]["status"] == recs[3000]["status"] == "skipped"
    assert "time cap" in recs[3000]["reason"]
    validate(load_results(result["path"]))


def test_compile_failure_is_recorded_not_raised(tiny_settings, monkeypatch):
    def broken_compile(model, dynamic=None, **options):
        def call(*args, **kwargs):
            raise RuntimeError("InductorError: no working C++ compiler found\nlong traceback")

        return call

    monkeypatch.setattr(torch, "compile", broken_compile)
    result = speed_mod.run_speed(tiny_settings(compile=True, regimes=("md", "batch")))
    plain = [r for r in result["records"] if not r["compile"]]
    compiled = [r for r in result["records"] if r["compile"]]
    assert plain and all(r["status"] == "ok" for r in plain)
    assert len(compiled) == len(plain)
    for r in compiled:
        assert r["status"] == "failed" and r["compile_status"] == "failed"
        assert r["reason"] == "torch.compile failed: RuntimeError: InductorError: no working C++ compiler found"


def test_interrupted_run_leaves_complete_results_alone(tiny_settings, monkeypatch):
    first = speed_mod.run_speed(tiny_settings(regimes=("md",)))
    before = first["path"].read_bytes()

    real = speed_mod.bench_model
    calls = []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(speed_mod, "bench_model", flaky)
    with pytest.raises(KeyboardInterrupt):
        speed_mod.run_speed(tiny_settings(regimes=("md",), compile=True))
    assert first["path"].read_bytes() == before
    partial = json.loads(first["path"].with_name("speed-float32.partial.json").read_text())
    assert partial["complete"] is False and len(partial["records"]) == 1
    validate(partial)


def test_unknown_model_fails_before_timing(tiny_settings):
    with pytest.raises(KeyError, match="unknown model 'mpnn-zz'"):
        speed_mod.run_speed(tiny_settings(models="mpnn-xs,mpnn-zz"))


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_gpu(tiny_settings):
    with pytest.raises(ValueError, match="^CUDA was asked for but torch sees no GPU; use --device cpu$"):
        speed_mod.run_speed(tiny_settings(device="cuda"))
    with pytest.warns(UserWarning, match="fallback-cpu"):
        result = speed_mod.run_speed(tiny_settings(device="cuda", fallback_cpu=True, regimes=("md",)))
    assert result["device_label"].startswith("cpu-")


def test_bad_regime_and_peer_without_python(tiny_settings):
    with pytest.raises(ValueError, match="regimes"):
        speed_mod.run_speed(tiny_settings(regimes=("md", "huge")))
    with pytest.raises(ValueError, match="--peer-python"):
        speed_mod.run_speed(tiny_settings(peer="mace"))


def test_train_regime_times_training_steps_and_reports_them(tiny_settings, tmp_path):
    from forcefields.bench.report import build_report

    result = speed_mod.run_speed(tiny_settings(regimes=("md", "train"), train_batch_sizes=(1, 2)))
    doc = load_results(result["path"])
    validate(doc)
    train = [r for r in doc["records"] if r["regime"] == "train"]
    assert [r["n_molecules"] for r in train] == [1, 2] and [r["n_atoms"] for r in train] == [21, 42]
    assert all(r["status"] == "ok" and r["median_s"] > 0 and r["repeats"] >= 1 for r in train)
    readme = tmp_path / "README.md"
    readme.write_text("<!-- bench:start -->\n<!-- bench:end -->\n")
    report = build_report(result["path"].parents[1], readme=readme)
    assert "### Training step" in report["report"].read_text()
    assert [p.name for p in report["plots"] if p.name == "training.png"] == ["training.png"]
    assert "training ms/structure (batch 16)" in readme.read_text()  # column present; batch 16 not timed: "–"


def test_compiled_units_record_their_training_points_as_skipped(tiny_settings):
    result = speed_mod.run_speed(tiny_settings(regimes=("train",), train_batch_sizes=(1,), compile=True))
    recs = {r["compile"]: r for r in result["records"]}
    assert recs[False]["status"] == "ok"
    assert recs[True]["status"] == "skipped" and "second derivative" in recs[True]["reason"]


def test_training_step_trains_and_leaves_the_model_as_it_was():
    from forcefields.bench.systems import batch_systems, to_batch
    from forcefields.bench.train_step import training_step
    from forcefields.models import create_model

    torch.manual_seed(0)
    model = create_model("egnn-xs", hidden=8, num_layers=1).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    modes, grads = [], []
    model.register_forward_pre_hook(lambda module, args: modes.append(module.training))
    weight = next(model.parameters())
    weight.register_hook(lambda g: grads.append(float(g.abs().sum())))
    step = training_step(model, to_batch(batch_systems(2)))
    losses = [step(), step()]
    assert modes == [True, True] and model.training is False
    assert len(grads) == 2 and grads[0] > 0  # the loss reached the parameters
    assert losses[0] == pytest.approx(losses[1]) and losses[0] > 0
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, before[key], rtol=0, atol=0)
    assert all(p.grad is None for p in model.parameters())


def test_side_by_side_times_every_model_at_every_point_and_saves_each_point(tiny_settings, monkeypatch):
    saved = []
    real_add = speed_mod.ResultWriter.add

    def add(self, records):
        saved.append([(r["model"], r["regime"], r["n_atoms"]) for r in records])
        real_add(self, records)

    monkeypatch.setattr(speed_mod.ResultWriter, "add", add)
    settings = tiny_settings(models="mpnn-xs,egnn-xs", regimes=("md", "train"), train_batch_sizes=(1,), side_by_side=True)
    result = speed_mod.run_speed(settings)
    doc = load_results(result["path"])
    validate(doc)
    recs = doc["records"]
    assert all(r["status"] == "ok" and r["repeats"] >= 1 and r["peak_mem_mb"] is not None for r in recs), recs
    assert sorted((r["model"], r["regime"]) for r in recs) == [
        ("egnn-xs", "md"), ("egnn-xs", "train"), ("mpnn-xs", "md"), ("mpnn-xs", "train")]
    # One save per point, each holding both models' records of that point.
    assert saved == [[("mpnn-xs", "md", 9), ("egnn-xs", "md", 9)], [("mpnn-xs", "train", 21), ("egnn-xs", "train", 21)]]
    assert doc["runs"][-1]["settings"]["side_by_side"] is True


def _wrap_calls_of(model: str, wrap, monkeypatch) -> None:
    """Make every call the harness times for ``model`` go through ``wrap(call)``."""
    real_prepare = units_mod.ModelUnit.prepare

    def prepare(self, p):
        call, n_edges = real_prepare(self, p)
        return (wrap(call) if self.name == model else call), n_edges

    monkeypatch.setattr(units_mod.ModelUnit, "prepare", prepare)


def test_side_by_side_keeps_one_models_failure_to_itself(tiny_settings, monkeypatch):
    def flaky(call):
        count = []

        def run():
            count.append(1)
            if len(count) > 1:  # the warm-up passes, a timed call fails
                raise RuntimeError("boom")
            return call()

        return run

    _wrap_calls_of("egnn-xs", flaky, monkeypatch)
    result = speed_mod.run_speed(tiny_settings(models="mpnn-xs,egnn-xs", regimes=("md",), side_by_side=True))
    recs = {r["model"]: r for r in result["records"]}
    assert recs["mpnn-xs"]["status"] == "ok"
    assert recs["egnn-xs"]["status"] == "failed" and recs["egnn-xs"]["reason"] == "RuntimeError: boom"


def test_side_by_side_budget_is_counted_per_model(tiny_settings, monkeypatch):
    import time as time_mod

    def slow(call):
        def run():
            time_mod.sleep(0.5)
            return call()

        return run

    _wrap_calls_of("egnn-xs", slow, monkeypatch)
    # 1.5 s each: the slow model spends its share on the first droplet (three calls); the fast one is not held back.
    settings = tiny_settings(models="mpnn-xs,egnn-xs", regimes=("large",), large_sizes=(30, 60, 90),
                             time_budget_s=3.0, side_by_side=True)
    recs = speed_mod.run_speed(settings)["records"]
    status = {(r["model"], r["n_atoms"]): r["status"] for r in recs}
    assert [status[("mpnn-xs", n)] for n in (30, 60, 90)] == ["ok", "ok", "ok"]
    assert status[("egnn-xs", 30)] == "ok"
    assert status[("egnn-xs", 60)] == status[("egnn-xs", 90)] == "skipped"


@pytest.mark.parametrize("warm", [False, True])
def test_compiled_runs_start_from_an_empty_compile_cache(tiny_settings, monkeypatch, tmp_path, warm):
    """first_call_s is a compile time only when inductor finds nothing cached by earlier runs."""
    import os

    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "users-cache"))
    seen = []

    def fake_compile(model, enabled):
        if not enabled:
            return model

        def call(batch):
            folder = os.environ["TORCHINDUCTOR_CACHE_DIR"]
            seen.append((folder, os.path.isdir(folder) and not os.listdir(folder)))
            return model(batch)

        return call

    monkeypatch.setattr(units_mod, "maybe_compile", fake_compile)
    recs = speed_mod.run_speed(tiny_settings(regimes=("md",), compile=True, warm_compile_cache=warm))["records"]
    assert [r["status"] for r in recs] == ["ok", "ok"] and seen
    if warm:
        assert {folder for folder, _ in seen} == {str(tmp_path / "users-cache")}
    else:
        assert all(empty and folder != str(tmp_path / "users-cache") for folder, empty in seen)
    assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == str(tmp_path / "users-cache")  # put back after the run
