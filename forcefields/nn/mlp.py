"""Multi-layer perceptrons."""

from __future__ import annotations

from torch import nn

__all__ = ["MLP"]


class MLP(nn.Sequential):
    """Linear layers with SiLU between them (none after the last).

    Parameters
    ----------
    sizes : sequence of int, [in, hidden..., out]
    bias_last : bool, bias on the final layer
    """

    def __init__(self, sizes: list[int] | tuple[int, ...], bias_last: bool = True):
        layers: list[nn.Module] = []
        for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            last = k == len(sizes) - 2
            layers.append(nn.Linear(a, b, bias=bias_last or not last))
            if not last:
                layers.append(nn.SiLU())
        super().__init__(*layers)
