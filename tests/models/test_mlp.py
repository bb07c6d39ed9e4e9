"""MLP heads: a width-1 output is a matrix-vector product with nn.Linear's parameters and numbers."""

from __future__ import annotations

import torch
from torch import nn

from forcefields.nn import MLP
from forcefields.nn.mlp import ScalarOutput


def test_scalar_output_is_a_linear_layer_with_the_same_numbers_and_gradients():
    torch.manual_seed(0)
    for bias in (True, False):
        ours, plain = ScalarOutput(5, bias=bias).double(), nn.Linear(5, 1, bias=bias).double()
        plain.load_state_dict(ours.state_dict())
        x = torch.randn(2, 7, 5, dtype=torch.float64, requires_grad=True)
        a, b = ours(x), plain(x)
        assert a.shape == b.shape == (2, 7, 1)
        torch.testing.assert_close(a, b)
        (ga,) = torch.autograd.grad(a.square().sum(), x, create_graph=True)  # the force, then its double backward
        (gb,) = torch.autograd.grad(b.square().sum(), x, create_graph=True)
        torch.testing.assert_close(ga, gb)
        wa = torch.autograd.grad(ga.sum(), ours.weight)[0]
        wb = torch.autograd.grad(gb.sum(), plain.weight)[0]
        torch.testing.assert_close(wa, wb)
        assert ours(torch.zeros(0, 5, dtype=torch.float64)).shape == (0, 1)  # no atoms: no energies


def test_mlp_keeps_linear_parameter_names_and_initialisation():
    torch.manual_seed(3)
    head = MLP([8, 4, 1])
    torch.manual_seed(3)
    plain = nn.Sequential(nn.Linear(8, 4), nn.SiLU(), nn.Linear(4, 1))
    assert isinstance(head[2], ScalarOutput) and isinstance(head[2], nn.Linear)
    assert list(head.state_dict()) == list(plain.state_dict())  # checkpoints load unchanged
    for a, b in zip(head.state_dict().values(), plain.state_dict().values()):
        assert torch.equal(a, b)
    assert not isinstance(MLP([8, 4, 3])[2], ScalarOutput)
