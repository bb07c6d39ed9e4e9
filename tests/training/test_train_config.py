"""TrainConfig: YAML round trip, precedence of flags over the file, clear errors."""

import argparse

import pytest

from forcefields.cli.train import config_from_args, register
from forcefields.training.config import TrainConfig, load_config, save_config


def _parse(argv):
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    return parser.parse_args(["train", *argv])


def test_yaml_round_trip(tmp_path):
    cfg = TrainConfig(
        model="egnn-s",
        data=["rmd17:aspirin", "data/extra.extxyz"],
        split={"train": 80, "val": 10, "test": 10, "seed": 2},
        model_args={"hidden": 16},
        ema_decay=None,
        symmetry_loss=5,
        devices="auto",
        max_time="00:00:25:00",
    )
    save_config(cfg, tmp_path / "run.yaml")
    assert load_config(tmp_path / "run.yaml") == cfg


def test_flags_override_the_file(tmp_path):
    (tmp_path / "run.yaml").write_text(
        "model: egnn-s\ndata: rmd17:ethanol\nmax-epochs: 7\nbatch_size: 4\nmodel_args: {hidden: 16, num_layers: 2}\n"
    )
    args = _parse(
        ["--config", str(tmp_path / "run.yaml"), "--max-epochs", "3", "--model-arg", "hidden=8",
         "--symmetry-loss", "--ema-decay", "none", "--split", "{train: 5, val: 1, test: 1}", "--devices", "2"]
    )
    cfg = config_from_args(args)
    assert cfg.model == "egnn-s" and cfg.data == ["rmd17:ethanol"]
    assert cfg.max_epochs == 3 and cfg.batch_size == 4  # flag wins; file kept where no flag
    assert cfg.model_args == {"hidden": 8, "num_layers": 2}
    assert cfg.symmetry_loss == 5 and cfg.ema_decay is None
    assert cfg.split == {"train": 5, "val": 1, "test": 1} and cfg.devices == 2
    assert cfg.lr is None  # an unset flag does not override with a default


def test_unknown_key_and_bad_values_are_named(tmp_path):
    (tmp_path / "bad.yaml").write_text("modle: egnn-s\n")
    with pytest.raises(ValueError, match="did you mean 'model'"):
        load_config(tmp_path / "bad.yaml")
    with pytest.raises(FileNotFoundError, match="--config"):
        load_config(tmp_path / "missing.yaml")
    with pytest.raises(ValueError, match="no training data"):
        TrainConfig().validate()
    with pytest.raises(ValueError, match="optimizer='sgd'"):
        TrainConfig(data=["x.extxyz"], optimizer="sgd").validate()
