"""`forcefields train` end to end on a tiny extxyz file (EMT labels)."""

import json

import pytest
import torch
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


def test_direct_run_then_conservative_run_from_its_weights(tmp_path):
    # eSEN's two-stage recipe: direct forces first, then conservative from those weights.
    data = write_extxyz(tmp_path / "mols.extxyz", 12)
    stage1, stage2 = tmp_path / "direct", tmp_path / "conservative"
    assert main(_argv(data, stage1, "--max-epochs", "1", "--force-mode", "direct")) == 0
    assert main(_argv(data, stage2, "--max-epochs", "1", "--init-from", str(stage1 / "model"))) == 0
    assert load_exported(stage1 / "model").config.force_mode == "direct"
    assert load_exported(stage2 / "model").config.force_mode == "conservative"
    assert yaml.safe_load((stage2 / "config.yaml").read_text())["init_from"] == str(stage1 / "model")

    # what stage 2 starts from: stage 1's backbone and readout, without the direct head
    from forcefields.models import create_model
    from forcefields.training import initialise_from

    direct = dict(load_exported(stage1 / "model").named_parameters())
    fresh = create_model("mpnn-xs", hidden=8, num_layers=1, cutoff=CUTOFF, elements=[1, 6, 7, 8], seed=1)
    initialise_from(fresh, str(stage1 / "model"))
    assert fresh.config.force_mode == "conservative"
    assert set(dict(fresh.named_parameters())) < set(direct)  # the direct head is dropped
    for name, value in fresh.named_parameters():
        assert torch.equal(value, direct[name]), name


def test_init_from_a_different_size_is_refused(tmp_path, capsys):
    data = write_extxyz(tmp_path / "mols.extxyz", 12)
    assert main(_argv(data, tmp_path / "a", "--max-epochs", "1")) == 0
    argv = _argv(data, tmp_path / "b", "--max-epochs", "1", "--init-from", str(tmp_path / "a" / "model"))
    argv[argv.index("hidden=8")] = "hidden=16"
    assert main(argv) != 0
    assert "do not fit" in capsys.readouterr().err
