"""The shortest distance per element pair: recorded from training data, warned about by the calculator."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from ase.build import molecule

import forcefields
from forcefields.data.statistics import DatasetStatistics, compute_statistics
from forcefields.extrapolation import ExtrapolationWarning

REPO = Path(__file__).resolve().parents[1]


def _frames():
    from types import SimpleNamespace

    from forcefields.data.neighbors import radius_graph

    out = []
    for shift in (0.0, 0.1):
        atoms = molecule("CH3OH")
        atoms.positions[1] += shift  # stretch one C-O/C-H pair between frames
        pos = torch.tensor(atoms.positions)
        out.append(SimpleNamespace(z=torch.tensor(atoms.numbers), pos=pos, energy=torch.tensor([0.0]),
                                   forces=torch.zeros_like(pos), edge_index=radius_graph(pos, 4.0)))
    return out, molecule("CH3OH")


def test_statistics_record_the_shortest_distance_per_pair_and_round_trip():
    frames, atoms = _frames()
    stats = compute_statistics(frames, cutoff=4.0)
    d = atoms.get_all_distances()
    z = atoms.numbers
    ch = min(d[i, j] for i in range(len(z)) for j in range(len(z)) if {z[i], z[j]} == {1, 6})
    assert stats.min_pair_distance["1-6"] == pytest.approx(ch, abs=1e-4)
    assert set(stats.min_pair_distance) == {"1-1", "1-6", "1-8", "6-8"}
    again = DatasetStatistics.from_dict(stats.to_dict())
    assert again.min_pair_distance == stats.min_pair_distance
    old = {k: v for k, v in stats.to_dict().items() if k != "min_pair_distance"}
    assert DatasetStatistics.from_dict(old).min_pair_distance == {}  # statistics written before it existed


def _model(record):
    return forcefields.create_model("mpnn-xs", hidden=8, num_layers=1, elements=(1, 6, 8), seed=0,
                                    min_pair_distance=record, dtype=torch.float64)


def test_calculator_warns_once_naming_the_pair_and_distance():
    atoms = molecule("CH3OH")
    calc = forcefields.calculator(_model({"1-6": 1.05, "6-8": 1.3, "1-8": 0.9, "1-1": 1.6}))
    atoms.calc = calc
    with warnings.catch_warnings():
        warnings.simplefilter("error", ExtrapolationWarning)
        atoms.get_potential_energy()  # the equilibrium geometry is inside the record
    h = [i for i, zz in enumerate(atoms.numbers) if zz == 1 and np.linalg.norm(atoms.positions[i] - atoms.positions[0]) < 1.2][0]
    atoms.positions[h] = atoms.positions[0] + 0.6 * (atoms.positions[h] - atoms.positions[0]) / np.linalg.norm(atoms.positions[h] - atoms.positions[0])
    with pytest.warns(ExtrapolationWarning) as caught:
        atoms.get_potential_energy()
    message = str(caught[0].message)
    assert f"atoms 0 (C) and {h} (H) are 0.600 Å apart" in message and "H-C" in message and "1.050 Å" in message
    atoms.positions[h] = atoms.positions[0] + 0.5 * (atoms.positions[h] - atoms.positions[0]) / 0.6
    with warnings.catch_warnings():
        warnings.simplefilter("error", ExtrapolationWarning)
        atoms.get_potential_energy()  # once per calculator: no second warning
    fresh = forcefields.calculator(calc.model)
    with pytest.warns(ExtrapolationWarning):  # a new calculator (a new run) warns again
        fresh.get_potential_energy(atoms)


def test_shipped_checkpoint_without_the_record_loads_and_never_warns():
    config = forcefields.zoo.format.read_config(REPO / "checkpoints" / "egnn-s.rmd17-aspirin")
    assert "min_pair_distance" not in config["model"]  # an old checkpoint
    atoms = molecule("CH3OH")
    atoms.positions[1] = atoms.positions[0] + [0.3, 0.0, 0.0]
    atoms.calc = forcefields.calculator("egnn-s.rmd17-aspirin")
    with warnings.catch_warnings():
        warnings.simplefilter("error", ExtrapolationWarning)
        assert np.isfinite(atoms.get_potential_energy())
