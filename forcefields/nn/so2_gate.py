"""Gated nonlinearity on the ``|m|`` blocks of order-major edge-frame features.

The same function as :class:`forcefields.nn.irreps_ops.Gate` over the
concatenated features (SiLU on the scalar row, ``sigmoid(gate_l)`` on every
row of degree ``l > 0``), applied to the blocks an
:class:`forcefields.nn.so2.SO2Linear` returns with ``as_blocks``: block
``m = 0`` holds degrees ``0..lmax`` in order, so it takes the ``lmax + 1``
factors as they are, and block ``m > 0`` holds degrees ``m..lmax`` twice
(``+m`` then ``-m``), so it takes factors ``m..lmax`` broadcast over the pair.
Nothing is concatenated, no factor is expanded to one row per coefficient,
and the pair's gradient is a sum of two halves
(:func:`forcefields.nn.pair_product.pair_product`); round 9 of
``benchmarks/esen_speed/README.md``.
"""

from __future__ import annotations

import torch
from torch import nn

from .irreps_ops import Gate
from .pair_product import pair_product
from .so2 import SO2Layout

__all__ = ["SO2Gate"]


class SO2Gate(nn.Module):
    """Gate on order-major ``|m|`` blocks (no parameters).

    Parameters
    ----------
    lmax, mmax : int, as in :class:`forcefields.nn.so2.SO2Layout`
    channels : int, C
    """

    def __init__(self, lmax: int, mmax: int, channels: int):
        super().__init__()
        if not 1 <= lmax or not 0 <= mmax <= lmax:
            raise ValueError(f"SO2Gate needs lmax >= 1 and 0 <= mmax <= lmax; got lmax={lmax}, mmax={mmax}.")
        self.lmax, self.mmax, self.channels = int(lmax), int(mmax), int(channels)
        self.whole = Gate(SO2Layout(lmax, mmax).degrees, channels)

    def forward(
        self, blocks: torch.Tensor | list[torch.Tensor], gates: torch.Tensor
    ) -> torch.Tensor | list[torch.Tensor]:
        """Gate the features, whole or as blocks.

        Parameters
        ----------
        blocks : (E, K_t, C) order-major features, or the list of their mmax + 1
            ``|m|`` blocks, (E, lmax + 1, C) for m = 0 and (E, 2 (lmax + 1 - m), C) for m > 0
        gates : (E, lmax C), invariant gate inputs, degree-major

        Returns
        -------
        as ``blocks``: the whole features, or the list of gated blocks

        Notes
        -----
        The blocks save memory traffic (an esen-l2-xs training step at batch 16
        moves 6 % fewer bytes) but take more operations; for the small graphs of
        molecular dynamics, where operations cost more than bytes, the whole
        features go through the expanded factors of :class:`Gate` instead.
        """
        if isinstance(blocks, torch.Tensor):
            return self.whole(blocks, gates)
        if len(blocks) != self.mmax + 1:
            raise ValueError(f"SO2Gate(mmax={self.mmax}) takes {self.mmax + 1} blocks; got {len(blocks)}.")
        scalars = blocks[0]
        num_edges = scalars.shape[0]
        inputs = torch.cat([scalars[:, :1], gates.view(num_edges, self.lmax, self.channels)], dim=1)
        factors = torch.sigmoid(inputs)  # (E, lmax + 1, C): silu(s) = s * sigmoid(s) on the scalar row
        gated = [scalars * factors]
        for m, block in enumerate(blocks[1:], start=1):
            k = self.lmax + 1 - m
            pair = block.reshape(num_edges, 2, k, self.channels)
            gated.append(pair_product(factors[:, m:], pair, 1).view(num_edges, 2 * k, self.channels))
        return gated
