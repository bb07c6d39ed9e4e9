"""Equivariant operations on spherical-harmonic node features.

A feature tensor has shape ``(n, K, C)``: ``K`` spherical-harmonic
components (e3nn order, degree ``l`` at rows ``l**2 .. (l+1)**2 - 1``, or any
other order described by a per-row degree list) and ``C`` channels. Every
operation here acts identically on the ``2l+1`` components of a degree, so it
commutes with rotations (and, for features that transform like spherical
harmonics, with reflections).
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["degrees_of", "EquivariantRMSNorm", "Gate", "DegreeLinear"]


def degrees_of(lmax: int) -> list[int]:
    """Degree of each row of a full e3nn feature block: [0, 1, 1, 1, 2, ...] ((lmax+1)**2 entries)."""
    return [l for l in range(lmax + 1) for _ in range(2 * l + 1)]


class EquivariantRMSNorm(nn.Module):
    """Layer norm for (n, (lmax+1)**2, C) features.

    The scalar channels are centred; every degree is then divided by one
    per-atom RMS (the mean over degrees of each degree's mean square, so high
    degrees with many components do not dominate), and scaled by a learnt
    weight per (degree, channel). Only scalars get a bias.

    Parameters
    ----------
    lmax : int
    channels : int
    eps : float
    """

    def __init__(self, lmax: int, channels: int, eps: float = 1e-6):
        super().__init__()
        self.lmax = int(lmax)
        self.eps = float(eps)
        self.weight = nn.Parameter(torch.ones(self.lmax + 1, channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.register_buffer("degree", torch.tensor(degrees_of(self.lmax)), persistent=False)
        # 1 / (number of degrees * (2l+1) * C) per entry: the mean over degrees of each degree's mean square.
        inv = [1.0 / ((self.lmax + 1) * (2 * l + 1) * channels) for l in degrees_of(self.lmax) for _ in range(channels)]
        self.register_buffer("entry_weight", torch.tensor(inv), persistent=False)
        # 1 on the scalar row, 0 elsewhere (K, 1): the centring touches only the scalars.
        self.register_buffer("scalar_row", (torch.arange((self.lmax + 1) ** 2) == 0).float().unsqueeze(-1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (n, K, C) -> (n, K, C)."""
        rows, channels = x.shape[1], x.shape[2]
        # Centre the scalar row only: subtracting 0 * mean from the other rows leaves them exact.
        x = torch.addcmul(x, self.scalar_row.to(x.dtype), x[:, :1].mean(dim=-1, keepdim=True), value=-1.0)
        # Weighted mean square as one matrix-vector product.
        mean_sq = torch.mv(x.pow(2).reshape(x.shape[0], rows * channels), self.entry_weight.to(x.dtype))  # (n,)
        scale = self.weight.index_select(0, self.degree) * torch.rsqrt(mean_sq + self.eps).view(-1, 1, 1)
        bias = F.pad(self.bias.unsqueeze(0), (0, 0, 0, rows - 1))  # bias on the scalar row only
        return torch.addcmul(bias, x, scale)


class Gate(nn.Module):
    """Gated nonlinearity: SiLU on the scalar row, sigmoid gates on every l > 0 row.

    Parameters
    ----------
    degrees : sequence of int, the degree of each row; row 0 must be the only scalar row
    channels : int

    Notes
    -----
    The gates (one per degree l >= 1 and channel) come from invariant scalars,
    so multiplying all ``2l+1`` components of a degree by the same gate keeps
    the features equivariant.
    """

    def __init__(self, degrees: Sequence[int], channels: int):
        super().__init__()
        degrees = list(degrees)
        if degrees[0] != 0 or any(l == 0 for l in degrees[1:]):
            raise ValueError("Gate needs the scalar (l=0) row first and only once.")
        self.num_gates = max(degrees)
        self.channels = int(channels)
        # Row of each feature row among [scalar row, gate of l = 1, ..., gate of l = lmax].
        self.register_buffer("factor_row", torch.tensor(degrees, dtype=torch.long), persistent=False)

    def forward(self, x: torch.Tensor, gates: torch.Tensor) -> torch.Tensor:
        """x (..., K, C), gates (..., lmax * C) -> (..., K, C).

        One sigmoid over the scalar row and the gates, one product:
        ``silu(s) = s * sigmoid(s)`` on the scalar row, ``x * sigmoid(gate)`` elsewhere.
        """
        factors = torch.cat([x.narrow(-2, 0, 1), gates.unflatten(-1, (self.num_gates, self.channels))], dim=-2)
        return x * torch.sigmoid(factors).index_select(-2, self.factor_row)


class DegreeLinear(nn.Module):
    """Channel mixing within each degree: (n, (lmax+1)**2, C_in) -> (n, (lmax+1)**2, C_out).

    One weight matrix per degree (shared by its ``2l+1`` components), a bias on
    scalars only, and optionally ``extra_scalars`` additional invariant outputs
    computed from the scalar row (for example gates).

    Parameters
    ----------
    lmax, in_channels, out_channels : int
    extra_scalars : int
    """

    def __init__(self, lmax: int, in_channels: int, out_channels: int, extra_scalars: int = 0):
        super().__init__()
        self.lmax = int(lmax)
        self.out_channels = int(out_channels)
        self.extra_scalars = int(extra_scalars)
        self.scalar = nn.Linear(in_channels, out_channels + extra_scalars)
        bound = 1.0 / math.sqrt(in_channels)
        self.weight = nn.Parameter(torch.empty(self.lmax, in_channels, out_channels).uniform_(-bound, bound))
        self.register_buffer("row", torch.tensor([l - 1 for l in degrees_of(self.lmax)[1:]], dtype=torch.long), persistent=False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (n, K, C_in) -> (features (n, K, C_out), extra scalars (n, extra_scalars))."""
        scalars, rest = x.split([1, x.shape[1] - 1], dim=1)
        out0, extra = self.scalar(scalars.squeeze(1)).split([self.out_channels, self.extra_scalars], dim=-1)
        if self.lmax == 0:
            return out0.unsqueeze(1), extra
        # (K-1) small matmuls batched over rows: row k uses its degree's weight.
        rest = torch.matmul(rest.transpose(0, 1), self.weight.index_select(0, self.row)).transpose(0, 1)
        return torch.cat([out0.unsqueeze(1), rest], dim=1), extra
