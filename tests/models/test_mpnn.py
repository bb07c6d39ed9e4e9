"""The unconstrained MPNN: translation invariant, smooth, trainable, but not rotation invariant."""

from __future__ import annotations

import pytest
import torch

from forcefields.models import build_model, create_model
from forcefields.models.mpnn import MPNN, MPNNConfig
from forcefields.testing import (
    assert_batch_consistent,
    assert_forces_match_finite_differences,
    assert_permutation_invariant,
    assert_smooth_at_cutoff,
    assert_translation_invariant,
    check_rotation_equivariance,
    evaluate,
    make_molecules,
)

TINY = dict(hidden=8, num_layers=2, num_rbf=4, cutoff=4.0)


def tiny(force_mode: str = "conservative", **kw) -> MPNN:
    config = MPNNConfig(**{**TINY, "force_mode": force_mode, **kw})
    return build_model("mpnn", config, dtype=torch.float64, seed=0).eval()


@pytest.fixture(scope="module")
def batch():
    return make_molecules(num_molecules=3, atoms=(3, 6), seed=3)


@pytest.mark.parametrize("force_mode", ["conservative", "direct"])
def test_invariances_that_hold(batch, force_mode):
    model = tiny(force_mode)
    assert_translation_invariant(model, batch)
    assert_permutation_invariant(model, batch)
    assert_batch_consistent(model, batch)
    assert_smooth_at_cutoff(model)


def test_conservative_forces_are_gradients(batch):
    assert_forces_match_finite_differences(tiny(), batch, max_atoms=4)


@pytest.mark.parametrize("force_mode", ["conservative", "direct"])
def test_rotation_error_is_measured_not_zero(batch, force_mode):
    # Raw Cartesian components reach the MLPs, so rotating the molecule changes
    # the prediction; the error is what training's augmentation must shrink.
    e_err, f_err = check_rotation_equivariance(tiny(force_mode), batch)
    assert e_err > 1e-9 and f_err > 1e-9


def test_direct_head_is_not_the_gradient(batch):
    direct = tiny("direct")
    _, forces = evaluate(direct, batch)
    conservative = tiny("conservative")
    conservative.load_state_dict(direct.state_dict(), strict=False)
    _, grad_forces = evaluate(conservative, batch)
    assert forces.shape == batch.pos.shape
    assert not torch.allclose(forces, grad_forces)


@pytest.mark.parametrize("force_mode", ["conservative", "direct"])
def test_every_parameter_learns(batch, force_mode):
    model = tiny(force_mode).train()
    out = model(batch)
    loss = out["energy"].pow(2).sum() + out["forces"].pow(2).sum()
    loss.backward()
    silent = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not silent, f"parameters without gradient: {silent}"


def test_neighbour_normalisation_is_used(batch):
    a, _ = evaluate(tiny(avg_num_neighbors=5.0), batch)
    b, _ = evaluate(tiny(avg_num_neighbors=50.0), batch)
    assert not torch.allclose(a, b)


def test_stored_edges_give_the_same_result(batch):
    from forcefields.data.neighbors import radius_graph

    model = tiny()
    with_edges = batch.clone()
    with_edges.edge_index = radius_graph(batch.pos, model.cutoff, batch.batch)
    e0, f0 = evaluate(model, batch)
    out = model(with_edges)
    assert torch.allclose(out["energy"], e0, atol=1e-12)
    assert torch.allclose(out["forces"], f0, atol=1e-12)


def test_config_round_trip_and_validation():
    config = MPNNConfig(**TINY, envelope_exponent=5)
    again = MPNNConfig.from_dict(config.to_dict())
    assert again == config
    with pytest.raises(ValueError, match="hidden"):
        MPNN(MPNNConfig(hidden=0))


def test_float32_default(batch):
    model = create_model("mpnn-xs")
    out = model(make_molecules(2, atoms=4, dtype=torch.float32))
    assert out["energy"].dtype == torch.float32 and torch.isfinite(out["forces"]).all()
