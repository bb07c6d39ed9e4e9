"""One timed training step, as :class:`forcefields.training.module.ForceFieldModule` takes it.

Forward pass with forces (for conservative models the force backward keeps its
graph), the energy + force loss, the backward pass to the trainable
parameters only, and an AdamW step. The neighbour list is built once, outside
the timed step, as a data loader builds it; the targets are fixed random
numbers (eV, eV/Å), which cost what real labels cost.
"""

from __future__ import annotations

from typing import Callable

import torch

from ..data.neighbors import radius_graph
from ..training.backward import backward_to_parameters, trainable_parameters
from ..training.losses import EnergyForceLoss

__all__ = ["training_step"]


def training_step(model: torch.nn.Module, batch, seed: int = 0) -> Callable[[], float]:
    """A function that takes one training step of ``model`` on ``batch`` and returns the loss.

    Parameters
    ----------
    model : ForceField, in any mode; it is switched to training mode for each
        step and back to the mode it had after it
    batch : torch_geometric Batch with ``z``, ``pos`` (n, 3) Å, ``natoms``
        (B,) and ``batch`` (n,), from :func:`forcefields.bench.systems.to_batch`
    seed : seed of the random targets

    Returns
    -------
    step : callable () -> float, the loss of the step

    Notes
    -----
    The optimiser's learning rate is 0: every step does AdamW's full arithmetic
    and leaves the weights as they were, so the steps time the same model and
    the model serves the other regimes unchanged afterwards.
    """
    params = trainable_parameters(model)
    if not params:
        raise ValueError("the model has no trainable parameter; a training step cannot be timed for it.")
    optimizer = torch.optim.AdamW(params, lr=0.0)
    loss_fn = EnergyForceLoss()
    gen = torch.Generator().manual_seed(seed)
    n_graphs = int(batch.natoms.numel())
    target_energy = torch.randn(n_graphs, generator=gen).to(batch.pos)
    target_forces = torch.randn(batch.pos.shape, generator=gen).to(batch.pos)
    batch.edge_index = radius_graph(batch.pos, float(model.cutoff), batch.batch)

    def step() -> float:
        was_training = model.training
        model.train()
        try:
            out = model(batch, compute_forces=True)
            loss = loss_fn(out["energy"], out["forces"], target_energy, target_forces, batch.natoms, batch.batch)["total"]
            backward_to_parameters(loss, model)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        finally:
            model.train(was_training)
        return float(loss.detach())

    return step
