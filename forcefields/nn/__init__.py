"""Shared neural-network blocks."""

from .mlp import MLP
from .radial import BesselBasis, PolynomialEnvelope, RadialEmbedding

__all__ = ["MLP", "BesselBasis", "PolynomialEnvelope", "RadialEmbedding"]
