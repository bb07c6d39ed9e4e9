"""A model card's training command must train the same model again: it parses back to the recipe."""

from __future__ import annotations

import json
import shlex
from dataclasses import asdict
from pathlib import Path

import pytest

from forcefields.cli import build_parser
from forcefields.cli.train import config_from_args
from forcefields.training.command import train_command
from forcefields.training.config import TrainConfig

NOT_RECIPE = {"out", "resume", "accelerator", "devices", "strategy", "num_workers", "progress_bar", "log_every_n_steps"}


def _parsed(command: str) -> dict:
    argv = shlex.split(command)
    assert argv[:2] == ["forcefields", "train"]
    args = build_parser().parse_args(argv[1:])
    return {k: v for k, v in asdict(config_from_args(args)).items() if k not in NOT_RECIPE}


def _recipe(config: TrainConfig) -> dict:
    return {k: v for k, v in asdict(config).items() if k not in NOT_RECIPE}


@pytest.mark.parametrize("changes", [
    {},
    dict(max_epochs=1000, max_time="00:00:25:00", symmetry_loss=5, augment_rotations=True, symmetry_weight=0.5),
    dict(loss="huber", schedule="cosine", energy_weight=1.0, forces_weight=100.0, max_force=10.0, ema_decay=None,
         gradient_clip=None, model_args={"hidden": 16, "num_layers": 2}, split={"train": 80, "val": 10, "test": 10, "seed": 1}),
])
def test_the_command_parses_back_to_every_setting_of_the_recipe(changes):
    config = TrainConfig(model="esen-l2-xs", data=["rmd17:aspirin", "rmd17:ethanol"], root="../data", split="rmd17:1",
                         batch_size=4, lr=0.01, seed=3, out="runs/somewhere", num_workers=2).updated(**changes)
    command = train_command(asdict(config))
    assert "runs/somewhere" not in command and "--num-workers" not in command  # where it ran is not the recipe
    assert _parsed(command) == _recipe(config)


def test_every_shipped_card_command_reproduces_its_recorded_recipe():
    for path in sorted(Path("checkpoints").glob("*/config.json")):
        training = json.loads(path.read_text())["training"]
        recipe = {k: v for k, v in training.items() if k in _recipe(TrainConfig())}
        parsed = _parsed(training["command"])
        assert {k: parsed[k] for k in recipe} == {k: TrainConfig(**recipe).__dict__[k] for k in recipe}, path.parent.name
