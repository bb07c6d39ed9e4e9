"""Fixtures of tiny labelled data (see _tiny.py for the writers)."""

from __future__ import annotations

import numpy as np
import pytest

from ._tiny import labelled, write_extxyz, write_rmd17_per_split


@pytest.fixture(scope="session")
def ethanol_frames():
    return labelled("ethanol", 30, seed=1)


@pytest.fixture(scope="session")
def benzene_frames():
    return labelled("benzene", 24, seed=2)


@pytest.fixture
def rmd17_root(tmp_path, ethanol_frames, benzene_frames):
    """Per-split rMD17 layout for ethanol (train_01: 20, test_01: 10) and benzene (16 / 8)."""
    root = tmp_path / "rmd17"
    write_rmd17_per_split(root, "ethanol", ethanol_frames, {"train_01": np.arange(20), "test_01": np.arange(20, 30)})
    write_rmd17_per_split(root, "benzene", benzene_frames, {"train_01": np.arange(16), "test_01": np.arange(16, 24)})
    return root


@pytest.fixture
def xyz_file(tmp_path):
    """An extxyz of three different molecules (water, methane, ethanol), custom keys."""
    frames = labelled("water", 8, seed=3) + labelled("methane", 8, seed=4) + labelled("ethanol", 8, seed=5)
    return write_extxyz(tmp_path / "mixed.xyz", frames, "REF_energy", "REF_forces"), frames
