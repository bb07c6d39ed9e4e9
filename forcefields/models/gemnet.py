"""Directional message passing with triplets and quadruplets: the ``gemnet`` family.

After GemNet-OC (Gasteiger et al. 2022, "GemNet-OC: Developing Graph Neural
Networks for Large and Diverse Molecular Simulation Datasets"), written for
this project. The invariant-but-directional step of the symmetry staircase:
features are scalars, and geometry enters through distances, the angles of
edge pairs and the dihedral angles of edge chains.

- Atom embeddings ``h`` (n, H) and directional edge embeddings ``m``
  (E, H) for every ordered pair within the cutoff, initialised from the two
  atoms and the radial basis (Bessel functions times the polynomial envelope
  the other families use).
- Triplet basis: Legendre polynomials of the angle at ``j`` of each
  triplet ``(j -> i, k -> j)`` (real spherical harmonics with m = 0), times
  learned radial functions of both edges.
- Quadruplet basis (``quad_interaction``): chains ``l -> k -> j -> i`` whose
  central edge ``k - j`` is shorter than ``quad_cutoff``; Legendre
  polynomials of both angles times the dihedral harmonics
  ``sin^m θ_1 sin^m θ_2 cos(m φ)`` (see :mod:`forcefields.nn.gemnet_basis`).
- Each interaction block: triplet interaction, quadruplet interaction,
  atom-to-edge and edge-to-atom triplets, atom-to-atom interaction, all
  through GemNet's efficient bilinear layer (neighbours summed before the
  bilinear weight); residual MLPs; edges updated from their atoms.
- One output block per interaction block, summed: per-atom energies and, with
  ``force_mode="direct"``, forces ``sum_e w(m_e) u(d_e) r̂_e`` from edge
  embeddings (as GemNet-OC is used); ``"conservative"`` forces are
  ``-dE/dr`` by autograd in the base class.

Symmetry: every feature is a function of distances, cosines of angles and
cosines of multiples of dihedral angles, never of their sines, so energies
are invariant and forces equivariant under the full Euclidean group E(3):
rotations, reflections, translations (and permutations of atoms). The model
does not distinguish a molecule from its mirror image.

Simplifications against GemNet-OC, for molecules: a single neighbour graph
(one cutoff) serves the triplets, the mixed triplets and the atom-to-atom
interaction, where GemNet-OC builds separate, larger graphs for them; no
neighbour cap; the quadruplet cutoff applies to the central edge only (as in
GemNet-OC); the radial and angular bases are Bessel functions and Legendre
polynomials with learned radial mixing instead of GemNet's
spherical-Bessel products; no periodic boundaries.

Nothing here imports Lightning, ASE or the hub.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn
from torch.nn import functional as F

from ..nn import RadialEmbedding
from ..nn.gemnet_blocks import DirectForceOutput, EnergyOutput, InteractionBlock, variance_preserving_init
from ..nn.gemnet_graph import build_directional_graph, directional_indices, radial_basis_rms
from ..nn.radial import PolynomialEnvelope
from .base import ForceField, ForceFieldConfig
from .registry import register_family, register_sizes

__all__ = ["GemNetConfig", "GemNet"]


@dataclass
class GemNetConfig(ForceFieldConfig):
    """Hyper-parameters of the GemNet-OC-style network.

    Inherits every field of :class:`ForceFieldConfig`; ``hidden`` is the width
    of atom and edge embeddings (the width the size presets scale), and the
    down-projections of the interactions are fixed fractions of it.

    Attributes
    ----------
    num_rbf : int
        Bessel functions of the radial basis (8, fewer than the other
        families' 16: the bases are multiplied together in triplets and
        quadruplets, and the highest frequencies only add curvature).
    num_angular : int
        Legendre degrees ``0 .. num_angular - 1`` of the triplet angle.
    quad_interaction : bool
        Include the quadruplet (dihedral) interaction.
    quad_cutoff : float
        Longest central edge of a quadruplet (Å), at most ``cutoff``. The
        default 2.0 Å keeps covalent bonds of organic molecules (<= 1.6 Å)
        and drops 1-3 pairs (>= 2.1 Å): on rMD17 aspirin it cuts the
        quadruplets from 27k (3.0 Å) to 8.5k per molecule, and quadruplets
        dominate the cost of a training step.
    num_dihedral : int
        Dihedral orders ``m = 0 .. num_dihedral - 1``.
    num_quad_angular : int
        Legendre degrees of each angle of a quadruplet.
    atom_interaction : bool
        Include the atom-to-atom interaction.
    triplet_fraction : int
        Triplet interactions work at width ``hidden // triplet_fraction``.
    quad_fraction : int
        The quadruplet interaction works at width ``hidden // quad_fraction``.
    envelope_exponent : int
        Smoothness ``p`` of the polynomial cutoff envelopes.
    """

    hidden: int = 64
    num_layers: int = 3
    num_rbf: int = 8
    num_angular: int = 5
    quad_interaction: bool = True
    quad_cutoff: float = 2.0
    num_dihedral: int = 3
    num_quad_angular: int = 3
    atom_interaction: bool = True
    triplet_fraction: int = 4
    quad_fraction: int = 8
    envelope_exponent: int = 6

    @property
    def triplet_dim(self) -> int:
        return max(1, self.hidden // self.triplet_fraction)

    @property
    def quad_dim(self) -> int:
        return max(1, self.hidden // self.quad_fraction)

    def validate(self) -> None:
        super().validate()
        small = {
            k: getattr(self, k)
            for k in ("hidden", "num_layers", "num_rbf", "num_angular", "num_dihedral", "num_quad_angular",
                      "triplet_fraction", "quad_fraction")
            if getattr(self, k) < 1
        }
        if small:
            raise ValueError(f"{small} must be at least 1.")
        if self.quad_interaction and not 0 < self.quad_cutoff <= self.cutoff:
            raise ValueError(
                f"quad_cutoff={self.quad_cutoff} Å must lie in (0, cutoff={self.cutoff} Å]; "
                "quadruplets are chains of edges of the neighbour list."
            )


@register_family
class GemNet(ForceField):
    """GemNet-OC-style force field: E(3)-invariant energies, equivariant forces (both heads)."""

    family = "gemnet"
    config_class = GemNetConfig
    direct_head_prefixes = ("force_heads",)
    symmetry: ClassVar[str] = "E(3)"
    # Features are invariant scalars; angles enter only through bases.
    lmax: ClassVar[int | None] = 0

    def __init__(self, config: GemNetConfig):
        super().__init__(config)
        hidden, num_rbf = config.hidden, config.num_rbf
        self.atom_embedding = nn.Embedding(self.num_elements, hidden)
        self.radial = RadialEmbedding(config.cutoff, num_rbf, p=config.envelope_exponent)
        self.quad_envelope = (
            PolynomialEnvelope(config.quad_cutoff, config.envelope_exponent) if config.quad_interaction else None
        )
        self.edge_radial = nn.Linear(num_rbf, hidden, bias=False)
        self.edge_embedding = nn.Linear(3 * hidden, hidden)
        self.blocks = nn.ModuleList(
            InteractionBlock(
                atom_dim=hidden,
                edge_dim=hidden,
                triplet_dim=config.triplet_dim,
                quad_dim=config.quad_dim if config.quad_interaction else None,
                num_angular=config.num_angular,
                num_quad_angular=config.num_quad_angular,
                num_dihedral=config.num_dihedral,
                num_rbf=num_rbf,
                atom_interaction=config.atom_interaction,
            )
            for _ in range(config.num_layers)
        )
        self.outputs = nn.ModuleList(EnergyOutput(hidden, hidden, num_rbf) for _ in range(config.num_layers))
        self.force_heads = (
            None if self.conservative else nn.ModuleList(DirectForceOutput(hidden) for _ in range(config.num_layers))
        )
        # Unit-scale signals at initialisation (GemNet fits scale factors on data instead).
        self.rbf_scale = radial_basis_rms(config.cutoff, num_rbf, config.envelope_exponent)
        variance_preserving_init(self)

    def finetune_parts(self) -> dict[str, list[str]]:
        """Input stage, interaction blocks and readout (see :meth:`ForceField.finetune_parts`)."""
        return {
            "input": ["atom_embedding", "radial", "edge_radial", "edge_embedding"],
            "blocks": [f"blocks.{k}" for k in range(len(self.blocks))],
            "readout": ["outputs", "force_heads"],
        }

    def edge_indices(self, edge_index, edge_vec, num_nodes):
        """Reverse edges, triplets and quadruplets (:func:`forcefields.nn.gemnet_graph.directional_indices`)."""
        quad_cutoff = None if self.quad_envelope is None else self.quad_envelope.cutoff
        dist = None if quad_cutoff is None else torch.linalg.vector_norm(edge_vec, dim=-1)  # only quadruplets use it
        return directional_indices(edge_index, dist, num_nodes, quad_cutoff)

    def atomic_outputs(self, species, edge_index, edge_vec, batch, num_graphs, indices=None):
        config = self.config
        n = species.shape[0]
        graph = build_directional_graph(
            edge_index,
            edge_vec,
            n,
            self.radial,
            config.num_angular,
            self.quad_envelope,
            config.num_dihedral,
            config.num_quad_angular,
            self.rbf_scale,
            indices=indices,
        )
        # Sums over neighbours are divided by sqrt(N) (sums of N terms of random
        # sign keep unit scale); quadruplet sums by N (see QuadrupletInteraction).
        norm = math.sqrt(float(config.avg_num_neighbors))
        h = self.atom_embedding(species)
        pair = torch.cat(
            [h.index_select(0, graph.src), h.index_select(0, graph.dst), self.edge_radial(graph.rbf)], dim=-1
        )
        m = F.silu(self.edge_embedding(pair))
        node_scalar = h.new_zeros(n)
        node_vector = None if self.force_heads is None else h.new_zeros(n, 3)
        for k, block in enumerate(self.blocks):
            h, m = block(h, m, graph, norm)
            node_scalar = node_scalar + self.outputs[k](h, m, graph, norm)
            if self.force_heads is not None:
                node_vector = node_vector + self.force_heads[k](m, graph, norm)
        return node_scalar, node_vector


_WIDTHS = {"xs": 32, "s": 64, "m": 128, "l": 256, "xl": 512}

# Width-only scaling at fixed depth 3: atom and edge embeddings are `hidden`,
# the triplet and quadruplet down-projections hidden/4 and hidden/8, so every
# embedding size doubles per size step; basis sizes stay fixed. lr follows the
# transfer rule lr = lr_star * 64 / hidden, lr_star = 5e-3 at width 64, tuned on
# rMD17 aspirin with gemnet-s over 25-minute budgets (benchmarks/tuning/gemnet-aspirin.json;
# best validation force MAE: 2.5e-3: 31.2, 5e-3: 25.2, 1e-2: 25.5 meV/Å).
register_sizes("gemnet", _WIDTHS, lr_star=5e-3, base_width=64, num_layers=3)
