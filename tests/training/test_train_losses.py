"""Loss functions against hand computations."""

import math

import pytest
import torch

from forcefields.training.losses import EnergyForceLoss


@pytest.fixture
def two_molecules():
    # molecule 0: 2 atoms, molecule 1: 1 atom
    energy = torch.tensor([1.0, -2.0])
    target_energy = torch.tensor([0.4, -1.0])  # ΔE = 0.6, -1.0
    forces = torch.tensor([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 3.0]])
    target_forces = torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, -1.0]])
    natoms = torch.tensor([2, 1])
    batch = torch.tensor([0, 0, 1])
    return energy, forces, target_energy, target_forces, natoms, batch


def test_mse_by_hand(two_molecules):
    loss = EnergyForceLoss("mse", energy_weight=2.0, forces_weight=3.0)
    out = loss(*two_molecules)
    e_term = ((0.6 / 2) ** 2 + (1.0 / 1) ** 2) / 2
    f_term = (1.0 + 4.0 + 16.0) / 9  # squared component errors over 9 components
    assert out["energy"].item() == pytest.approx(e_term)
    assert out["forces"].item() == pytest.approx(f_term)
    assert out["total"].item() == pytest.approx(2 * e_term + 3 * f_term)


def test_l1norm_by_hand(two_molecules):
    loss = EnergyForceLoss("l1norm", energy_weight=1.0, forces_weight=0.5)
    out = loss(*two_molecules)
    e_term = (0.6 / 2 + 1.0 / 1) / 2
    # per-atom norms 1, 2 (molecule 0, mean 1.5) and 4 (molecule 1); mean over molecules
    f_term = (1.5 + 4.0) / 2
    assert out["energy"].item() == pytest.approx(e_term)
    assert out["forces"].item() == pytest.approx(f_term, rel=1e-6)
    assert out["total"].item() == pytest.approx(e_term + 0.5 * f_term, rel=1e-6)


def test_huber_by_hand(two_molecules):
    delta = 0.5
    loss = EnergyForceLoss("huber", energy_weight=1.0, forces_weight=1.0, huber_delta=delta)
    out = loss(*two_molecules)

    def h(x):
        x = abs(x)
        return 0.5 * x * x if x <= delta else delta * (x - 0.5 * delta)

    e_term = (h(0.3) + h(1.0)) / 2
    f_term = (h(1.0) + h(2.0) + h(4.0)) / 9
    assert out["energy"].item() == pytest.approx(e_term)
    assert out["forces"].item() == pytest.approx(f_term)


def test_l1norm_gradient_finite_at_zero_error(two_molecules):
    energy, forces, _, _, natoms, batch = two_molecules
    forces = forces.clone().requires_grad_(True)
    out = EnergyForceLoss("l1norm")(energy, forces, energy, forces.detach(), natoms, batch)
    out["total"].backward()
    assert torch.isfinite(forces.grad).all()


def test_default_weights_depend_on_the_loss():
    assert EnergyForceLoss("mse").forces_weight == 100.0
    assert EnergyForceLoss("l1norm").forces_weight == 1.0
    assert EnergyForceLoss("l1norm", forces_weight=7).forces_weight == 7.0


def test_unknown_loss_is_one_clear_error():
    with pytest.raises(ValueError, match="use one of"):
        EnergyForceLoss("mae")
    with pytest.raises(ValueError, match="non-negative"):
        EnergyForceLoss("mse", energy_weight=-1)
    assert math.isfinite(EnergyForceLoss("huber").huber_delta)
