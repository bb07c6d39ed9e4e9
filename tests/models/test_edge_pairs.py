"""Tests of edge pairing (each bond's two directions share one edge frame in esen)."""

from __future__ import annotations

import pytest
import torch

from forcefields.data.neighbors import radius_graph_torch
from forcefields.models import create_model
from forcefields.models import esen as esen_module
from forcefields.nn.edge_pairs import pair_edges
from forcefields.nn.irreps_rotation import EdgeRotation
from forcefields.nn.so2 import SO2Layout
from forcefields.testing import make_molecules


def test_a_radius_graph_pairs_every_edge_with_its_reverse():
    gen = torch.Generator().manual_seed(0)
    pos = torch.randn(12, 3, generator=gen) * 2.0
    edge_index = radius_graph_torch(pos, 3.0, torch.zeros(12, dtype=torch.long))
    shuffled = edge_index[:, torch.randperm(edge_index.shape[1], generator=gen)]
    forward, reverse = pair_edges(shuffled, 12)
    assert 2 * forward.numel() == shuffled.shape[1]
    assert torch.equal(shuffled[:, reverse], shuffled[:, forward].flip(0))
    assert bool((shuffled[0, forward] < shuffled[1, forward]).all())
    # every edge is used exactly once
    assert torch.equal(torch.cat([forward, reverse]).sort().values, torch.arange(shuffled.shape[1]))


@pytest.mark.parametrize(
    "edges",
    [
        [[0, 1, 1], [1, 0, 2]],  # odd count
        [[0, 1, 2, 2], [1, 2, 0, 1]],  # 0->1 has no reverse
        [[0, 1, 1, 1], [1, 0, 1, 1]],  # self-loops
        [[0, 1, 0, 1], [1, 0, 1, 0]],  # a repeated edge
    ],
)
def test_lists_that_do_not_pair_return_none(edges):
    assert pair_edges(torch.tensor(edges), 3) is None


def test_empty_list_pairs_trivially():
    forward, reverse = pair_edges(torch.zeros(2, 0, dtype=torch.long), 1)
    assert forward.numel() == reverse.numel() == 0


@pytest.mark.parametrize("lmax", [1, 2, 4])
def test_reverse_signs_give_a_frame_of_the_reversed_edge(lmax):
    """Rows of S M map the reversed edge onto the y axis: their m = 0 rows are -u's harmonics."""
    rotation = EdgeRotation(lmax)
    rows = SO2Layout(lmax, min(lmax, 2)).components
    vec = torch.randn(40, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    signs = rotation.reverse_signs(rows, vec)
    assert set(signs.tolist()) <= {-1.0, 1.0}
    flipped = rotation.frame_matrix(vec, rows) * signs.view(1, -1, 1)
    torch.testing.assert_close(rotation.harmonics(flipped, rows), rotation.harmonics(rotation.frame_matrix(-vec, rows), rows),
                               rtol=0, atol=1e-12)
    # an orthogonal frame: rows of S M for all m stay orthonormal per degree (lmax <= mmax case)
    if lmax <= 2:
        m = flipped
        torch.testing.assert_close(m @ m.transpose(1, 2), torch.eye(m.shape[1], dtype=m.dtype).expand_as(m @ m.transpose(1, 2)),
                                   rtol=0, atol=1e-12)


@pytest.mark.parametrize("name,parity,endpoints", [
    ("esen-l2-xs", True, "both"), ("esen-l1-xs", False, "both"), ("esen-l4-xs", True, "both"),
    ("esen-l2-xs", True, "source"), ("esen-l1-xs", False, "source"),
])
def test_paired_and_unpaired_edges_give_the_same_energy_forces_and_gradients(name, parity, endpoints, monkeypatch):
    torch.manual_seed(0)
    model = create_model(name, parity=parity, endpoints=endpoints).double().train()
    mols = make_molecules(num_molecules=3, atoms=(5, 10), seed=4, dtype=torch.float64)

    def run():
        out = model(mols, compute_forces=True)
        loss = out["energy"].square().sum() + out["forces"].square().sum()
        grads = torch.autograd.grad(loss, list(model.parameters()), allow_unused=True)
        return out["energy"].detach(), out["forces"].detach(), [g for g in grads if g is not None]

    calls = []
    original = esen_module.pair_edges
    monkeypatch.setattr(esen_module, "pair_edges", lambda *a: calls.append(original(*a)) or calls[-1])
    e_paired, f_paired, g_paired = run()
    assert calls and calls[-1] is not None  # the radius graph did pair (in training mode)
    monkeypatch.setattr(esen_module, "pair_edges", lambda *a: None)
    e_single, f_single, g_single = run()
    torch.testing.assert_close(e_paired, e_single, rtol=0, atol=1e-11)
    torch.testing.assert_close(f_paired, f_single, rtol=0, atol=1e-11)
    for a, b in zip(g_paired, g_single):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10)


def test_inference_keeps_one_frame_per_edge(monkeypatch):
    """Pairing only pays off under the double backward of training (measured); eval does not pair."""
    model = create_model("esen-l2-xs").double().eval()
    mols = make_molecules(num_molecules=2, atoms=(5, 8), seed=2, dtype=torch.float64)
    calls = []
    monkeypatch.setattr(esen_module, "pair_edges", lambda *a: calls.append(a))
    model(mols, compute_forces=True)
    assert not calls
