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

A custom function's ``ctx.needs_input_grad`` says only whether an input
requires a gradient, not whether this backward pass will use it: the training
step's backward to the parameters reached the rotation matrices (which depend
on the positions alone) and computed their gradient for nothing. Each
derivative here is computed only when the autograd engine will run the node
that receives it (round 8).
"""

from __future__ import annotations

import torch
from torch.autograd.graph import _get_grad_fn_or_grad_acc

__all__ = ["frame_product", "engine_uses_gradient"]


def engine_uses_gradient(ctx, index: int, tensor: torch.Tensor) -> bool:
    """Whether the running backward pass needs the gradient of input ``index`` (``tensor``, saved).

    True when the input requires a gradient and the engine will execute the
    node that receives it; outside an engine's backward (where that cannot be
    asked) whenever the input requires a gradient. For the backward of any
    custom autograd function whose inputs are saved tensors.
    """
    if not ctx.needs_input_grad[index]:
        return False
    try:
        return torch._C._will_engine_execute_node(_get_grad_fn_or_grad_acc(tensor))
    except (AttributeError, RuntimeError):
        return True


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
        grad_matrix = _OuterProduct.apply(grad, x) if engine_uses_gradient(ctx, 0, matrix) else None
        grad_x = torch.bmm(matrix.transpose(1, 2), grad) if engine_uses_gradient(ctx, 1, x) else None
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
        grad_grad = torch.bmm(grad_outer, x) if engine_uses_gradient(ctx, 0, grad) else None
        grad_x = torch.bmm(grad_outer.transpose(1, 2), grad) if engine_uses_gradient(ctx, 1, x) else None
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
