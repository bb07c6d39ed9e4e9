"""The published numbers to show next to ours (Ngo & Ravanbakhsh, arXiv 2510.09768).

Exponents of L(N, D) = E + A·N^−α + B·D^−β and L(C) = E + F·C^−γ, and κ in
the paper's convention C ≈ 3κND. Keys are this project's family labels.
"""

from __future__ import annotations

__all__ = ["PAPER", "paper_row"]

PAPER: dict[str, dict[str, float | str | None]] = {
    "mpnn": {"label": "unconstrained MPNN", "alpha": 0.28, "beta": 0.31, "gamma": 0.14, "kappa": 2.33},
    "egnn": {"label": "MC-EGNN", "alpha": 0.39, "beta": 0.39, "gamma": 0.17, "kappa": 28.09},
    "gemnet": {"label": "GemNet-OC", "alpha": 0.52, "beta": 0.50, "gamma": 0.25, "kappa": 35.18},
    "esen-l2": {"label": "eSEN ℓmax=2", "alpha": None, "beta": None, "gamma": 0.35, "kappa": None},
    "esen-l4": {"label": "eSEN ℓmax=4", "alpha": 0.82, "beta": 0.75, "gamma": 0.40, "kappa": 74.36},
}


def paper_row(family: str) -> dict[str, float | str | None] | None:
    """The paper's numbers for a family label (``"gemnet-oc"`` and ``"gemnet"`` alike), or None."""
    key = "gemnet" if family.startswith("gemnet") else family
    return PAPER.get(key)
