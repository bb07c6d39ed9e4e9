"""Shared fixtures of the simulation tests."""

from __future__ import annotations

import pytest
import torch

import forcefields

ELEMENTS = (1, 6, 7, 8)
E0 = {"1": -13.6, "6": -1029.8, "7": -1485.3, "8": -2041.3}


@pytest.fixture(scope="module")
def model():
    """An untrained mpnn-xs, float64, weak forces: molecules hold together for tens of fs."""
    m = forcefields.create_model("mpnn-xs", elements=ELEMENTS, atomic_energies=E0, energy_scale=1.0,
                                 dtype=torch.float64, seed=0)
    return m.eval()
