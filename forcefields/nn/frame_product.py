"""Batched product of small per-edge matrices with features, shaped for double backward.

Conservative training differentiates the forces, which are themselves a
gradient: every product ``y = M @ x`` of an edge-frame rotation ``M`` (E, K, K)
with features ``x`` (E, K, C) is differentiated twice. torch's own backward of
``torch.bmm`` writes ``dL/dM = g @ x^T``, and differentiating *that* product
with respect to ``x`` produces ``g^T @ gg``, a batch of (C, K) @ (K, K)
products. On a CPU those run 2-4x slower than the same arithmetic laid out as
``gg^T @ g``, (K, K) @ (K, C), whose transpose it is
(``benchmarks/esen_speed/README.md``, round 7). :func:`frame_product` computes
the same numbers with each derivative written in the fast layout.
"""

from __future__ import annotations

import torch

__all__ = ["frame_product"]


class _FrameProduct(torch.autograd.Function):
    """``M @ x``; backward ``(g @ x^T, M^T @ g)``, the first through :class:`_OuterProduct`."""

    @staticmethod
    def forward(matrix: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return torch.bmm(matrix, x)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        ctx.save_for_backward(*inputs)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        matrix, x = ctx.saved_tensors
        grad_matrix = _OuterProduct.apply(grad, x) if ctx.needs_input_grad[0] else None
        grad_x = torch.bmm(matrix.transpose(1, 2), grad) if ctx.needs_input_grad[1] else None
        return grad_matrix, grad_x


class _OuterProduct(torch.autograd.Function):
    """``g @ x^T`` (E, K, K) from g, x (E, K, C); backward ``(gg @ x, gg^T @ g)``, both (K, K) @ (K, C)."""

    @staticmethod
    def forward(grad: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return torch.bmm(grad, x.transpose(1, 2))

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        ctx.save_for_backward(*inputs)

    @staticmethod
    def backward(ctx, grad_outer: torch.Tensor):
        grad, x = ctx.saved_tensors
        grad_grad = torch.bmm(grad_outer, x) if ctx.needs_input_grad[0] else None
        grad_x = torch.bmm(grad_outer.transpose(1, 2), grad) if ctx.needs_input_grad[1] else None
        return grad_grad, grad_x


def frame_product(matrix: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``torch.bmm(matrix, x)`` with derivatives of every order laid out as (K, K) @ (K, C) products.

    Parameters
    ----------
    matrix : (E, K_out, K) per-edge matrices (rotations into or out of edge frames)
    x : (E, K, C) per-edge features

    Returns
    -------
    (E, K_out, C), equal to ``torch.bmm(matrix, x)``; gradients equal torch's
    to round-off.
    """
    if not (matrix.requires_grad or x.requires_grad):
        return torch.bmm(matrix, x)
    return _FrameProduct.apply(matrix, x)
