"""Product of a tensor with one that holds two of its shape along a dimension, with a fast backward.

``small.unsqueeze(dim) * big``, where ``big`` has size 2 along ``dim``, comes
up wherever one factor is shared by a pair: the two halves (an edge and its
reverse) of a paired SO(2) convolution, the ``+m`` and ``-m`` rows of an
edge-frame block under a gate. torch's backward of the broadcast product
reduces ``grad * big`` over that dimension of two; on a CPU that reduction ran
5x slower than adding the two halves (``benchmarks/esen_speed/README.md``,
round 8), which is what the backward here does. The backward is written in
differentiable operations (itself through :func:`pair_product`), so
derivatives of every order follow.
"""

from __future__ import annotations

import torch

from .frame_product import engine_uses_gradient

__all__ = ["pair_product"]


class _PairProduct(torch.autograd.Function):
    @staticmethod
    def forward(small: torch.Tensor, big: torch.Tensor, dim: int) -> torch.Tensor:
        return small.unsqueeze(dim) * big

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        small, big, dim = inputs
        ctx.dim = dim
        ctx.save_for_backward(small, big)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        small, big = ctx.saved_tensors
        grad_small = grad_big = None
        if engine_uses_gradient(ctx, 0, small):
            first, second = (grad * big).unbind(ctx.dim)
            grad_small = first + second
        if engine_uses_gradient(ctx, 1, big):
            grad_big = _PairProduct.apply(small, grad, ctx.dim)
        return grad_small, grad_big, None


def pair_product(small: torch.Tensor, big: torch.Tensor, dim: int) -> torch.Tensor:
    """``small.unsqueeze(dim) * big`` for ``big`` of size 2 along ``dim``; gradients add the two halves.

    Parameters
    ----------
    small : (..., *rest) tensor, the shared factor
    big : tensor of ``small``'s shape with a dimension of size 2 inserted at ``dim``
    dim : int, non-negative

    Returns
    -------
    tensor of ``big``'s shape, equal to the broadcast product; gradients equal
    torch's to round-off.
    """
    if big.shape[dim] != 2 or big.dim() != small.dim() + 1:
        raise ValueError(
            f"pair_product needs big to be small's shape with a dimension of 2 at {dim}; "
            f"got small {tuple(small.shape)} and big {tuple(big.shape)}."
        )
    if not (small.requires_grad or big.requires_grad):
        return small.unsqueeze(dim) * big
    return _PairProduct.apply(small, big, dim)
