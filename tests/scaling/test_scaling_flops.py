"""The FLOP counter against hand counts: one linear layer, one small graph layer, and a real model."""

from __future__ import annotations

import torch
from torch import nn

from forcefields.scaling import count_flops, measure_training_cost, training_step_flops


def test_linear_layer_forward_backward_matches_hand_count():
    torch.manual_seed(0)
    batch, fan_in, fan_out = 7, 5, 3
    layer = nn.Linear(fan_in, fan_out)
    x = torch.randn(batch, fan_in, requires_grad=True)
    flops = count_flops(lambda: layer(x).sum().backward())
    # forward 2·B·I·O; backward: grad of input 2·B·I·O and grad of weight 2·B·I·O
    assert flops == 6 * batch * fan_in * fan_out
    # without an input gradient the backward is the weight gradient only
    x2 = torch.randn(batch, fan_in)
    assert count_flops(lambda: layer(x2).sum().backward()) == 4 * batch * fan_in * fan_out


class _MessageLayer(nn.Module):
    """h_i' = W2 · Σ_{j→i} W1 h_j: one message-passing layer with two matrix products."""

    def __init__(self, width: int):
        super().__init__()
        self.message = nn.Linear(width, width)
        self.readout = nn.Linear(width, 1)

    def forward(self, h, edge_index):
        msg = self.message(h[edge_index[0]])  # (E, F)
        agg = torch.zeros_like(h).index_add(0, edge_index[1], msg)  # (n, F); scatter not counted
        return self.readout(agg).sum()


def test_graph_layer_matches_hand_count():
    torch.manual_seed(0)
    n, width = 6, 8
    edge_index = torch.tensor([[0, 1, 2, 3, 4, 5, 0, 2, 4], [1, 2, 3, 4, 5, 0, 3, 5, 1]])
    num_edges = edge_index.shape[1]
    layer = _MessageLayer(width)
    h = torch.randn(n, width, requires_grad=True)
    flops = count_flops(lambda: layer(h, edge_index).backward())
    # each product (M×K)·(K×N) costs 2MKN forward and 4MKN backward (input and weight gradients)
    assert flops == 6 * num_edges * width * width + 6 * n * width * 1


def test_training_flops_of_a_real_model_add_up_over_molecules(tiny_data):
    from ase.io import read
    from torch_geometric.data import Batch, Data

    from forcefields.data.neighbors import radius_graph
    from forcefields.models import create_model
    from forcefields.training.losses import EnergyForceLoss

    atoms = read(str(tiny_data), index=":2")

    def graph(a):
        pos = torch.tensor(a.positions, dtype=torch.float32)
        return Data(z=torch.tensor(a.numbers), pos=pos, energy=torch.tensor([a.get_potential_energy()], dtype=torch.float32),
                    forces=torch.tensor(a.get_forces(), dtype=torch.float32), edge_index=radius_graph(pos, 5.0),
                    natoms=torch.tensor([len(a)]))

    model = create_model("mpnn-xs", force_mode="direct", elements=(1, 6, 7, 8))
    loss = EnergyForceLoss("l1norm")
    one = Batch.from_data_list([graph(atoms[0])])
    same_twice = Batch.from_data_list([graph(atoms[0]), graph(atoms[0])])
    f1, f2 = training_step_flops(model, loss, one), training_step_flops(model, loss, same_twice)
    assert f1 > 0 and f2 == 2 * f1  # matrix products scale with atoms and edges
    assert all(p.grad is None for p in model.parameters())  # the counter leaves no gradients behind
    cost = measure_training_cost(model, loss, [one, same_twice])
    assert cost["flops_per_structure"] == f1
    assert cost["kappa"] == f1 / model.num_parameters()
    assert cost["seconds_per_structure"] > 0
