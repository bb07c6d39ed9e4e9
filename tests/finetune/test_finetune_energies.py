"""Reference energies: the refit is the least-squares fit, the other modes keep or take E0."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch_geometric.data import Batch, Data

from forcefields.data.neighbors import radius_graph
from forcefields.training.finetune_energies import element_counts, parse_e0, reference_energies

from . import _tiny


def _graphs(frames):
    out = []
    for atoms in frames:
        pos = torch.tensor(atoms.positions, dtype=torch.float64)
        out.append(Data(z=torch.tensor(atoms.numbers), pos=pos, edge_index=radius_graph(pos, _tiny.CUTOFF)))
    return out


def _inputs(frames):
    z = np.concatenate([a.numbers for a in frames])
    natoms = np.array([len(a) for a in frames])
    energy = np.array([a.info["REF_energy"] for a in frames])
    loader = [Batch.from_data_list(_graphs(frames[i : i + 3])) for i in range(0, len(frames), 3)]
    return z, natoms, energy, loader


def _network_part(model, frames):
    """E_model - sum E0_model, frame by frame, through the public forward."""
    e0 = model.atomic_energies.detach().double()
    out = []
    for g in _graphs(frames):
        e = float(model(g, compute_forces=False)["energy"].detach()[0])
        out.append(e - float(e0[g.z].sum()))
    return np.array(out)


def test_refit_matches_a_direct_least_squares_fit():
    model = _tiny.tiny_parent(dtype=torch.float64).eval()
    frames = _tiny.labelled(("H2O", "CH4", "CH3OH", "C2H6"), 12, seed=2, offsets=_tiny.OFFSETS)
    z, natoms, energy, loader = _inputs(frames)
    fit = reference_energies(model, "refit", z, natoms, energy, loader, model.config.elements)

    counts = element_counts(z, natoms, [1, 6, 8])
    assert np.linalg.matrix_rank(counts) == 3  # the compositions determine every E0
    expected, *_ = np.linalg.lstsq(counts, energy - _network_part(model, frames), rcond=None)
    got = np.array([fit["atomic_energies"][e] for e in (1, 6, 8)])
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-8)
    assert fit["fitted"] == [1, 6, 8]
    assert model.atomic_energies[1].item() == pytest.approx(0.1)  # the input model is not modified


def test_refit_on_one_molecule_corrects_the_mean_by_the_smallest_shift():
    model = _tiny.tiny_parent(dtype=torch.float64).eval()
    frames = _tiny.labelled(("CH3OH",), 6, seed=3, offsets=_tiny.OFFSETS)
    z, natoms, energy, loader = _inputs(frames)
    fit = reference_energies(model, "refit", z, natoms, energy, loader, model.config.elements)
    counts = element_counts(z, natoms, [1, 6, 8])[0]  # every frame is C H4 O
    residual = energy - _network_part(model, frames) - counts @ np.array([0.1, 0.6, 0.8])
    shift = np.array([fit["shift"][e] for e in (1, 6, 8)])
    assert counts @ shift == pytest.approx(residual.mean(), abs=1e-6)
    np.testing.assert_allclose(shift, counts * residual.mean() / (counts @ counts), atol=1e-6)


def test_parent_and_user_modes():
    model = _tiny.tiny_parent(dtype=torch.float64).eval()
    frames = _tiny.labelled(("H2O", "CH4", "CH3OH"), 6, seed=4, offsets=_tiny.OFFSETS)
    z, natoms, energy, loader = _inputs(frames)
    kept = reference_energies(model, "parent", z, natoms, energy, loader, model.config.elements)
    assert kept["atomic_energies"] == pytest.approx({1: 0.1, 6: 0.6, 8: 0.8}) and kept["fitted"] == []
    user = parse_e0('{"H": -13.6, "6": -1029.8, "8": -2041.3}')
    given = reference_energies(model, "user", z, natoms, energy, loader, model.config.elements, user)
    assert given["atomic_energies"] == pytest.approx(user)
    # an element new to the parent and not given is fitted: pretend the parent never saw O
    partial = reference_energies(model, "user", z, natoms, energy, loader, [1, 6], {1: -13.6, 6: -1029.8})
    assert partial["fitted"] == [8] and partial["atomic_energies"][1] == -13.6


def test_bad_reference_energy_requests():
    model = _tiny.tiny_parent(dtype=torch.float64).eval()
    frames = _tiny.labelled(("H2O",), 3, seed=5)
    z, natoms, energy, loader = _inputs(frames)
    with pytest.raises(ValueError, match="needs the energies"):
        reference_energies(model, "user", z, natoms, energy, loader, model.config.elements)
    with pytest.raises(ValueError, match="reference_energies='user'"):
        reference_energies(model, "refit", z, natoms, energy, loader, model.config.elements, {1: -13.6})
    with pytest.raises(ValueError, match="not known"):
        reference_energies(model, "guess", z, natoms, energy, loader, model.config.elements)
    with pytest.raises(ValueError, match="not valid JSON"):
        parse_e0("{1: -13.6}")
    with pytest.raises(ValueError, match="neither an atomic number nor an element symbol"):
        parse_e0({"Hydrogen": -13.6})
