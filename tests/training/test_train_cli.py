"""`forcefields train` end to end on a tiny extxyz file (EMT labels)."""

import json

import pytest
import yaml
from safetensors.torch import load_file

from forcefields.cli import main
from forcefields.training import errors_of, load_exported
from train_helpers import CUTOFF, write_extxyz

SPLIT = "{train: 8, val: 2, test: 2, seed: 0}"


def _argv(data, out, *extra):
    return [
        "train", "--model", "mpnn-xs", "--model-arg", "hidden=8", "--model-arg", "num_layers=1",
        "--data", str(data), "--split", SPLIT, "--cutoff", str(CUTOFF), "--batch-size", "4",
        "--warmup-steps", "0", "--out", str(out), "--no-progress-bar", "--accelerator", "cpu", *extra,
    ]


def test_cli_trains_tests_exports_and_resumes(tmp_path, capsys):
    data = write_extxyz(tmp_path / "mols.extxyz", 12)
    out = tmp_path / "run"
    assert main(_argv(data, out, "--max-epochs", "2", "--lr", "5e-3", "--ema-decay", "0.9")) == 0
    printed = capsys.readouterr().out
    assert "force MAE" in printed and "meV/Å" in printed

    config = yaml.safe_load((out / "config.yaml").read_text())
    assert config["model"] == "mpnn-xs" and config["model_args"] == {"hidden": 8, "num_layers": 1}
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["steps"] == 4 and metrics["seconds_per_epoch"] > 0 and metrics["num_parameters"] > 0
    assert set(metrics["test"]) >= {"energy_mae", "energy_per_atom_mae", "forces_mae", "forces_rmse"}
    assert (out / "checkpoints" / "last.ckpt").is_file() and (out / "checkpoints" / "best.ckpt").is_file()
    assert any((out / "logs").rglob("metrics.csv"))

    # the exported model is the one that was tested (EMA weights), weights-only safetensors
    exported = json.loads((out / "model" / "config.json").read_text())
    assert exported["family"] == "mpnn" and exported["model"]["hidden"] == 8
    assert set(exported["statistics"]["elements"]) == {1, 6, 7, 8}
    assert set(load_file(str(out / "model" / "model.safetensors"))) == set(load_exported(out / "model").state_dict())
    from forcefields.data.datamodule import MolecularDataModule

    dm = MolecularDataModule([str(data)], cutoff=CUTOFF, split=yaml.safe_load(SPLIT), batch_size=4, verbose=False)
    dm.setup()
    direct = errors_of(load_exported(out / "model"), dm.test_dataloader())
    assert direct["forces_mae"] == pytest.approx(metrics["test"]["forces_mae"], rel=1e-4)

    # resume from the last checkpoint for one more epoch
    assert main(_argv(data, out, "--max-epochs", "3", "--lr", "5e-3", "--ema-decay", "0.9", "--resume", "last")) == 0
    assert json.loads((out / "metrics.json").read_text())["steps"] == 6


def test_cli_names_the_problem(tmp_path, capsys):
    assert main(["train", "--model", "mpnn-xs", "--out", str(tmp_path)]) == 1
    assert "no training data" in capsys.readouterr().err
    data = write_extxyz(tmp_path / "m.extxyz", 4)
    assert main(_argv(data, tmp_path / "r", "--resume", "last")) == 1
    assert "cannot resume" in capsys.readouterr().err
