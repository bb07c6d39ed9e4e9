"""Multi-layer perceptrons."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["MLP", "ScalarOutput"]


class ScalarOutput(nn.Linear):
    """``nn.Linear(in_features, 1)`` computed as a matrix-vector product.

    The same parameters and numbers (to round-off) as the linear layer. Its
    backward is an outer product rather than an ``(n, 1) @ (1, in)`` matrix
    product, which ``torch.compile``'s inductor rewrites element-wise while
    ``n + in <= 32`` and guards on: a compiled network at width 16 was
    compiled again once a molecule passed 16 atoms.
    """

    def __init__(self, in_features: int, bias: bool = True):
        super().__init__(in_features, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.mv(x.reshape(-1, self.in_features), self.weight[0])
        if self.bias is not None:
            out = out + self.bias  # not addmv, whose bias broadcasts wrongly over zero rows
        return out.view(*x.shape[:-1], 1)


class MLP(nn.Sequential):
    """Linear layers with SiLU between them (none after the last).

    Parameters
    ----------
    sizes : sequence of int, [in, hidden..., out]; an output of width 1 is a
        :class:`ScalarOutput` (the same parameters as ``nn.Linear``)
    bias_last : bool, bias on the final layer
    """

    def __init__(self, sizes: list[int] | tuple[int, ...], bias_last: bool = True):
        layers: list[nn.Module] = []
        for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            last = k == len(sizes) - 2
            bias = bias_last or not last
            layers.append(ScalarOutput(a, bias=bias) if last and b == 1 else nn.Linear(a, b, bias=bias))
            if not last:
                layers.append(nn.SiLU())
        super().__init__(*layers)
