"""`forcefields bench stability` end to end: a tame and a deliberately broken tiny potential, short runs."""

from __future__ import annotations

import json

import pytest
from ase.build import molecule
from ase.io import write

import forcefields
from forcefields.cli import main


def _tiny(scale: float):
    return forcefields.create_model("mpnn-xs", hidden=8, num_layers=1, num_rbf=4, cutoff=4.0, elements=(1, 6, 8),
                                    energy_scale=scale, seed=0)


@pytest.fixture
def setup(tmp_path):
    tame = forcefields.save(_tiny(1e-4), tmp_path / "mpnn-xs.tame")  # almost no force: free flight, no failure
    broken = forcefields.save(_tiny(-3e3), tmp_path / "mpnn-xs.broken")  # huge random forces: tears the molecule
    structures = tmp_path / "start.extxyz"
    write(str(structures), [molecule("CH3CH2OH")], format="extxyz")
    out = tmp_path / "results"
    argv = ["bench", "stability", "--models", f"{tame},{broken}", "--structures", str(structures), "--temperatures", "300",
            "--ps", "0.02", "--seeds", "1", "--nve-ps", "0.01", "--out", str(out)]
    return argv, out, tame, broken


def test_stability_trips_on_the_broken_potential_only_and_resumes(setup, capsys):
    argv, out, tame, broken = setup
    assert main(argv) == 0
    [folder] = [p for p in out.iterdir() if p.is_dir()]
    doc = json.loads((folder / "stability.json").read_text())
    recs = {r["model"]: r for r in doc["records"]}
    assert recs[tame.name]["status"] == "survived" and recs[tame.name]["survived_ps"] == 0.02
    bad = recs[broken.name]
    assert bad["status"] == "failed" and bad["survived_ps"] < 0.02
    assert "stretched" in bad["reason"] or "came" in bad["reason"] or "finite" in bad["reason"]
    assert "2.25 Å" in bad["criterion"] and "0.6 Å" in bad["criterion"]
    assert (folder / bad["last_frames"]).is_file()  # the frames before failure, for inspection
    assert recs[tame.name]["ms_per_step"] > 0 and recs[tame.name]["nve_drift_mev_atom_ps"] is not None
    # the same command again runs nothing: every task is already in the results
    assert main(argv) == 0
    assert "0 run(s), 2 already done" in capsys.readouterr().out
    # the report: a table row per model and the survival plot
    assert main(["bench", "report", "--results", str(out)]) == 0
    report = (out / "REPORT.md").read_text()
    assert "### MD stability" in report and "| 0/1 |" in report and "| 1/1 |" in report
    assert (folder / "stability.png").is_file()
    # the README summary: one row per model, a column per temperature and target time
    readme = out / "README.md"
    readme.write_text("<!-- bench:start -->\n<!-- bench:end -->\n")
    assert main(["bench", "report", "--results", str(out), "--update-readme", str(readme)]) == 0
    text = readme.read_text()
    assert "| MD stability: runs surviving | 300 K, 0.02 ps |" in text
    assert f"| {tame.name} | 1/1 |" in text and f"| {broken.name} | 0/1 (fails at " in text


def test_the_criterion_is_configurable_and_a_bad_one_is_refused(setup, capsys):
    argv, out, tame, broken = setup
    argv = [str(tame) if a == f"{tame},{broken}" else a for a in argv]
    assert main(argv + ["--bond-stretch", "1.2", "--min-distance", "0.5", "--nve-ps", "0"]) == 0
    doc = json.loads(next(out.glob("*/stability.json")).read_text())
    [rec] = doc["records"]
    assert rec["status"] == "failed" and "1.2 Å" in rec["criterion"] and "stretched" in rec["reason"]
    assert main(argv + ["--min-distance", "3"]) != 0
    assert "--min-distance 3.0 Å must be positive and below --bond-stretch" in capsys.readouterr().err


def test_compile_is_warmed_up_before_the_timed_run_and_recorded(setup, monkeypatch):
    """--compile: the model goes through torch.compile (stubbed here, the real one is tested in
    test_calculator.py), the warm-up time is recorded apart, and the report marks the speed."""
    import torch

    argv, out, tame, broken = setup
    calls = []
    monkeypatch.setattr(torch, "compile", lambda model, **kw: calls.append(kw) or model)
    argv = [str(tame) if a == f"{tame},{broken}" else a for a in argv]
    assert main(argv + ["--compile", "--workers", "1"]) == 0
    [rec] = json.loads(next(out.glob("*/stability.json")).read_text())["records"]
    assert calls and rec["compiled"] is True and rec["compile_s"] > 0 and rec["status"] == "survived"
    assert main(["bench", "report", "--results", str(out)]) == 0
    assert "(compiled)" in (out / "REPORT.md").read_text()


