"""Freezing: which parameters each family freezes, and that frozen weights stay bit-identical."""

from __future__ import annotations

import pytest
import torch

import forcefields
from forcefields.models import create_model
from forcefields.training.freeze import freeze, num_blocks, parameter_groups, parameter_parts

from . import _tiny

TINY = {
    "mpnn-xs": dict(hidden=8, num_layers=2, num_rbf=4),
    "egnn-xs": dict(hidden=8, num_layers=2, num_rbf=4, num_vectors=2),
    "esen-l1-xs": dict(hidden=4, num_layers=2, num_rbf=4),
}


@pytest.mark.parametrize("name", sorted(TINY))
@pytest.mark.parametrize("force_mode", ["conservative", "direct"])
def test_every_parameter_has_a_part(name, force_mode):
    model = create_model(name, force_mode=force_mode, **TINY[name])
    parts = parameter_parts(model)
    assert set(parts) == {n for n, _ in model.named_parameters()}
    assert set(parts.values()) == {"input", "block0", "block1", "readout"}
    assert num_blocks(model) == 2


@pytest.mark.parametrize("name", sorted(TINY))
def test_freeze_k_and_backbone(name):
    model = create_model(name, **TINY[name])
    parts = parameter_parts(model)
    frozen = set(freeze(model, 1))
    assert frozen == {n for n, p in parts.items() if p in ("input", "block0")}
    assert all(p.requires_grad == (n not in frozen) for n, p in model.named_parameters())

    model = create_model(name, **TINY[name])
    frozen = set(freeze(model, "backbone"))
    assert frozen == {n for n, p in parts.items() if p != "readout"}
    assert freeze(create_model(name, **TINY[name]), 0) == []


def test_bad_freeze_requests_are_refused():
    model = create_model("mpnn-xs", **TINY["mpnn-xs"])
    with pytest.raises(ValueError, match="more interaction blocks than the model has"):
        freeze(model, 3)
    with pytest.raises(ValueError, match="not understood"):
        freeze(model, "head")


def test_parameter_groups_give_the_backbone_a_lower_rate():
    model = create_model("egnn-xs", **TINY["egnn-xs"])
    freeze(model, 1)
    groups = {g["name"]: g for g in parameter_groups(model, 1e-3, 0.1)}
    assert groups["readout"]["lr"] == pytest.approx(1e-3)
    assert groups["backbone"]["lr"] == pytest.approx(1e-4)
    in_groups = {id(p) for g in groups.values() for p in g["params"]}
    assert in_groups == {id(p) for p in model.parameters() if p.requires_grad}
    with pytest.raises(ValueError, match="backbone_lr_factor"):
        parameter_groups(model, 1e-3, 0.0)


def test_frozen_weights_stay_bit_identical_and_replay_is_mixed_in(parent_dir, new_data, replay_data):
    parent = forcefields.load(str(parent_dir))
    result = forcefields.finetune(
        str(parent_dir), str(new_data), energy_key="REF_energy", forces_key="REF_forces",
        freeze=1, backbone_lr_factor=0.1, replay=0.25, replay_data=str(replay_data),
        split="0.8,0.2", max_epochs=3, batch_size=8, warmup_steps=0, verbose=False, print_table=False,
    )
    parts = parameter_parts(parent)
    frozen = [n for n, p in parts.items() if p in ("input", "block0")]
    trained = [n for n, p in parts.items() if p in ("block1", "readout")]
    assert _tiny.same_parameters(parent, result.model, frozen)
    changed = [n for n in trained if not _tiny.same_parameters(parent, result.model, [n])]
    assert changed, "the unfrozen block and the readout must have learned"
    assert result.metrics["frozen"]["names"] == frozen
    # 32 training frames, replay 25 % of the training frames -> 32 * 0.25 / 0.75 = 11 (rounded)
    assert result.metrics["frames"]["train"] == 32 and result.metrics["frames"]["replay"] == 11


def test_energy_shift_of_replay_frames():
    from torch_geometric.data import Data

    from forcefields.training.finetune_data import EnergyShifted

    items = [Data(z=torch.tensor([1, 1, 8]), energy=torch.tensor([-10.0], dtype=torch.float64))]
    shift = torch.zeros(119, dtype=torch.float64)
    shift[1], shift[8] = 0.5, -2.0
    shifted = EnergyShifted(items, shift)
    assert float(shifted[0].energy) == pytest.approx(-10.0 + 0.5 + 0.5 - 2.0)
    assert float(items[0].energy) == -10.0  # the source is untouched
