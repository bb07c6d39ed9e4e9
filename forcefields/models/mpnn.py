"""Unconstrained message-passing network: the ``mpnn`` family.

The bottom step of the symmetry staircase (Ngo & Ravanbakhsh, arXiv
2510.09768): messages read the raw relative position vector
``r_ij = r_j - r_i``, its three Cartesian components each multiplied by the
radial basis of the distance (``r_ij ⊗ rbf(d_ij)``, 3R numbers), next to the
radial basis itself and the two atoms' features. Nothing constrains how the
network uses those components, so the model is translation
invariant (it only sees differences) and permutation invariant, but neither
rotation nor reflection invariant: its rotation error is measured, not assumed
away (rotation augmentation and the symmetry loss live in training).

Every message is multiplied by the smooth polynomial envelope, so energies and
forces go to zero, with continuous derivatives, as a pair crosses the cutoff.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn
from torch.nn import functional as F

from ..nn import MLP, RadialEmbedding
from .base import ForceField, ForceFieldConfig
from .registry import register_family, register_sizes

__all__ = ["MPNNConfig", "MPNN"]


@dataclass
class MPNNConfig(ForceFieldConfig):
    """Hyper-parameters of the unconstrained MPNN.

    Inherits every field of :class:`ForceFieldConfig` (``hidden`` is the width
    the size presets scale; ``num_layers`` is the fixed depth).

    Attributes
    ----------
    envelope_exponent : int
        Smoothness ``p`` of the polynomial cutoff envelope.
    """

    envelope_exponent: int = 6

    def validate(self) -> None:
        super().validate()
        if self.hidden < 2 or self.num_layers < 1 or self.num_rbf < 1:
            raise ValueError(
                f"hidden={self.hidden}, num_layers={self.num_layers}, num_rbf={self.num_rbf} "
                "are too small; use hidden >= 2, num_layers >= 1 and num_rbf >= 1."
            )


class MessageBlock(nn.Module):
    """One round of message passing with a residual feature update.

    The message MLP ``W2 silu(W1 [h_j, h_i, e_ij] + b1) + b2`` is evaluated
    without any ``H x H`` product per edge: ``W1`` is split into sender,
    receiver and edge parts (the first two act once per atom), and ``W2``,
    being linear, is applied after the envelope-weighted sum over neighbours
    (``sum_j u_ij (W2 a_ij + b2) = W2 sum_j u_ij a_ij + b2 sum_j u_ij``).

    Parameters
    ----------
    hidden : int, feature width H
    edge_dim : int, width of the edge features e_ij
    """

    def __init__(self, hidden: int, edge_dim: int):
        super().__init__()
        self.sender = nn.Linear(hidden, hidden, bias=False)
        self.receiver = nn.Linear(hidden, hidden)
        self.edge = nn.Linear(edge_dim, hidden, bias=False)
        self.message = nn.Linear(hidden, hidden)
        self.update = MLP([2 * hidden, hidden, hidden])

    def forward(
        self,
        h: torch.Tensor,
        edge_feat: torch.Tensor,
        envelope: torch.Tensor,
        envelope_sum: torch.Tensor,
        src: torch.Tensor,
        dst: torch.Tensor,
        norm: float,
    ) -> torch.Tensor:
        """
        Parameters
        ----------
        h : (n, H) features
        edge_feat : (E, edge_dim) edge features
        envelope : (E,) cutoff envelope u_ij
        envelope_sum : (n,) sum of u_ij over each atom's neighbours
        src, dst : (E,) sender j and receiver i
        norm : float, average neighbour count

        Returns
        -------
        (n, H) updated features
        """
        pre = (
            self.sender(h).index_select(0, src)
            + self.receiver(h).index_select(0, dst)
            + self.edge(edge_feat)
        )
        weighted = F.silu(pre) * envelope.unsqueeze(-1)
        summed = torch.zeros_like(h).index_add(0, dst, weighted)
        agg = F.linear(summed, self.message.weight) + envelope_sum.unsqueeze(-1) * self.message.bias
        return h + self.update(torch.cat([h, agg / norm], dim=-1))


@register_family
class MPNN(ForceField):
    """Unconstrained (translation-invariant only) message-passing force field.

    Edge features are ``[r_ij ⊗ rbf(d_ij), rbf(d_ij)]`` (4R numbers): the raw
    Cartesian components modulated by each radial function, and the radial
    functions. The products give the first layer a linear path to pairwise
    terms like ``g(d) r_ij`` that an MLP on ``[r_ij, rbf]`` must first learn to
    multiply out (with plain ``[r_ij, rbf]`` the direct force head sat on a
    plateau for hundreds of steps on rMD17 aspirin).

    With ``force_mode="direct"`` an MLP maps each atom's final features to an
    unconstrained 3-vector (eV/Å after the base class's energy scale).
    """

    family = "mpnn"
    config_class = MPNNConfig
    direct_head_prefixes = ("vector_head",)
    symmetry: ClassVar[str] = "T(3)"
    lmax: ClassVar[int | None] = None

    def __init__(self, config: MPNNConfig):
        super().__init__(config)
        hidden = config.hidden
        self.embedding = nn.Embedding(self.num_elements, hidden)
        self.radial = RadialEmbedding(config.cutoff, config.num_rbf, p=config.envelope_exponent)
        self.blocks = nn.ModuleList(
            MessageBlock(hidden, 4 * config.num_rbf) for _ in range(config.num_layers)
        )
        self.readout = MLP([hidden, max(hidden // 2, 1), 1])
        self.vector_head = None if self.conservative else MLP([hidden, hidden, 3])

    def finetune_parts(self) -> dict[str, list[str]]:
        """Input stage, interaction blocks and readout (see :meth:`ForceField.finetune_parts`)."""
        return {
            "input": ["embedding", "radial"],
            "blocks": [f"blocks.{k}" for k in range(len(self.blocks))],
            "readout": ["readout", "vector_head"],
        }

    def atomic_outputs(self, species, edge_index, edge_vec, batch, num_graphs):
        src, dst = edge_index[0], edge_index[1]
        dist = torch.linalg.vector_norm(edge_vec, dim=-1)
        rbf = self.radial(dist)
        # rbf carries 1/d, so r_ij * rbf is the unit vector times sin(k pi d / c) * envelope.
        edge_feat = torch.cat([(edge_vec.unsqueeze(-1) * rbf.unsqueeze(1)).flatten(1), rbf], dim=-1)
        envelope = self.radial.envelope(dist)
        envelope_sum = envelope.new_zeros(species.shape[0]).index_add(0, dst, envelope)
        norm = float(self.config.avg_num_neighbors)
        h = self.embedding(species)
        for block in self.blocks:
            h = block(h, edge_feat, envelope, envelope_sum, src, dst, norm)
        node_scalar = self.readout(h).squeeze(-1)
        node_vector = None if self.vector_head is None else self.vector_head(h)
        return node_scalar, node_vector


# Width-only scaling at fixed depth 3; lr transferred from lr* = 1e-2 at width 64,
# tuned on rMD17 aspirin with batches of 4 over 6-minute budgets (3e-3: 91.6,
# 1e-2: 87.7 meV/Å test force MAE, 3e-2 diverged; see benchmarks/tuning/README.md).
register_sizes(
    "mpnn",
    {"xs": 32, "s": 64, "m": 128, "l": 256, "xl": 512},
    lr_star=1e-2,
    base_width=64,
    num_layers=3,
)
