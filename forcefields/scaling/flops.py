"""Compute, counted: FLOPs of forward and backward on real batches.

:class:`torch.utils.flop_counter.FlopCounterMode` counts the floating-point
operations of the matrix products (``mm``, ``addmm``, ``bmm``, convolutions,
attention) that run inside it, forward and backward, at 2 FLOPs per
multiply-add. Element-wise work, gathers and scatters are not counted: for
these networks the products dominate, and this is the convention of compute
scaling laws (C ≈ 6ND for dense networks). A training step's compute is then

    C = flops_per_structure × D,    κ = C / (N · D) = flops_per_structure / N,

with N the number of parameters. Ngo & Ravanbakhsh write C ≈ 3κND, so their
κ is ours divided by three (:data:`PAPER_KAPPA_FACTOR`); both are recorded.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Iterable

import torch
from torch.utils.flop_counter import FlopCounterMode

__all__ = ["count_flops", "training_step_flops", "measure_training_cost", "PAPER_KAPPA_FACTOR"]

# The paper's convention C ≈ 3κND: its κ is C / (3 N D).
PAPER_KAPPA_FACTOR = 3.0


def count_flops(fn: Callable[[], Any]) -> int:
    """FLOPs of the matrix products ``fn()`` runs, forward and backward (2 per multiply-add).

    Parameters
    ----------
    fn : a callable without arguments (e.g. a forward pass followed by ``loss.backward()``)

    Returns
    -------
    int, total FLOPs counted by ``FlopCounterMode``.
    """
    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def _step(model: torch.nn.Module, loss_fn: Callable, batch: Any) -> torch.Tensor:
    out = model(batch, compute_forces=True)
    parts = loss_fn(out["energy"], out["forces"], batch.energy, batch.forces, batch.natoms, batch.batch)
    parts["total"].backward()
    return parts["total"]


def training_step_flops(model: torch.nn.Module, loss_fn: Callable, batch: Any) -> int:
    """FLOPs of one training step (forward, loss, backward) of ``model`` on ``batch``.

    Parameters
    ----------
    model : ForceField; its gradients are cleared afterwards
    loss_fn : callable ``(energy, forces, target_energy, target_forces, natoms, batch) -> {"total": ...}``
        (an :class:`~forcefields.training.losses.EnergyForceLoss`)
    batch : a batch of molecular graphs (``energy`` (B,) eV, ``forces`` (n, 3) eV/Å, ...)
    """
    try:
        return count_flops(lambda: _step(model, loss_fn, batch))
    finally:
        model.zero_grad(set_to_none=True)


def measure_training_cost(model: torch.nn.Module, loss_fn: Callable, batches: Iterable[Any]) -> dict[str, Any]:
    """FLOPs and wall-clock seconds per structure of training steps on real batches.

    FLOPs are counted on each batch; the time is measured on separate,
    uncounted steps (the counter itself costs time), after one warm-up step.

    Parameters
    ----------
    model : ForceField (gradients cleared afterwards; weights unchanged: no optimiser step)
    loss_fn : the training loss (see :func:`training_step_flops`)
    batches : a few training batches

    Returns
    -------
    dict with ``flops_per_structure`` (FLOPs), ``seconds_per_structure`` (s),
    ``atoms_per_structure``, ``structures`` (how many were measured),
    ``num_parameters`` and ``kappa`` = flops_per_structure / num_parameters,
    ``kappa_paper`` = kappa / 3 (the paper's C ≈ 3κND convention).
    """
    batches = list(batches)
    if not batches:
        raise ValueError("no batches to measure; give at least one training batch.")
    flops = structures = atoms = 0
    for batch in batches:
        flops += training_step_flops(model, loss_fn, batch)
        structures += int(batch.num_graphs)
        atoms += int(batch.natoms.sum())
    _step(model, loss_fn, batches[0])  # warm-up (allocations, lazy initialisation)
    model.zero_grad(set_to_none=True)
    start = time.perf_counter()
    for batch in batches:
        _step(model, loss_fn, batch)
        model.zero_grad(set_to_none=True)
    seconds = time.perf_counter() - start
    n_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    per_structure = flops / structures
    return {
        "flops_per_structure": per_structure,
        "seconds_per_structure": seconds / structures,
        "atoms_per_structure": atoms / structures,
        "structures": structures,
        "num_parameters": n_params,
        "kappa": per_structure / n_params,
        "kappa_paper": per_structure / n_params / PAPER_KAPPA_FACTOR,
        "counter": "torch.utils.flop_counter.FlopCounterMode (matrix products, forward + backward, 2 FLOPs per MAC)",
    }
