"""Every registered variant passes the standard checks of forcefields.testing.

Sizes in FULL_CHECK_SIZES run every check in float64; larger sizes are built
on the meta device and only their construction and parameter count are
checked. The second half shows that the checks catch broken models.
"""

from __future__ import annotations

import pytest
import torch

from forcefields.cli.models import count_parameters
from forcefields.models import build_model, create_model, get_variant, list_models
from forcefields.models.mpnn import MPNN, MPNNConfig
from forcefields.testing import (
    FULL_CHECK_SIZES,
    assert_batch_consistent,
    assert_equivariant,
    assert_forces_match_finite_differences,
    assert_permutation_invariant,
    assert_smooth_at_cutoff,
    assert_training_lowers_loss,
    make_molecules,
    random_rotation,
    run_standard_checks,
)

SMALL = [n for n in list_models() if get_variant(n).size in FULL_CHECK_SIZES]
LARGE = [n for n in list_models() if get_variant(n).size not in FULL_CHECK_SIZES]


@pytest.mark.parametrize("name", SMALL)
def test_standard_checks(name):
    results = run_standard_checks(name)
    assert set(results) >= {"conservative/rotation", "direct/rotation"}


@pytest.mark.parametrize("name", LARGE)
def test_large_variant_builds(name):
    with torch.device("meta"):
        model = create_model(name, seed=None)
    assert model.num_parameters() == count_parameters(name) > 0
    config = get_variant(name).build_config()
    assert model.config == config


# ------------------------------------------------- the checks catch bugs
TINY = MPNNConfig(hidden=8, num_layers=1, num_rbf=4, cutoff=4.0)


class HardCutoffMPNN(MPNN):
    """Messages not multiplied by the envelope: energy jumps at the cutoff."""

    def __init__(self, config):
        super().__init__(config)
        self.radial.envelope.forward = lambda d: torch.ones_like(d)


class IndexDependentMPNN(MPNN):
    """Weights each atom's energy by its place in the batch: not permutation invariant."""

    def atomic_outputs(self, species, edge_index, edge_vec, batch, num_graphs):
        s, v = super().atomic_outputs(species, edge_index, edge_vec, batch, num_graphs)
        return s * (1 + 0.1 * torch.arange(s.shape[0], dtype=s.dtype)), v


class BatchCoupledMPNN(MPNN):
    """Normalises by the number of molecules in the batch: single molecules differ."""

    def atomic_outputs(self, species, edge_index, edge_vec, batch, num_graphs):
        s, v = super().atomic_outputs(species, edge_index, edge_vec, batch, num_graphs)
        return s / num_graphs, v


class WrongForcesMPNN(MPNN):
    def forward(self, data, compute_forces=True, create_graph=None):
        out = super().forward(data, compute_forces, create_graph)
        if "forces" in out:
            out["forces"] = 1.1 * out["forces"]
        return out


class FrozenModel(MPNN):
    """No trainable parameters move: training cannot lower the loss."""

    def __init__(self, config):
        super().__init__(config)
        for p in self.parameters():
            p.requires_grad_(False)
        self.dummy = torch.nn.Parameter(torch.zeros(()))


def _tiny(cls, **kw):
    torch.manual_seed(0)
    config = MPNNConfig(**{**TINY.to_dict(), **kw})
    return cls(config).double().eval()


@pytest.fixture(scope="module")
def batch():
    return make_molecules(num_molecules=2, atoms=(4, 5), seed=7)


def test_checks_accept_a_correct_model(batch):
    model = _tiny(MPNN)
    assert_smooth_at_cutoff(model)
    assert_permutation_invariant(model, batch)
    assert_batch_consistent(model, batch)
    assert_forces_match_finite_differences(model, batch, max_atoms=2)
    assert_training_lowers_loss(model, batch, steps=5, min_drop=0.05)


def test_equivariance_check_catches_the_mpnn(batch):
    with pytest.raises(AssertionError, match="not equivariant"):
        assert_equivariant(_tiny(MPNN), batch)


def test_smoothness_check_catches_a_hard_cutoff():
    with pytest.raises(AssertionError, match="not smooth"):
        assert_smooth_at_cutoff(_tiny(HardCutoffMPNN))


def test_permutation_check_catches_index_dependence(batch):
    with pytest.raises(AssertionError, match="permutation"):
        assert_permutation_invariant(_tiny(IndexDependentMPNN), batch)


def test_batch_check_catches_coupling(batch):
    with pytest.raises(AssertionError, match="alone differs"):
        assert_batch_consistent(_tiny(BatchCoupledMPNN), batch)


def test_finite_difference_check_catches_wrong_forces(batch):
    with pytest.raises(AssertionError, match="finite differences"):
        assert_forces_match_finite_differences(_tiny(WrongForcesMPNN), batch, max_atoms=2)
    with pytest.raises(ValueError, match="direct"):
        assert_forces_match_finite_differences(_tiny(MPNN, force_mode="direct"), batch)


def test_training_check_catches_a_frozen_model(batch):
    with pytest.raises(AssertionError, match="did not lower"):
        assert_training_lowers_loss(_tiny(FrozenModel), batch, steps=3)


def test_random_rotation_is_orthogonal():
    gen = torch.Generator().manual_seed(0)
    for reflect, det in [(False, 1.0), (True, -1.0)]:
        r = random_rotation(torch.float64, reflect=reflect, generator=gen)
        assert torch.allclose(r @ r.T, torch.eye(3, dtype=torch.float64), atol=1e-12)
        assert float(torch.linalg.det(r)) == pytest.approx(det)


def test_make_molecules_looks_like_molecules():
    batch = make_molecules(num_molecules=4, atoms=(3, 9), seed=2)
    assert set(batch.z.tolist()) <= {1, 6, 7, 8}
    assert batch.natoms.sum() == batch.pos.shape[0] == batch.forces.shape[0]
    for k in range(4):
        p = batch.pos[batch.batch == k]
        d = torch.cdist(p, p) + 10 * torch.eye(len(p), dtype=p.dtype)
        assert d.min() >= 0.9 - 1e-12
    # Labels are a conservative potential: sums of forces vanish per molecule.
    for k in range(4):
        assert batch.forces[batch.batch == k].sum(0).abs().max() < 1e-10
