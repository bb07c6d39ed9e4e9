"""Small pieces of the fine-tuning data path: split parsing, replay counts, source options."""

from __future__ import annotations

import pytest

from forcefields.training.finetune_data import check_split_size, parse_split, replay_count, source_spec


def test_split_text_and_counts():
    assert parse_split("0.9,0.1", seed=3) == {"train": 0.9, "val": 0.1, "seed": 3}
    assert parse_split("80,10,10") == {"train": 80, "val": 10, "test": 10, "seed": 0}
    assert parse_split({"protocol": "rmd17:1", "train": 50, "val": 25}, seed=1)["protocol"] == "rmd17:1"
    assert check_split_size(40, parse_split("0.6,0.2,0.2"), "x") == {"train": 24, "val": 8, "test": 8}
    with pytest.raises(ValueError, match="asks for 120 frames but x has 100"):
        check_split_size(100, parse_split("80,30,10"), "x")
    with pytest.raises(ValueError, match="leaves none for training"):
        check_split_size(20, parse_split("0,10"), "x")


def test_replay_count_is_a_share_of_the_training_frames():
    assert replay_count(0.2, 80) == 20  # 20 of 100 training frames are replayed
    assert replay_count(0.0, 80) == 0
    with pytest.raises(ValueError, match="fraction in \\[0, 1\\)"):
        replay_count(1.0, 80)


def test_source_spec_folds_in_reader_options(tmp_path):
    path = tmp_path / "a.extxyz"
    assert source_spec(str(path)) == str(path)
    assert source_spec(path, "E", "F", "kcal/mol") == {"path": str(path), "energy_key": "E", "forces_key": "F", "units": "kcal/mol"}
    assert source_spec("rmd17:ethanol", units="eV") == {"source": "rmd17:ethanol", "units": "eV"}
