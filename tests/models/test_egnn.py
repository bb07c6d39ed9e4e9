"""The multi-channel EGNN: E(3)-invariant energies, equivariant forces (both heads)."""

from __future__ import annotations

import pytest
import torch

from forcefields.models import build_model
from forcefields.models.egnn import EGNN, EGNNConfig
from forcefields.testing import (
    assert_batch_consistent,
    assert_equivariant,
    assert_forces_match_finite_differences,
    assert_permutation_invariant,
    assert_smooth_at_cutoff,
    assert_translation_invariant,
    evaluate,
    make_molecules,
)

TINY = dict(hidden=8, num_layers=2, num_rbf=4, num_vectors=3, cutoff=4.0)


def tiny(force_mode: str = "conservative", **kw) -> EGNN:
    config = EGNNConfig(**{**TINY, "force_mode": force_mode, **kw})
    return build_model("egnn", config, dtype=torch.float64, seed=0).eval()


@pytest.fixture(scope="module")
def batch():
    return make_molecules(num_molecules=3, atoms=(3, 6), seed=4)


@pytest.mark.parametrize("force_mode", ["conservative", "direct"])
def test_e3_symmetries(batch, force_mode):
    model = tiny(force_mode)
    assert_equivariant(model, batch, reflect=True)
    assert_translation_invariant(model, batch)
    assert_permutation_invariant(model, batch)
    assert_batch_consistent(model, batch)
    assert_smooth_at_cutoff(model)


@pytest.mark.parametrize("options", [dict(radial_filter=True), dict(vector_products=True)])
def test_filter_and_products_keep_the_symmetries(batch, options):
    model = tiny(**options)
    assert_equivariant(model, batch, reflect=True)
    assert_permutation_invariant(model, batch)
    assert_smooth_at_cutoff(model)
    assert_forces_match_finite_differences(model, batch, max_atoms=3)


def test_filter_and_products_are_used(batch):
    # Zeroing the filter's last layer, or the products' mixing, must change the energy.
    model = tiny(radial_filter=True, vector_products=True)
    e0, _ = evaluate(model, batch)
    with torch.no_grad():
        for block in model.blocks:
            block.filter[-1].weight.zero_()
            block.filter[-1].bias.zero_()
    e1, _ = evaluate(model, batch)
    assert (e0 - e1).abs().max() > 1e-6
    model = tiny(radial_filter=True, vector_products=True)
    with torch.no_grad():
        for block in model.blocks:
            block.products.weight.zero_()
    e2, _ = evaluate(model, batch)
    # the vectors start small, so the products move the energy only a little
    assert (e0 - e2).abs().max() > 1e-9


def test_checkpoints_without_the_switches_build_the_original_block():
    # A config.json written before the switches existed has neither key.
    model = build_model("egnn", EGNNConfig(**TINY), dtype=torch.float64, seed=0)
    assert all(block.filter is None and block.products is None for block in model.blocks)


def test_conservative_forces_are_gradients(batch):
    assert_forces_match_finite_differences(tiny(), batch, max_atoms=4)


def test_direct_forces_are_nonzero(batch):
    _, forces = evaluate(tiny("direct"), batch)
    assert forces.abs().max() > 1e-6


def test_vector_channels_change_the_energy(batch):
    # With the vector update muted the energy must differ: the channels are used.
    model = tiny()
    e0, _ = evaluate(model, batch)
    for block in model.blocks:
        block.mix.data.zero_()
    e1, _ = evaluate(model, batch)
    assert not torch.allclose(e0, e1)


@pytest.mark.parametrize("force_mode", ["conservative", "direct"])
def test_every_parameter_learns(batch, force_mode):
    model = tiny(force_mode).train()
    out = model(batch)
    loss = out["energy"].pow(2).sum() + out["forces"].pow(2).sum()
    loss.backward()
    silent = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not silent, f"parameters without gradient: {silent}"


def test_positions_are_not_updated(batch):
    model = tiny()
    pos = batch.pos.clone()
    model(batch)
    assert torch.equal(batch.pos, pos)


def test_config_round_trip_and_validation():
    config = EGNNConfig(**TINY)
    assert EGNNConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="num_vectors"):
        EGNN(EGNNConfig(num_vectors=0))
