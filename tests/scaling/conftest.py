"""Fixtures of the scaling tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from scaling_helpers import write_tiny_extxyz


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    """An extxyz file of 400 labelled small molecules (EMT energies in eV, forces in eV/Å)."""
    return write_tiny_extxyz(tmp_path_factory.mktemp("scaling-data") / "tiny.extxyz", 400)
