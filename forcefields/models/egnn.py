"""Multi-channel E(n)-equivariant graph network: the ``egnn`` family.

The EGNN of Satorras et al. (2021) generalised to ``C`` Cartesian vector
channels per atom (the MC-EGNN of Ngo & Ravanbakhsh, arXiv 2510.09768). Each
atom carries scalar features ``h_i`` (H) and vectors ``V_i`` (C, 3), starting
at zero. One layer:

    x_ij  = env(d_ij) * silu(W_s h_j + W_r h_i + W_e [rbf(d_ij), <V_i, u_ij>, <V_j, u_ij>, <V_i, V_j>] + b)
    V_i  += W_mix (1/N) sum_j [a_ij u_ij + b_ij V_j]      ((a, b) = W_g x_ij: C gates each)
    h_i  += phi_h(h_i, (1/N) sum_j (W_m x_ij + b_m env(d_ij)), |V_i|)

with ``u_ij = r_ij / d_ij`` and ``N`` the average neighbour count (``W_m`` is
applied after the sum, which is the same thing and saves an ``H x H`` product
per edge). Everything on an edge carries the envelope, so energies and forces
are smooth as atoms cross the cutoff.

Scalars see only distances and inner products, and vectors are built from
relative positions with scalar weights (no cross products), so the energy is
invariant under rotations, reflections and translations and the forces are
equivariant. Positions are never updated: the network is a potential, not a
coordinate refiner.
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

__all__ = ["EGNNConfig", "EGNN"]

# Keeps |V| differentiable (twice, for force training) where a channel is zero.
_NORM_EPS = 1e-6


@dataclass
class EGNNConfig(ForceFieldConfig):
    """Hyper-parameters of the multi-channel EGNN.

    Inherits every field of :class:`ForceFieldConfig`.

    Attributes
    ----------
    num_vectors : int
        Vector channels per atom, C (the presets use hidden // 8).
    envelope_exponent : int
        Smoothness ``p`` of the polynomial cutoff envelope.
    radial_filter : bool
        Multiply each message by a learned function of the distance, an MLP of
        the radial basis (as SchNet's and PaiNN's filters), rather than only
        adding the basis inside the message's nonlinearity.
    vector_products : bool
        Give the scalar update the C invariants ``<U V_i, W V_i>`` of two
        channel mixings of the atom's vectors (as PaiNN's update), which
        couple the directions gathered from different neighbours.

    The two switches default to off so that checkpoints written before they
    existed load unchanged; the registered variants turn them on.
    """

    num_vectors: int = 8
    envelope_exponent: int = 6
    radial_filter: bool = False
    vector_products: bool = False

    def validate(self) -> None:
        super().validate()
        if self.hidden < 2 or self.num_layers < 1 or self.num_rbf < 1 or self.num_vectors < 1:
            raise ValueError(
                f"hidden={self.hidden}, num_layers={self.num_layers}, num_rbf={self.num_rbf}, "
                f"num_vectors={self.num_vectors} are too small; use hidden >= 2 and the others >= 1."
            )


class EquivariantBlock(nn.Module):
    """One multi-channel EGNN layer: invariant messages, vector and scalar updates.

    Parameters
    ----------
    hidden : int, scalar width H
    num_vectors : int, vector channels C
    num_rbf : int, radial basis size R
    radial_filter, vector_products : bool, see :class:`EGNNConfig`
    """

    def __init__(
        self,
        hidden: int,
        num_vectors: int,
        num_rbf: int,
        radial_filter: bool = False,
        vector_products: bool = False,
    ):
        super().__init__()
        c = num_vectors
        self.sender = nn.Linear(hidden, hidden, bias=False)
        self.receiver = nn.Linear(hidden, hidden)
        self.edge = nn.Linear(num_rbf + 3 * c, hidden, bias=False)
        self.message = nn.Linear(hidden, hidden)
        # No bias: the gates must vanish with the envelope at the cutoff.
        self.gates = nn.Linear(hidden, 2 * c, bias=False)
        # Mixing acts on the channel index only, so it commutes with rotations.
        self.mix = nn.Parameter(torch.eye(c) + 0.1 * torch.randn(c, c) / c**0.5)
        self.filter = MLP([num_rbf, hidden, hidden]) if radial_filter else None
        self.products = nn.Linear(c, 2 * c, bias=False) if vector_products else None
        self.update = MLP([2 * hidden + (2 if vector_products else 1) * c, hidden, hidden])

    def forward(self, h, vec, rbf, unit, envelope, envelope_sum, src, dst, norm):
        """
        Parameters
        ----------
        h : (n, H) scalar features
        vec : (n, C, 3) vector channels (dimensionless)
        rbf : (E, R) radial embedding
        unit : (E, 3) unit vectors u_ij
        envelope : (E,) cutoff envelope
        envelope_sum : (n,) sum of the envelope over each atom's neighbours
        src, dst : (E,) sender j and receiver i
        norm : float, average neighbour count

        Returns
        -------
        h : (n, H), vec : (n, C, 3)
        """
        v_i, v_j = vec.index_select(0, dst), vec.index_select(0, src)
        u = unit.unsqueeze(1)
        invariants = torch.cat(
            [(v_i * u).sum(-1), (v_j * u).sum(-1), (v_i * v_j).sum(-1)], dim=-1
        )
        pre = (
            self.sender(h).index_select(0, src)
            + self.receiver(h).index_select(0, dst)
            + self.edge(torch.cat([rbf, invariants], -1))
        )
        weighted = F.silu(pre) * envelope.unsqueeze(-1)
        if self.filter is not None:
            weighted = weighted * self.filter(rbf)
        # gates and message output are linear in the enveloped activations;
        # the message output is applied after the sum (see the mpnn block).
        a, b = self.gates(weighted).chunk(2, dim=-1)
        vec_msg = a.unsqueeze(-1) * u + b.unsqueeze(-1) * v_j
        agg_vec = torch.zeros_like(vec).index_add(0, dst, vec_msg) / norm
        # Channel mixing as one product over the 3n rows of (n, 3, C). Written as einsum, it
        # became a product over a (1, C, 3n) view whose strides grow with n; compiled, those
        # strides pinned the graph to one atom count, recompiled for every molecule size.
        vec = vec + F.linear(agg_vec.transpose(1, 2), self.mix).transpose(1, 2)
        summed = torch.zeros_like(h).index_add(0, dst, weighted)
        agg = (F.linear(summed, self.message.weight) + envelope_sum.unsqueeze(-1) * self.message.bias) / norm
        scalars = [h, agg, torch.sqrt(vec.pow(2).sum(-1) + _NORM_EPS)]
        if self.products is not None:
            # mixing acts on the channel index, so the inner products stay invariant
            left, right = self.products(vec.transpose(1, 2)).chunk(2, dim=-1)
            scalars.append((left * right).sum(1))
        h = h + self.update(torch.cat(scalars, dim=-1))
        return h, vec


@register_family
class EGNN(ForceField):
    """Multi-channel EGNN force field, E(3)-invariant energy and equivariant forces.

    With ``force_mode="direct"`` each atom's force is ``sum_c w_c(h_i) V_i^c``:
    invariant weights from its scalar features times its vector channels, so
    the direct forces are equivariant too.
    """

    family = "egnn"
    config_class = EGNNConfig
    direct_head_prefixes = ("vector_weights",)
    symmetry: ClassVar[str] = "E(3)"
    lmax: ClassVar[int | None] = 1

    def __init__(self, config: EGNNConfig):
        super().__init__(config)
        hidden, c = config.hidden, config.num_vectors
        self.embedding = nn.Embedding(self.num_elements, hidden)
        self.radial = RadialEmbedding(config.cutoff, config.num_rbf, p=config.envelope_exponent)
        self.blocks = nn.ModuleList(
            EquivariantBlock(hidden, c, config.num_rbf, config.radial_filter, config.vector_products)
            for _ in range(config.num_layers)
        )
        self.readout = MLP([hidden, max(hidden // 2, 1), 1])
        self.vector_weights = None if self.conservative else MLP([hidden, hidden, c])

    def finetune_parts(self) -> dict[str, list[str]]:
        """Input stage, interaction blocks and readout (see :meth:`ForceField.finetune_parts`)."""
        return {
            "input": ["embedding", "radial"],
            "blocks": [f"blocks.{k}" for k in range(len(self.blocks))],
            "readout": ["readout", "vector_weights"],
        }

    def atomic_outputs(self, species, edge_index, edge_vec, batch, num_graphs):
        src, dst = edge_index[0], edge_index[1]
        dist = torch.linalg.vector_norm(edge_vec, dim=-1)
        unit = edge_vec / dist.unsqueeze(-1)
        rbf = self.radial(dist)
        envelope = self.radial.envelope(dist)
        envelope_sum = envelope.new_zeros(species.shape[0]).index_add(0, dst, envelope)
        norm = float(self.config.avg_num_neighbors)
        h = self.embedding(species)
        vec = h.new_zeros(h.shape[0], self.config.num_vectors, 3)
        for block in self.blocks:
            h, vec = block(h, vec, rbf, unit, envelope, envelope_sum, src, dst, norm)
        node_scalar = self.readout(h).squeeze(-1)
        node_vector = None
        if self.vector_weights is not None:
            node_vector = (self.vector_weights(h).unsqueeze(-1) * vec).sum(1)
        return node_scalar, node_vector


_WIDTHS = {"xs": 32, "s": 64, "m": 128, "l": 256, "xl": 512}

# Width-only scaling at fixed depth 3 (vector channels grow with the width,
# C = H / 8); lr transferred from lr* = 1e-2 at width 64, tuned on rMD17
# aspirin with batches of 4 and a cosine over 8-minute budgets
# (5e-3: 44.4, 1e-2: 37.9, 2e-2: 38.1 meV/Å test force MAE; see
# benchmarks/tuning/README.md).
for _size, _width in _WIDTHS.items():
    register_sizes(
        "egnn",
        {_size: _width},
        lr_star=1e-2,
        base_width=64,
        num_layers=3,
        num_vectors=_width // 8,
    )
