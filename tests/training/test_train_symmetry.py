"""Rotation augmentation and the symmetry loss."""

import numpy as np
import pytest
import torch
from torch_geometric.data import Batch

from forcefields.training.losses import EnergyForceLoss
from forcefields.training.symmetry import random_rotations, rotate_batch, symmetry_loss
from train_helpers import PairToy, VectorToy, labelled_atoms, tiny_graphs, tiny_mpnn, to_graph, toy


def test_random_rotations_are_proper_rotations():
    r = random_rotations(16, dtype=torch.float64)
    eye = torch.eye(3, dtype=torch.float64).expand(16, 3, 3)
    torch.testing.assert_close(r @ r.transpose(1, 2), eye)
    torch.testing.assert_close(torch.linalg.det(r), torch.ones(16, dtype=torch.float64))


def test_rotation_augmentation_matches_relabelling_the_rotated_molecule():
    from ase.calculators.emt import EMT

    atoms = labelled_atoms(3, seed=4)
    batch = Batch.from_data_list([to_graph(a, dtype=torch.float64) for a in atoms])
    rotations = random_rotations(3, dtype=torch.float64)
    rotated = rotate_batch(batch, rotations)
    assert rotated.pos is not batch.pos and not torch.allclose(rotated.pos, batch.pos)
    for b, a in enumerate(atoms):
        moved = a.copy()
        moved.positions = rotated.pos[batch.batch == b].numpy()
        moved.calc = EMT()
        # labels rotated with the positions are the forces of the rotated molecule
        np.testing.assert_allclose(rotated.forces[batch.batch == b].numpy(), moved.get_forces(), atol=1e-8)
        assert moved.get_potential_energy() == pytest.approx(float(batch.energy[b]), abs=1e-8)
    # distances (so the neighbour list) are unchanged
    d0 = (batch.pos[batch.edge_index[0]] - batch.pos[batch.edge_index[1]]).norm(dim=-1)
    d1 = (rotated.pos[batch.edge_index[0]] - rotated.pos[batch.edge_index[1]]).norm(dim=-1)
    torch.testing.assert_close(d0, d1)


@pytest.mark.parametrize("force_mode", ["conservative", "direct"])
def test_symmetry_loss_zero_for_invariant_positive_for_unconstrained(force_mode):
    torch.manual_seed(0)
    batch = Batch.from_data_list(tiny_graphs(3, seed=1, dtype=torch.float64))
    loss_fn = EnergyForceLoss("mse")
    invariant = toy(PairToy, force_mode=force_mode).double().train()
    unconstrained = toy(VectorToy, force_mode=force_mode).double().train()
    assert symmetry_loss(invariant, batch, 5, loss_fn).item() < 1e-20
    value = symmetry_loss(unconstrained, batch, 5, loss_fn)
    assert value.item() > 1e-8
    value.backward()  # the loss trains the model
    grads = [p.grad for p in unconstrained.parameters() if p.grad is not None]
    assert grads and any(g.abs().sum() > 0 for g in grads)


def test_symmetry_loss_on_the_mpnn_family():
    torch.manual_seed(0)
    batch = Batch.from_data_list(tiny_graphs(2, seed=2))
    value = symmetry_loss(tiny_mpnn().train(), batch, 3, EnergyForceLoss("l1norm"))
    assert value.item() > 0
    with pytest.raises(ValueError, match="at least 2"):
        symmetry_loss(tiny_mpnn(), batch, 1, EnergyForceLoss("mse"))
