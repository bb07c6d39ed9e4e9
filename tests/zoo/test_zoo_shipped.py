"""Every checkpoint listed in the repository's checkpoints/index.json is sound.

Parametrised over the index: an empty index gives no cases.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import forcefields
from forcefields.zoo.card import card_num_parameters, read_card
from forcefields.zoo.format import verify_files
from forcefields.zoo.index import read_index
from forcefields.zoo.reference import compare_reference

REPO_CHECKPOINTS = Path(__file__).resolve().parents[2] / "checkpoints"
ENTRIES = [e for e in read_index(REPO_CHECKPOINTS / "index.json") if e.path is not None]
# Reproducing a stored prediction: exact on the machine that saved it, round-off elsewhere.
TOLERANCE = {"float32": (1e-4, 1e-4), "float64": (1e-9, 1e-9)}  # (energy eV relative, forces eV/Å)


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.name for e in ENTRIES])
def test_shipped_checkpoint(entry, monkeypatch):
    monkeypatch.delenv("FORCEFIELDS_CHECKPOINTS", raising=False)
    folder = Path(entry.path)
    verify_files(folder, entry.files)  # every file matches its index checksum
    model = forcefields.load(entry.name)
    n = sum(p.numel() for p in model.parameters())
    _, body = read_card(folder / "README.md")
    assert entry.num_parameters == n == card_num_parameters(body)
    diff = compare_reference(model, folder)
    e_tol, f_tol = TOLERANCE[diff["dtype"]]
    assert diff["energy_diff"] <= e_tol * max(1.0, abs(diff["energy"]))
    assert diff["force_diff"] <= f_tol