def test_a_general_potential_starts_from_the_specialists_molecules(tmp_path):
    """A model trained on a corpus (no rMD17 molecule) runs on aspirin and ethanol instead of
    stopping the whole `--models all-pretrained` command; one with no training record is told
    to pass --structures."""
    import numpy as np

    from forcefields.bench.stability import GENERAL_START_MOLECULES, StabilitySettings, start_structures
    from forcefields.zoo.format import save_checkpoint

    root = tmp_path / "rmd17"
    root.mkdir()
    for mol, n in (("aspirin", 21), ("ethanol", 9)):
        np.savez(root / f"rmd17_{mol}_test_01.npz", nuclear_charges=np.full(n, 6), coords=np.zeros((3, n, 3)) + n)
    general = save_checkpoint(_tiny(1.0), tmp_path / "general", training={"data": ["xtb:corpus/qm9-xtb"]})
    settings = StabilitySettings(seeds=2, root=str(root))
    frames = start_structures(str(general), settings)
    assert [label for label, _ in frames] == [f"rmd17:{m}#{k}" for m in GENERAL_START_MOLECULES for k in range(2)]
    assert [len(atoms) for _, atoms in frames] == [21, 21, 9, 9]
    bare = save_checkpoint(_tiny(1.0), tmp_path / "bare")
    with pytest.raises(ValueError, match="pass --structures"):
        start_structures(str(bare), settings)


def test_batched_replicas_trip_on_the_broken_potential_only_and_are_kept_apart(setup, capsys):
    """--batched: one batch per model (BAOAB); same verdicts as one run per task; the two kinds
    of record are separate points, and the report says which rows were batched."""
    argv, out, tame, broken = setup
    argv = [a if a != "300" else "300,500" for a in argv]
    assert main(argv + ["--batched"]) == 0
    doc = json.loads(next(out.glob("*/stability.json")).read_text())
    recs = doc["records"]
    assert len(recs) == 4 and {r["integrator"] for r in recs} == {"baoab-batched"} and {r["replicas"] for r in recs} == {2}
    by_model = {m: [r for r in recs if r["model"] == m] for m in (tame.name, broken.name)}
    assert all(r["status"] == "survived" and r["survived_ps"] == 0.02 for r in by_model[tame.name])
    assert all(r["status"] == "failed" and r["survived_ps"] < 0.02 for r in by_model[broken.name])
    folder = next(out.glob("*/stability.json")).parent
    assert all((folder / r["last_frames"]).is_file() for r in by_model[broken.name])
    assert all(r["nve_drift_mev_atom_ps"] is not None for r in by_model[tame.name])
    assert main(argv + ["--batched"]) == 0 and "0 run(s), 4 already done" in capsys.readouterr().out
    assert main(argv) == 0 and "4 run(s), 0 already done" in capsys.readouterr().out  # ASE runs: other points
    assert main(["bench", "report", "--results", str(out)]) == 0
    assert "batched ×2" in (out / "REPORT.md").read_text()


def test_results_taken_side_by_side_merge_into_one_folder(setup, tmp_path, capsys):
    """Two commands at once need two --out folders; `bench merge` brings them together, frames included."""
    argv, out, tame, broken = setup
    other = tmp_path / "other"
    one = [str(tame) if a == f"{tame},{broken}" else a for a in argv]
    two = [str(broken) if a == f"{tame},{broken}" else a for a in argv]
    two[two.index("--out") + 1] = str(other)
    assert main(one) == 0 and main(two) == 0
    [source] = list(other.glob("*/stability.json"))
    assert main(["bench", "merge", str(source), "--out", str(out)]) == 0
    [merged] = list(out.glob("*/stability.json"))
    doc = json.loads(merged.read_text())
    assert {r["model"] for r in doc["records"]} == {tame.name, broken.name} and len(doc["runs"]) == 2
    [bad] = [r for r in doc["records"] if r["model"] == broken.name]
    assert (merged.parent / bad["last_frames"]).is_file()
    assert main(["bench", "merge", str(source), "--out", str(out)]) == 0  # again: replaces, no duplicates
    assert len(json.loads(merged.read_text())["records"]) == 2
    partial = source.with_name("stability.partial.json")
    partial.write_text(source.read_text().replace('"complete": true', '"complete": false', 1))
    assert main(["bench", "merge", str(partial), "--out", str(out)]) != 0
    assert "partial result file" in capsys.readouterr().err


