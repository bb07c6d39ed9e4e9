"""Radial bases and smooth cutoff envelopes (distances in Å)."""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["BesselBasis", "PolynomialEnvelope", "RadialEmbedding"]


class PolynomialEnvelope(nn.Module):
    """Smooth cutoff u(d) with u(0)=1 and u, u', u'' -> 0 at the cutoff.

    The polynomial of Klicpera et al. (DimeNet) with exponent ``p``; zero for d >= cutoff.

    Parameters
    ----------
    cutoff : float, Å
    p : int, smoothness (default 6)
    """

    def __init__(self, cutoff: float, p: int = 6):
        super().__init__()
        self.cutoff = float(cutoff)
        self.p = int(p)

    def forward(self, d: torch.Tensor) -> torch.Tensor:
        """d : (E,) Å -> (E,) dimensionless."""
        p = self.p
        x = d / self.cutoff
        a = -(p + 1) * (p + 2) / 2
        b = p * (p + 2)
        c = -p * (p + 1) / 2
        xp = x.pow(p)
        u = 1 + a * xp + b * xp * x + c * xp * x * x
        return torch.where(x < 1, u, torch.zeros_like(u))


class BesselBasis(nn.Module):
    """sin(k pi d / c) / d radial basis, k = 1..num_basis, with trainable frequencies.

    Parameters
    ----------
    cutoff : float, Å
    num_basis : int
    trainable : bool
    """

    def __init__(self, cutoff: float, num_basis: int = 8, trainable: bool = False):
        super().__init__()
        self.cutoff = float(cutoff)
        freqs = torch.arange(1, num_basis + 1, dtype=torch.get_default_dtype()) * math.pi / self.cutoff
        if trainable:
            self.freqs = nn.Parameter(freqs)
        else:
            self.register_buffer("freqs", freqs)
        self.prefactor = math.sqrt(2.0 / self.cutoff)

    def forward(self, d: torch.Tensor) -> torch.Tensor:
        """d : (E,) Å -> (E, num_basis)."""
        d = d.unsqueeze(-1)
        return self.prefactor * torch.sin(self.freqs * d) / d.clamp_min(1e-6)


class RadialEmbedding(nn.Module):
    """Bessel basis times the smooth envelope: (E,) distances -> (E, num_basis)."""

    def __init__(self, cutoff: float, num_basis: int = 8, p: int = 6, trainable: bool = False):
        super().__init__()
        self.basis = BesselBasis(cutoff, num_basis, trainable)
        self.envelope = PolynomialEnvelope(cutoff, p)
        self.num_basis = num_basis

    def forward(self, d: torch.Tensor) -> torch.Tensor:
        return self.basis(d) * self.envelope(d).unsqueeze(-1)
