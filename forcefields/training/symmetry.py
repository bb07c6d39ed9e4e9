"""Rotational symmetry for models that do not have it built in.

Two ways to teach an unconstrained model (the ``mpnn`` family) rotation
invariance of energies and equivariance of forces, usable with any family:

* augmentation: :func:`rotate_batch` turns each molecule (positions and force
  labels) by its own random rotation, a fresh one every step;
* the symmetry loss of Ngo & Ravanbakhsh (arXiv 2510.09768),
  :func:`symmetry_loss`: predict on M random rotations of each molecule,
  rotate the predicted forces back, and penalise their disagreement
  (energies should agree, forces should co-rotate).
"""

from __future__ import annotations

import copy
from types import SimpleNamespace
from typing import Any

import torch
from e3nn import o3

from .losses import EnergyForceLoss

__all__ = ["random_rotations", "rotate_batch", "symmetry_loss"]


def random_rotations(num: int, dtype: torch.dtype = torch.float32, device: Any = None) -> torch.Tensor:
    """``num`` rotation matrices drawn uniformly from SO(3) (Haar measure), (num, 3, 3)."""
    return o3.rand_matrix(num, dtype=dtype, device=device)


def rotate_batch(batch: Any, rotations: torch.Tensor) -> Any:
    """A shallow copy of ``batch`` with molecule ``b`` turned by ``rotations[b]``.

    Parameters
    ----------
    batch : Batch with ``pos`` (n, 3) Å, ``batch`` (n,) and optionally ``forces`` (n, 3) eV/Å
    rotations : (B, 3, 3), applied as ``r -> R r`` to positions and force labels

    The neighbour list is kept: rotations preserve distances.
    """
    index = getattr(batch, "batch", None)
    if index is None:
        index = torch.zeros(batch.pos.shape[0], dtype=torch.long, device=batch.pos.device)
    per_atom = rotations.to(batch.pos.dtype)[index]
    out = copy.copy(batch)
    out.pos = torch.einsum("nij,nj->ni", per_atom, batch.pos)
    forces = getattr(batch, "forces", None)
    if forces is not None:
        out.forces = torch.einsum("nij,nj->ni", per_atom.to(forces.dtype), forces)
    return out


def _stack_rotated(batch: Any, rotations: torch.Tensor) -> tuple[Any, torch.Tensor]:
    """M rotated copies of the batch as one larger batch.

    Parameters
    ----------
    rotations : (M, B, 3, 3)

    Returns
    -------
    stacked : namespace with ``z``, ``pos``, ``batch``, ``edge_index``, ``num_graphs``
    per_atom : (M, n, 3, 3) rotation of each atom of each copy
    """
    m, num_graphs = rotations.shape[0], int(batch.num_graphs)
    n = batch.pos.shape[0]
    per_atom = rotations.to(batch.pos.dtype)[:, batch.batch]  # (M, n, 3, 3)
    pos = torch.einsum("mnij,nj->mni", per_atom, batch.pos).reshape(m * n, 3)
    offsets = torch.arange(m, device=batch.pos.device)
    edge_index = (batch.edge_index.unsqueeze(0) + (offsets * n).view(m, 1, 1)).permute(1, 0, 2).reshape(2, -1)
    graph = (batch.batch.unsqueeze(0) + (offsets * num_graphs).view(m, 1)).reshape(-1)
    stacked = SimpleNamespace(
        z=batch.z.repeat(m), pos=pos, edge_index=edge_index, batch=graph, num_graphs=m * num_graphs
    )
    return stacked, per_atom


def symmetry_loss(model: torch.nn.Module, batch: Any, num_rotations: int, loss_fn: EnergyForceLoss) -> torch.Tensor:
    """Disagreement of the model's predictions across random rotations of its input.

    Each molecule is turned by ``num_rotations`` independent random rotations;
    the M predicted forces are rotated back to the input frame. With ``Ē`` and
    ``F̄`` the means over the M copies, the loss is
    ``(1/M) Σ_m loss_fn(E_m, R_m^T F_m ; Ē, F̄)``: for ``"mse"`` this is
    ``w_E Var_m(E/n) + w_F Var_m(F)``, zero exactly when the model is invariant.

    Parameters
    ----------
    model : ForceField
    batch : Batch with ``z``, ``pos``, ``batch``, ``edge_index``, ``natoms``, ``num_graphs``
    num_rotations : int, M >= 2
    loss_fn : the data loss, reused with the mean prediction as the target

    Returns
    -------
    scalar tensor (units of ``loss_fn``)
    """
    if num_rotations < 2:
        raise ValueError(f"the symmetry loss needs at least 2 rotations; got {num_rotations}.")
    m, num_graphs = num_rotations, int(batch.num_graphs)
    rotations = random_rotations(m * num_graphs, dtype=batch.pos.dtype, device=batch.pos.device)
    rotations = rotations.view(m, num_graphs, 3, 3)
    stacked, per_atom = _stack_rotated(batch, rotations)
    out = model(stacked, compute_forces=True)
    n = batch.pos.shape[0]
    energy = out["energy"].view(m, num_graphs)
    # back to the input frame: R^T F
    forces = torch.einsum("mnji,mnj->mni", per_atom, out["forces"].view(m, n, 3))
    mean_e, mean_f = energy.mean(0), forces.mean(0)
    terms = [
        loss_fn(energy[k], forces[k], mean_e, mean_f, batch.natoms, batch.batch)["total"] for k in range(m)
    ]
    return torch.stack(terms).mean()