def test_merge_from_a_folder_seeded_with_the_results_needs_no_copy_of_their_frames(setup, tmp_path, capsys):
    """A folder seeded with a copy of the results file (to skip finished runs) merges back without the
    frames the results already hold; frames missing everywhere are one sentence naming the file and the fix."""
    import shutil

    argv, out, tame, broken = setup
    assert main(argv) == 0
    [results] = list(out.glob("*/stability.json"))
    seeded = tmp_path / "seeded" / results.parent.name
    seeded.mkdir(parents=True)
    shutil.copy(results, seeded / "stability.json")  # the json only, no stability-frames/
    assert main(["bench", "merge", str(seeded / "stability.json"), "--out", str(out)]) == 0
    assert len(json.loads(results.read_text())["records"]) == 2
    capsys.readouterr()
    empty = tmp_path / "empty"
    assert main(["bench", "merge", str(seeded / "stability.json"), "--out", str(empty)]) != 0
    err = capsys.readouterr().err
    assert "names the failure frames" in err and "merge again" in err


def test_the_device_is_recorded_and_a_missing_gpu_is_one_clear_sentence(setup, capsys):
    import torch

    argv, out, tame, broken = setup
    argv = [str(tame) if a == f"{tame},{broken}" else a for a in argv]
    assert main(argv + ["--device", "cpu"]) == 0
    doc = json.loads(next(out.glob("*/stability.json")).read_text())
    assert doc["runs"][0]["settings"]["device"] == "cpu"
    if torch.cuda.is_available():
        pytest.skip("a GPU is present: the missing-GPU message cannot be shown")
    capsys.readouterr()
    assert main(argv + ["--device", "cuda"]) != 0
    err = capsys.readouterr().err
    assert "CUDA was asked for but torch sees no GPU" in err and "--device cpu" in err


def test_a_stopped_batched_run_continues_from_its_checkpoint(setup, tmp_path, monkeypatch, capsys):
    """--batched writes its state as it goes (--checkpoint-every 0: every step); the same command
    after a stop continues from it, gives the records of an uninterrupted run, and cleans up."""
    import forcefields.simulate.replicas as replicas

    argv, out, tame, broken = setup
    argv = [a if a != f"{tame},{broken}" else str(tame) for a in argv] + ["--batched", "--checkpoint-every", "0"]
    real, calls = replicas._energies_forces, []

    def counted(*args):
        calls.append(1)
        return real(*args)

    whole = tmp_path / "whole"
    monkeypatch.setattr(replicas, "_energies_forces", counted)
    assert main([a if a != str(out) else str(whole) for a in argv]) == 0
    reference = json.loads(next(whole.glob("*/stability.json")).read_text())["records"]
    calls_whole = len(calls)
    calls.clear()

    def stop_part_way(*args):
        calls.append(1)
        if len(calls) > 25:  # step 24 of 40: the job is killed
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(replicas, "_energies_forces", stop_part_way)
    with pytest.raises(KeyboardInterrupt):
        main(argv)
    saved = list(out.glob("*/stability-checkpoints/*-langevin.npz"))
    assert len(saved) == 1
    calls.clear()
    monkeypatch.setattr(replicas, "_energies_forces", counted)
    assert main(argv) == 0 and "1 run(s), 0 already done" in capsys.readouterr().out
    assert len(calls) <= calls_whole - 24  # continued from step 24, not from the start
    (rec,) = json.loads(next(out.glob("*/stability.json")).read_text())["records"]
    (ref,) = reference
    assert rec["status"] == ref["status"] == "survived" and rec["survived_ps"] == ref["survived_ps"]
    assert rec["nve_drift_mev_atom_ps"] == pytest.approx(ref["nve_drift_mev_atom_ps"], rel=1e-6)
    assert not list(out.glob("*/stability-checkpoints/*.npz"))  # the records are safe: the state is gone


@pytest.mark.parametrize("batched", [False, True])
def test_a_model_given_as_a_nested_relative_folder_keeps_its_failed_frames(setup, tmp_path, monkeypatch, batched):
    """A run folder's model (e.g. runs/x/model) names its frames file without the folders; a failed
    run's dynamics are recorded, not lost to an error about a missing directory."""
    argv, out, tame, broken = setup
    nested = tmp_path / "runs" / "broken" / "model"
    nested.parent.mkdir(parents=True)
    broken.rename(nested)
    monkeypatch.chdir(tmp_path)
    argv = [a if a != f"{tame},{broken}" else "runs/broken/model" for a in argv] + (["--batched"] if batched else [])
    assert main(argv) == 0
    results = next(out.glob("*/stability.json"))
    (rec,) = json.loads(results.read_text())["records"]
    assert rec["model"] == "runs/broken/model" and rec["status"] == "failed"
    assert (results.parent / rec["last_frames"]).is_file()
