"""Spherical-tensor network with SO(2) edge convolutions: the ``esen`` family.

The top step of the symmetry staircase (Ngo & Ravanbakhsh, arXiv
2510.09768), after eSCN (Passaro & Zitnick 2023) and eSEN (Fu et al. 2025).
Each atom carries the coefficients of real spherical harmonics up to
``lmax`` in ``hidden`` channels, a tensor of shape ``(n, (lmax+1)**2, C)`` in
e3nn's order. A message from atom j to atom i is computed in the frame where
the edge lies on the y axis: both atoms' features are rotated there with
per-edge Wigner-D matrices, truncated to orders ``|m| <= mmax``, passed
through two radially modulated SO(2) convolutions with a gate between them,
multiplied by the smooth cutoff envelope and rotated back. Per edge this costs
of order ``lmax³ C²`` instead of the ``lmax⁶`` of Clebsch-Gordan products.

With ``parity=True`` (default) the model is E(3)-invariant (energies) and
equivariant (forces) under rotations *and* reflections; ``parity=False`` adds
the parity-odd SO(2) weights of eSCN and is only SE(3)-equivariant.

Every message is multiplied by the polynomial envelope, so energies and
forces are smooth as atoms cross the cutoff.

A neighbour list holds each bond in both directions; in training the edge
frame is built once per bond and the reverse edge uses it followed by a half-turn (signs
``±1`` per row, :meth:`forcefields.nn.irreps_rotation.EdgeRotation.reverse_signs`),
so a bond's two messages cost one rotation matrix and one batched product each
way. The result equals a frame per edge up to round-off: the two frames differ
by a turn about the edge, which the SO(2) convolutions commute with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn
from torch.nn import functional as F

from ..nn import MLP
from ..nn.irreps_ops import DegreeLinear, EquivariantRMSNorm, Gate, degrees_of
from ..nn.edge_pairs import pair_edges
from ..nn.irreps_rotation import EdgeRotation
from ..nn.radial import BesselBasis, PolynomialEnvelope
from ..nn.so2 import EdgeFrames, SO2Layout, SO2Linear
from .base import ForceField, ForceFieldConfig
from .registry import register_family, register_sizes

__all__ = ["ESENConfig", "ESEN"]


@dataclass
class ESENConfig(ForceFieldConfig):
    """Hyper-parameters of the eSEN-style network.

    Inherits every field of :class:`ForceFieldConfig`; ``hidden`` is the
    number of channels per spherical-harmonic component (the width the size
    presets scale) and ``num_layers`` the fixed depth.

    Attributes
    ----------
    lmax : int
        Highest spherical-harmonic degree of the features (1..6).
    mmax : int or None
        Highest order |m| kept in the edge frames; None means ``min(lmax, 2)``.
    ffn_factor : int
        Width multiplier of the per-atom feed-forward block.
    parity : bool
        True: only parity-even SO(2) weights, E(3)-equivariant. False: also the
        parity-odd ones (as in eSCN), SE(3)-equivariant only.
    envelope_exponent : int
        Smoothness ``p`` of the polynomial cutoff envelope.
    endpoints : str
        What the message j -> i reads. ``"both"`` (eSEN): ``[h_j | h_i]``, both
        endpoints' features rotated into the edge frame, 2C channels into the
        first convolution. ``"source"``: ``h_j`` only (C channels, as in NequIP
        and MACE), with the receiver's scalars ``h_i`` (l = 0) added to the
        edge features that set the radial modulation: half the convolution's
        input, and in inference half the rotation into the frame.
    """

    lmax: int = 2
    mmax: int | None = None
    hidden: int = 32
    num_layers: int = 2
    ffn_factor: int = 2
    parity: bool = True
    envelope_exponent: int = 6
    endpoints: str = "both"

    @property
    def resolved_mmax(self) -> int:
        return min(self.lmax, 2) if self.mmax is None else int(self.mmax)

    def validate(self) -> None:
        super().validate()
        if not 1 <= self.lmax <= 6:
            raise ValueError(f"lmax={self.lmax} is not supported; choose a degree between 1 and 6 (variants use 1..4).")
        if not 0 <= self.resolved_mmax <= self.lmax:
            raise ValueError(f"mmax={self.mmax} must lie between 0 and lmax={self.lmax} (or be None for min(lmax, 2)).")
        if self.endpoints not in ("both", "source"):
            raise ValueError(f"endpoints={self.endpoints!r} is not known; use 'both' (eSEN) or 'source'.")
        if self.hidden < 1 or self.num_layers < 1 or self.num_rbf < 1 or self.ffn_factor < 1:
            raise ValueError(
                f"hidden={self.hidden}, num_layers={self.num_layers}, num_rbf={self.num_rbf}, "
                f"ffn_factor={self.ffn_factor} must all be at least 1."
            )


class InteractionBlock(nn.Module):
    """Edge messages by SO(2) convolution, then a gated per-atom feed-forward; both residual.

    Parameters
    ----------
    layout : SO2Layout of the edge-frame coefficients
    channels : int, C
    edge_channels : int, width of the invariant edge features
    ffn_channels : int, width of the feed-forward block
    parity : bool, see :class:`ESENConfig`
    endpoints : str, "both" or "source", see :class:`ESENConfig`
    """

    def __init__(
        self, layout: SO2Layout, channels: int, edge_channels: int, ffn_channels: int, parity: bool, endpoints: str = "both"
    ):
        super().__init__()
        lmax = layout.lmax
        self.radial = MLP([edge_channels, channels, channels])
        self.norm_message = EquivariantRMSNorm(lmax, channels)
        self.source_only = endpoints == "source"
        if self.source_only:
            self.receiver = nn.Linear(channels, channels, bias=False)
            self.conv1 = SO2Linear(layout, channels, channels, channels, extra_scalars=lmax * channels, parity=parity)
        else:
            self.conv1 = SO2Linear(
                layout, 2 * channels, channels, channels, extra_scalars=lmax * channels, parity=parity, paired_endpoints=True
            )
        self.edge_gate = Gate(layout.degrees, channels)
        # As in eSEN, only the first convolution is radially modulated.
        self.conv2 = SO2Linear(layout, channels, channels, 0, parity=parity)
        self.norm_ffn = EquivariantRMSNorm(lmax, channels)
        self.ffn_in = DegreeLinear(lmax, channels, ffn_channels, extra_scalars=lmax * ffn_channels)
        self.ffn_gate = Gate(degrees_of(lmax), ffn_channels)
        self.ffn_out = DegreeLinear(lmax, ffn_channels, channels)

    def forward(
        self,
        x: torch.Tensor,
        frames: EdgeFrames,
        edge_input: torch.Tensor,
        src: torch.Tensor,
        dst: torch.Tensor,
        pairs: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """x (n, K, C), edge_input (E, edge_channels), src/dst (E,) -> (n, K, C).

        ``frames`` carries the per-edge weight of the messages (the cutoff
        envelope divided by the average number of neighbours) into their
        rotation back. ``pairs`` is :func:`edge_pair_index` of the edges that
        hold a frame (all of them, or the first half when ``frames`` is
        paired); computed here when not given, the model computes it once for all blocks.
        """
        if pairs is None and self.uses_pairs(frames):
            num_framed = frames.matrix.shape[0]
            pairs = edge_pair_index(src[:num_framed], dst[:num_framed], x.shape[1])
        h = self.norm_message(x)
        if self.source_only:
            m, gates = self._source_message(h, frames, edge_input, src, dst, pairs)
        else:
            edge_feat = F.silu(self.radial(edge_input))
            m = _both_ends(h, pairs, src, dst, frames.matrix.shape[0])
            m, gates = self.conv1(frames.endpoints_to_edge(m), edge_feat, reverse_sign=frames.reverse_sign)
        m = self.edge_gate(m, gates)
        m, _ = self.conv2(m, None)
        x = x.index_add(0, dst, frames.from_edge(m))  # from_edge applies the edge weight
        h, gates = self.ffn_in(self.norm_ffn(x))
        h, _ = self.ffn_out(self.ffn_gate(h, gates))
        return x + h

    def uses_pairs(self, frames: EdgeFrames) -> bool:
        """Whether messages gather both endpoints with :func:`edge_pair_index`: always with
        ``endpoints="both"``, with ``"source"`` only when one frame serves a bond's two edges;
        never under ``torch.compile``, where :func:`_both_ends` gathers without it."""
        if torch.compiler.is_compiling():
            return False
        return not self.source_only or frames.reverse_sign is not None

    def _source_message(self, h, frames, edge_input, src, dst, pairs) -> tuple[torch.Tensor, torch.Tensor]:
        """First convolution of ``endpoints="source"``: (messages (E, K_t, C), gates (E, lmax C))."""
        receiver = self.receiver(h[:, 0]).index_select(0, dst)  # the receiver's scalars, per edge
        edge_feat = F.silu(self.radial(edge_input) + receiver)
        if frames.reverse_sign is None:
            m = frames.to_edge(h.index_select(0, src))
        else:
            # One frame per bond: rotate both ends once; the reverse edge's source is the
            # forward edge's receiver, turned by the half-turn signs.
            ends = _both_ends(h, pairs, src, dst, frames.matrix.shape[0])
            forward, reverse = frames.endpoints_to_edge(ends).chunk(2, dim=-1)
            m = torch.cat([forward, reverse * frames.reverse_sign])
        return self.conv1(m, edge_feat)


def _both_ends(
    h: torch.Tensor, pairs: torch.Tensor | None, src: torch.Tensor, dst: torch.Tensor, num_framed: int
) -> torch.Tensor:
    """Both endpoints' features of the framed edges: h (n, K, C) -> (E_f, K, 2C), ``[h[src] | h[dst]]`` per row.

    The framed edges are the first ``num_framed`` (E_f) of ``src``, ``dst``, and
    ``pairs`` is their :func:`edge_pair_index`. Eagerly, one gather with ``pairs`` (and one
    contiguous scatter-add in the backward). Without ``pairs``, as under
    ``torch.compile``: two row gathers and a concatenation. Inductor compiles the
    one gather over flattened rows into a scalar loop with an integer division
    per element, and these into vectorised row copies: the compiled MD step is
    7-11 % faster (benchmarks/compiled/README.md, round 12).
    """
    if pairs is None:
        return torch.cat([h.index_select(0, src[:num_framed]), h.index_select(0, dst[:num_framed])], dim=-1)
    return h.reshape(-1, h.shape[-1]).index_select(0, pairs).view(pairs.shape[0] // (2 * h.shape[1]), h.shape[1], -1)


def edge_pair_index(src: torch.Tensor, dst: torch.Tensor, rows: int) -> torch.Tensor:
    """Row indices that gather ``[h[src] | h[dst]]`` from node features in one operation.

    Parameters
    ----------
    src, dst : (E,) node indices
    rows : int, K, the number of spherical-harmonic rows of the features

    Returns
    -------
    (2 E K,) long tensor ``p`` with ``h.reshape(n * K, C)[p].view(E, K, 2 C)``
    equal to ``torch.cat([h[src], h[dst]], dim=-1)`` for ``h`` of shape (n, K, C).
    One gather (and, in the backward pass, one contiguous scatter-add) replaces
    two of each and a concatenation.
    """
    ends = torch.stack([src, dst], dim=-1) * rows  # (E, 2)
    offsets = torch.arange(rows, device=src.device).view(1, rows, 1)
    return (ends.unsqueeze(1) + offsets).flatten()


@register_family
class ESEN(ForceField):
    """eSCN/eSEN-style equivariant force field with spherical-tensor features.

    Pipeline: element embedding in the scalar row, plus an edge-degree
    embedding (radial weights times ``Y_l(r̂_ij)`` summed over neighbours) in
    every degree; ``num_layers`` interaction blocks; a final norm; energy from
    the scalar channels through an MLP; with ``force_mode="direct"``, forces
    from a linear map of the ``l = 1`` channels (eV/Å after the base class's
    energy scale).
    """

    family = "esen"
    config_class = ESENConfig
    direct_head_prefixes = ("force_head",)
    symmetry: ClassVar[str] = "E(3)"

    def __init__(self, config: ESENConfig):
        super().__init__(config)
        c = config.hidden
        lmax, mmax = config.lmax, config.resolved_mmax
        self.lmax, self.mmax = lmax, mmax
        self.layout = SO2Layout(lmax, mmax)
        self.rotation = EdgeRotation(lmax)
        self.embedding = nn.Embedding(self.num_elements, c)
        self.edge_species = nn.Embedding(self.num_elements, config.num_rbf)
        self.basis = BesselBasis(config.cutoff, config.num_rbf)
        self.envelope = PolynomialEnvelope(config.cutoff, config.envelope_exponent)
        edge_channels = 3 * config.num_rbf  # [rbf, species(j), species(i)]
        self.degree_embedding = MLP([edge_channels, c, (lmax + 1) * c])
        self.register_buffer("degree_row", torch.tensor(degrees_of(lmax), dtype=torch.long), persistent=False)
        parity = [(-1.0) ** l for l in degrees_of(lmax)]
        self.register_buffer("degree_parity", torch.tensor(parity), persistent=False)
        self.blocks = nn.ModuleList(
            InteractionBlock(self.layout, c, edge_channels, config.ffn_factor * c, config.parity, config.endpoints)
            for _ in range(config.num_layers)
        )
        self.final_norm = EquivariantRMSNorm(lmax, c)
        self.energy_head = MLP([c, c, 1])
        self.force_head = None if self.conservative else nn.Linear(c, 1, bias=False)

    def finetune_parts(self) -> dict[str, list[str]]:
        """Input stage, interaction blocks and readout (see :meth:`ForceField.finetune_parts`)."""
        return {
            "input": ["embedding", "edge_species", "basis", "envelope", "degree_embedding"],
            "blocks": [f"blocks.{k}" for k in range(len(self.blocks))],
            "readout": ["final_norm", "energy_head", "force_head"],
        }

    def atomic_outputs(self, species, edge_index, edge_vec, batch, num_graphs):
        # A radius graph holds each bond in both directions: in training, frames are built
        # for the src < dst half and serve the reverse edges too (forcefields.nn.edge_pairs).
        # There the rotations' double backward dominates and this saves 2-9 % per step;
        # for energies and forces alone the re-indexing costs what it saves
        # (benchmarks/esen_speed/README.md, round 4), so inference keeps a frame per edge.
        paired = pair_edges(edge_index, species.shape[0]) if self.training else None
        if paired is not None:
            forward, reverse = paired
            edge_index = edge_index[:, torch.cat([forward, reverse])]
            framed_vec = edge_vec.index_select(0, forward)
        else:
            framed_vec = edge_vec
        src, dst = edge_index[0], edge_index[1]
        dist = torch.linalg.vector_norm(framed_vec, dim=-1)
        envelope = self.envelope(dist)
        radial = self.basis(dist) * envelope.unsqueeze(-1)
        matrix = self.rotation.frame_matrix(framed_vec, self.layout.components)
        # Messages are weighted by the envelope and averaged over ~avg_num_neighbors neighbours.
        edge_weight = envelope / float(self.config.avg_num_neighbors)
        # Y_l(r̂_ij), as e3nn's "component" ones; Y_l(-r) = (-1)^l Y_l(r) for the reverse edges.
        sh = self.rotation.harmonics(matrix, self.layout.components)
        if paired is None:
            frames = EdgeFrames.from_matrix(matrix, weight=edge_weight)
        else:
            reverse_sign = self.rotation.reverse_signs(self.layout.components, matrix)
            frames = EdgeFrames.from_matrix(matrix, weight=edge_weight, reverse_sign=reverse_sign)
            radial, edge_weight = radial.repeat(2, 1), edge_weight.repeat(2)
            sh = torch.cat([sh, sh * self.degree_parity], dim=0)
        edge_input = torch.cat([radial, self.edge_species(species[src]), self.edge_species(species[dst])], dim=-1)
        c, rows = self.config.hidden, (self.lmax + 1) ** 2

        # Edge-degree embedding: sum_j w_l(r_ij, z_i, z_j) Y_l(r̂_ij) in every degree,
        # added to the element embedding in the scalar row.
        weights = self.degree_embedding(edge_input).view(-1, self.lmax + 1, c).index_select(1, self.degree_row)
        edge_terms = sh.unsqueeze(-1) * weights * edge_weight.view(-1, 1, 1)
        x = F.pad(self.embedding(species).unsqueeze(1), (0, 0, 0, rows - 1)).index_add(0, dst, edge_terms)

        num_framed = matrix.shape[0]
        pairs = None
        if self.blocks[0].uses_pairs(frames):
            pairs = edge_pair_index(src[:num_framed], dst[:num_framed], rows)
        for block in self.blocks:
            x = block(x, frames, edge_input, src, dst, pairs)
        x = self.final_norm(x)
        node_scalar = self.energy_head(x[:, 0]).squeeze(-1)
        node_vector = None
        if self.force_head is not None:
            # e3nn (>= 0.5) orders the l = 1 rows (m = -1, 0, 1) as Cartesian (x, y, z):
            # Y_1(r) = sqrt(3) r / |r|, so no reordering is needed.
            node_vector = self.force_head(x[:, 1:4]).squeeze(-1)
        return node_scalar, node_vector


# Width-only scaling at fixed depth; lr transferred from lr* = 5e-3 at the "s" width of
# each degree, tuned on rMD17 aspirin with esen-l2-xs (width 16, so lr 1e-2) and batches
# of 4 over 6-minute budgets (lr 3e-3: 61.1, 1e-2: 35.1 meV/Å test force MAE; higher
# rates untried; see benchmarks/tuning/README.md). The same lr* serves every degree.
_WIDTHS = {
    1: {"xs": 16, "s": 32, "m": 64, "l": 128, "xl": 256},
    2: {"xs": 16, "s": 32, "m": 64, "l": 128, "xl": 256},
    3: {"xs": 8, "s": 16, "m": 32, "l": 64, "xl": 128},
    4: {"xs": 8, "s": 16, "m": 32, "l": 64, "xl": 128},
}
for _lmax, _widths in _WIDTHS.items():
    register_sizes(
        family="esen",
        widths=_widths,
        lr_star=5e-3,
        base_width=_widths["s"],
        prefix=f"esen-l{_lmax}",
        lmax=_lmax,
        num_layers=2,
    )
