"""`bench accuracy` on a tiny checkpoint whose config names its own tiny data set."""

from __future__ import annotations

import numpy as np
import pytest

from forcefields.bench.accuracy import AccuracySettings, run_accuracy
from forcefields.bench.report import build_report
from forcefields.bench.speed import SpeedSettings, run_speed
from forcefields.bench.store import load_results

from .conftest import TINY_OVERRIDES

SPLIT = {"train": 6, "val": 2, "test": 4, "seed": 0}


@pytest.fixture
def checkpoint(tmp_path):
    """A tiny untrained MPNN saved as a checkpoint trained on 12 EMT-labelled ethanol frames."""
    import forcefields
    from ase.build import molecule
    from ase.calculators.emt import EMT
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.io import write

    rng = np.random.default_rng(0)
    frames = []
    for _ in range(12):
        a = molecule("CH3CH2OH")
        a.positions += rng.normal(scale=0.05, size=a.positions.shape)
        a.calc = EMT()
        e, f = a.get_potential_energy(), a.get_forces()
        a.calc = SinglePointCalculator(a, energy=e, forces=f)
        frames.append(a)
    data = tmp_path / "ethanol-emt.extxyz"
    write(data, frames, format="extxyz")
    model = forcefields.create_model("mpnn-xs", seed=0, **TINY_OVERRIDES)
    folder = forcefields.save(model, tmp_path / "mpnn-xs.emt-ethanol", name="mpnn-xs.emt-ethanol",
                              training={"data": [str(data)], "split": SPLIT})
    return folder, data


def test_accuracy_matches_a_frame_by_frame_evaluation(checkpoint, tmp_path):
    import forcefields
    from forcefields.data import MolecularDataModule

    folder, data = checkpoint
    out = tmp_path / "results"
    result = run_accuracy(AccuracySettings(models=[str(folder)], root=str(tmp_path), out=str(out), batch_size=3,
                                           progress=False))
    doc = load_results(result["path"])
    (rec,) = doc["records"]
    assert rec["status"] == "ok", rec["reason"]
    assert rec["n_frames"] == SPLIT["test"] and rec["dataset"] == data.name and rec["arch"] == "mpnn-xs"

    # Independent reference: one frame at a time, numpy arithmetic.
    model = forcefields.load(folder)
    dm = MolecularDataModule([str(data)], root=str(tmp_path), cutoff=model.cutoff, split=SPLIT, batch_size=1,
                             download=False, verbose=False)
    dm.setup()
    de, df = [], []
    for batch in dm.test_dataloader():
        pred = model(batch)
        de.append(float(pred["energy"][0].detach() - batch.energy[0]))
        df.append((pred["forces"] - batch.forces).detach().numpy())
    df = np.concatenate(df)
    assert rec["energy_mae_mev"] == pytest.approx(1e3 * np.mean(np.abs(de)), rel=1e-4)
    assert rec["force_mae_mev_a"] == pytest.approx(1e3 * np.mean(np.abs(df)), rel=1e-4)
    assert rec["force_rmse_mev_a"] == pytest.approx(1e3 * np.sqrt(np.mean(df**2)), rel=1e-4)

    limited = run_accuracy(AccuracySettings(models=[str(folder)], root=str(tmp_path), out=str(tmp_path / "r2"),
                                            batch_size=3, max_frames=2, progress=False))
    assert limited["records"][0]["n_frames"] == 2


def test_accuracy_and_speed_feed_the_pareto_plot(checkpoint, tmp_path):
    folder, _ = checkpoint
    out = tmp_path / "results"
    run_accuracy(AccuracySettings(models=[str(folder)], root=str(tmp_path), out=str(out), progress=False))
    run_speed(SpeedSettings(models="mpnn-xs", overrides=dict(TINY_OVERRIDES), regimes=("md", "batch"),
                            md_molecules=("ethanol",), batch_sizes=(1, 2), warmup=1, repeats=2, min_repeats=1,
                            out=str(out), progress=False))
    report = build_report(out)
    names = {p.name for p in report["plots"]}
    assert {"pareto.png", "throughput.png"} <= names
    assert all(p.stat().st_size > 0 for p in report["plots"])


def test_checkpoint_without_training_data_is_a_failed_record(tmp_path):
    import forcefields

    model = forcefields.create_model("mpnn-xs", seed=0, **TINY_OVERRIDES)
    folder = forcefields.save(model, tmp_path / "mpnn-xs.nodata", name="mpnn-xs.nodata")
    result = run_accuracy(AccuracySettings(models=[str(folder)], root=str(tmp_path), out=str(tmp_path / "r"),
                                           progress=False))
    (rec,) = result["records"]
    assert rec["status"] == "failed" and "training data" in rec["reason"]


def test_unknown_pretrained_name(tmp_path):
    with pytest.raises(KeyError, match="unknown pretrained model 'nope.x'"):
        run_accuracy(AccuracySettings(models="nope.x", root=str(tmp_path), out=str(tmp_path), progress=False))


@pytest.mark.shared_data
def test_accuracy_on_the_real_rmd17_test_split(shared_data, tmp_path):
    """A checkpoint saying rmd17:aspirin / rmd17:1 is scored on the 1000 frames of test_01."""
    import forcefields
    from forcefields.bench.systems import to_batch
    from ase import Atoms

    model = forcefields.create_model("mpnn-xs", seed=0, **TINY_OVERRIDES)
    folder = forcefields.save(model, tmp_path / "mpnn-xs.rmd17-aspirin", name="mpnn-xs.rmd17-aspirin",
                              training={"data": ["rmd17:aspirin"], "split": "rmd17:1"})
    result = run_accuracy(AccuracySettings(models=[str(folder)], root=str(shared_data / "rmd17"),
                                           out=str(tmp_path / "r"), batch_size=100, progress=False))
    (rec,) = result["records"]
    assert rec["status"] == "ok" and rec["n_frames"] == 1000 and rec["dataset"] == "rmd17:aspirin"

    # Independent reference straight from the npz file (kcal/mol -> eV).
    kcal = 0.0433641
    with np.load(shared_data / "rmd17" / "rmd17_aspirin_test_01.npz") as d:
        z, pos, energy, forces = d["nuclear_charges"], d["coords"], d["energies"] * kcal, d["forces"] * kcal
    model = forcefields.load(folder)
    e_err, f_err = [], []
    for lo in range(0, len(pos), 250):
        batch = to_batch([Atoms(numbers=z, positions=p) for p in pos[lo:lo + 250]])
        out = model(batch)
        e_err.append(out["energy"].detach().double().numpy() - energy[lo:lo + 250])
        f_err.append(out["forces"].detach().double().numpy().reshape(-1, len(z), 3) - forces[lo:lo + 250])
    e_err, f_err = np.concatenate(e_err), np.concatenate(f_err)
    assert rec["energy_mae_mev"] == pytest.approx(1e3 * np.abs(e_err).mean(), rel=1e-5)
    assert rec["force_mae_mev_a"] == pytest.approx(1e3 * np.abs(f_err).mean(), rel=1e-3)
