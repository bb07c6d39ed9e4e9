"""Interaction and output blocks of the ``gemnet`` family (GemNet-OC style).

Every block reads a :class:`~forcefields.nn.gemnet_graph.DirectionalGraph`.
Features are invariant: atom embeddings ``h`` (n, Da) and directional edge
embeddings ``m`` (E, De), one per ordered pair ``s -> t``. Whenever an
edge's embedding leaves its edge (into a triplet, a quadruplet or an atom) it
is multiplied by a bias-free linear function of the enveloped radial basis,
so every contribution vanishes smoothly as the edge reaches the cutoff.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from .gemnet_graph import DirectionalGraph, Items
from .mlp import MLP

__all__ = [
    "scaled_silu",
    "variance_preserving_init",
    "BasisBilinear",
    "TripletInteraction",
    "QuadrupletInteraction",
    "AtomToAtomInteraction",
    "EdgeToAtomAggregation",
    "InteractionBlock",
    "EnergyOutput",
    "DirectForceOutput",
]


def scaled_silu(x: torch.Tensor) -> torch.Tensor:
    """SiLU divided by 0.6, which keeps a unit-variance input at about unit scale (as in GemNet)."""
    return F.silu(x) / 0.6


def variance_preserving_init(module: nn.Module) -> None:
    """Every ``nn.Linear`` below ``module``: weights N(0, 1/fan_in), biases zero.

    With unit-scale inputs each linear layer then keeps unit scale, so the
    products of filters, bases and features in the interactions do not shrink
    the signal layer after layer (PyTorch's default init divides it by about
    sqrt(3) per layer).
    """
    for layer in module.modules():
        if isinstance(layer, nn.Linear):
            nn.init.normal_(layer.weight, std=1.0 / math.sqrt(layer.in_features))
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)


def scatter_sum(values: torch.Tensor, index: torch.Tensor, size: int) -> torch.Tensor:
    """Sum rows of ``values`` (N, ...) into ``size`` rows by ``index`` (N,)."""
    return values.new_zeros((size, *values.shape[1:])).index_add(0, index, values)


class BasisBilinear(nn.Module):
    """GemNet's efficient bilinear layer: sum over neighbours first, then one weight.

    For items ``t`` (triplets or quadruplets) with basis ``b_t`` (S,) and source
    features ``x_t`` (C_in,), each target edge ``e`` gets

        y_e = W · vec( ρ_e ⊙ (1/norm) sum_{t -> e} b_t ⊗ x_t )

    where ``ρ_e`` (S, C_in) is a learned function of the target edge's radial
    basis and ``W`` (S·C_in, C_out) the bilinear weight. Summing before
    applying ``W`` costs ``S·C_in`` per item and ``S·C_in·C_out`` per edge,
    instead of ``S·C_in·C_out`` per item. (On CPU the per-item outer product
    and one ``index_add`` beat GemNet's padded batched product, whose
    matrices are too small for ``bmm``.)

    Parameters
    ----------
    num_basis : int, S
    in_channels, out_channels : int
    num_rbf : int, size of the target edge's radial basis
    """

    def __init__(self, num_basis: int, in_channels: int, out_channels: int, num_rbf: int):
        super().__init__()
        self.num_basis, self.in_channels = num_basis, in_channels
        self.radial = nn.Linear(num_rbf, num_basis * in_channels, bias=False)
        self.weight = nn.Parameter(torch.randn(num_basis * in_channels, out_channels) / math.sqrt(num_basis * in_channels))

    def forward(
        self,
        source: torch.Tensor,
        items: Items,
        target_rbf: torch.Tensor,
        norm: float,
    ) -> torch.Tensor:
        """
        Parameters
        ----------
        source : (I, C_in) features the items read
        items : Items, with ``target`` (T,), ``source`` (T,) rows of ``source`` and ``basis`` (T, S)
        target_rbf : (E, R) radial basis of the target edges
        norm : float, divides the sum

        Returns
        -------
        (E, C_out)
        """
        per_item = items.basis.unsqueeze(-1) * source.index_select(0, items.source).unsqueeze(-2)
        summed = scatter_sum(per_item.flatten(1), items.target, target_rbf.shape[0])
        return (summed * self.radial(target_rbf)) @ self.weight / norm


class TripletInteraction(nn.Module):
    """Messages between edges through the angle of each triplet ``(j -> i, k -> j)``.

    With ``from_atoms=False`` the source is the edge embedding ``m_kj`` (the
    triplet interaction); with ``from_atoms=True`` it is the atom embedding
    ``h_k`` carried along ``k -> j`` (GemNet-OC's atom-to-edge interaction).
    Both directions of an edge are updated together: the output for
    ``j -> i`` also goes to ``i -> j`` through a second projection.

    Parameters
    ----------
    in_dim : int, width of the source features (De or Da)
    out_dim : int, width of the output
    inner : int, down-projected width
    num_angular : int, Legendre degrees of the triplet basis
    num_rbf : int
    from_atoms : bool
    """

    def __init__(self, in_dim: int, out_dim: int, inner: int, num_angular: int, num_rbf: int, from_atoms: bool = False):
        super().__init__()
        self.from_atoms = from_atoms
        self.down = nn.Linear(in_dim, inner, bias=False)
        self.source_filter = nn.Linear(num_rbf, inner, bias=False)
        self.bilinear = BasisBilinear(num_angular, inner, inner, num_rbf)
        self.up = nn.Linear(inner, out_dim, bias=False)
        self.up_reverse = nn.Linear(inner, out_dim, bias=False)

    def forward(self, features: torch.Tensor, graph: DirectionalGraph, norm: float) -> torch.Tensor:
        """features : (E, De) edges or (n, Da) atoms -> (E, out_dim)."""
        x = scaled_silu(self.down(features))
        if self.from_atoms:
            x = x.index_select(0, graph.src)
        x = x * self.source_filter(graph.rbf)
        y = scaled_silu(self.bilinear(x, graph.triplets, graph.rbf, norm))
        return (self.up(y) + self.up_reverse(y).index_select(0, graph.reverse)) / math.sqrt(2.0)


class QuadrupletInteraction(nn.Module):
    """Messages along chains ``l -> k -> j -> i`` through both angles and the dihedral.

    The source edge ``l -> k`` is filtered by its radial basis, then by the
    angle at ``k`` and the quadruplet-cutoff envelope of the central edge
    ``k -> j``; the bilinear layer combines it with the dihedral harmonics
    times the angle at ``j`` and sums into the target edge ``j -> i``.

    Parameters
    ----------
    edge_dim : int, De
    inner : int, down-projected width
    num_quad_angular : int, Legendre degrees per angle
    num_dihedral : int, dihedral orders
    num_rbf : int
    """

    def __init__(self, edge_dim: int, inner: int, num_quad_angular: int, num_dihedral: int, num_rbf: int):
        super().__init__()
        self.down = nn.Linear(edge_dim, inner, bias=False)
        self.source_filter = nn.Linear(num_rbf, inner, bias=False)
        self.angle_filter = nn.Linear(num_quad_angular, inner, bias=False)
        self.bilinear = BasisBilinear(num_quad_angular * num_dihedral, inner, inner, num_rbf)
        self.up = nn.Linear(inner, edge_dim, bias=False)
        self.up_reverse = nn.Linear(inner, edge_dim, bias=False)

    def forward(self, m: torch.Tensor, graph: DirectionalGraph, norm: float) -> torch.Tensor:
        """m : (E, De) -> (E, De)."""
        x = scaled_silu(self.down(m)) * self.source_filter(graph.rbf)
        per_in = (
            x.index_select(0, graph.quad_in_source)
            * self.angle_filter(graph.quad_in_angle)
            * graph.quad_in_envelope.unsqueeze(-1)
        )
        # about (neighbours) x (central neighbours) quadruplets per edge: divide by norm².
        y = scaled_silu(self.bilinear(per_in, graph.quadruplets, graph.rbf, norm * norm))
        return (self.up(y) + self.up_reverse(y).index_select(0, graph.reverse)) / math.sqrt(2.0)


class AtomToAtomInteraction(nn.Module):
    """Continuous-filter convolution between atoms: ``(1/N) sum_j W(h_j) ⊙ f(d_ij)``.

    Parameters
    ----------
    atom_dim : int, Da
    num_rbf : int
    """

    def __init__(self, atom_dim: int, num_rbf: int):
        super().__init__()
        self.linear = nn.Linear(atom_dim, atom_dim)
        self.filter = nn.Linear(num_rbf, atom_dim, bias=False)

    def forward(self, h: torch.Tensor, graph: DirectionalGraph, norm: float) -> torch.Tensor:
        """h : (n, Da) -> (n, Da)."""
        messages = self.linear(h).index_select(0, graph.src) * self.filter(graph.rbf)
        return scatter_sum(messages, graph.dst, graph.num_nodes) / norm


class EdgeToAtomAggregation(nn.Module):
    """Sum of radially filtered edge features into their target atoms.

    Parameters
    ----------
    edge_dim : int, width of the edge features
    atom_dim : int, Da
    num_rbf : int
    """

    def __init__(self, edge_dim: int, atom_dim: int, num_rbf: int):
        super().__init__()
        self.filter = nn.Linear(num_rbf, edge_dim, bias=False)
        self.project = nn.Linear(edge_dim, atom_dim, bias=False)

    def forward(self, edge_features: torch.Tensor, graph: DirectionalGraph, norm: float) -> torch.Tensor:
        """edge_features : (E, edge_dim) -> (n, Da)."""
        summed = scatter_sum(edge_features * self.filter(graph.rbf), graph.dst, graph.num_nodes)
        return self.project(summed) / norm


class InteractionBlock(nn.Module):
    """One GemNet-OC interaction: edge, atom and edge-from-atom updates.

    Edges: skip connection + triplet interaction + atom-to-edge triplets
    (+ quadruplet interaction), then a residual MLP. Atoms: edge-to-atom
    triplets + aggregation of the new edge embeddings + atom-to-atom
    interaction, then a residual MLP. Finally each edge is updated from its two
    atoms.

    Parameters
    ----------
    atom_dim, edge_dim : int, Da and De
    triplet_dim : int, down-projected width of triplet interactions
    quad_dim : int or None, width of the quadruplet interaction (None: off)
    num_angular, num_quad_angular, num_dihedral, num_rbf : int, basis sizes
    atom_interaction : bool, include the atom-to-atom interaction
    """

    def __init__(
        self,
        atom_dim: int,
        edge_dim: int,
        triplet_dim: int,
        quad_dim: int | None,
        num_angular: int,
        num_quad_angular: int,
        num_dihedral: int,
        num_rbf: int,
        atom_interaction: bool = True,
    ):
        super().__init__()
        self.edge_skip = nn.Linear(edge_dim, edge_dim)
        self.triplet = TripletInteraction(edge_dim, edge_dim, triplet_dim, num_angular, num_rbf)
        self.atom_to_edge = TripletInteraction(atom_dim, edge_dim, triplet_dim, num_angular, num_rbf, from_atoms=True)
        self.quadruplet = (
            None
            if quad_dim is None
            else QuadrupletInteraction(edge_dim, quad_dim, num_quad_angular, num_dihedral, num_rbf)
        )
        self.edge_mlp = MLP([edge_dim, edge_dim, edge_dim])
        self.edge_to_atom = TripletInteraction(edge_dim, atom_dim, triplet_dim, num_angular, num_rbf)
        self.edge_to_atom_sum = EdgeToAtomAggregation(atom_dim, atom_dim, num_rbf)
        self.edge_sum = EdgeToAtomAggregation(edge_dim, atom_dim, num_rbf)
        self.atom_to_atom = AtomToAtomInteraction(atom_dim, num_rbf) if atom_interaction else None
        self.atom_mlp = MLP([atom_dim, atom_dim, atom_dim])
        self.edge_from_atoms = nn.Linear(2 * atom_dim + edge_dim, edge_dim)

    def forward(
        self, h: torch.Tensor, m: torch.Tensor, graph: DirectionalGraph, norm: float
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """
        Parameters
        ----------
        h : (n, Da) atom embeddings
        m : (E, De) edge embeddings
        graph : DirectionalGraph
        norm : float, average neighbour count (divides sums over neighbours)

        Returns
        -------
        h : (n, Da), m : (E, De)
        """
        parts = [scaled_silu(self.edge_skip(m)), self.triplet(m, graph, norm), self.atom_to_edge(h, graph, norm)]
        if self.quadruplet is not None:
            parts.append(self.quadruplet(m, graph, norm))
        x = sum(parts) / math.sqrt(len(parts))
        m = (m + self.edge_mlp(x)) / math.sqrt(2.0)

        atom_parts = [
            self.edge_to_atom_sum(self.edge_to_atom(m, graph, norm), graph, norm),
            self.edge_sum(m, graph, norm),
        ]
        if self.atom_to_atom is not None:
            atom_parts.append(self.atom_to_atom(h, graph, norm))
        dh = sum(atom_parts) / math.sqrt(len(atom_parts))
        h = (h + self.atom_mlp(dh)) / math.sqrt(2.0)

        pair = torch.cat([h.index_select(0, graph.src), h.index_select(0, graph.dst), m], dim=-1)
        m = (m + scaled_silu(self.edge_from_atoms(pair))) / math.sqrt(2.0)
        return h, m


class EnergyOutput(nn.Module):
    """Per-atom energy of one block: atom embedding plus its aggregated edges.

    Parameters
    ----------
    atom_dim, edge_dim, num_rbf : int
    """

    def __init__(self, atom_dim: int, edge_dim: int, num_rbf: int):
        super().__init__()
        self.edges = EdgeToAtomAggregation(edge_dim, atom_dim, num_rbf)
        self.mlp = MLP([atom_dim, atom_dim, 1])

    def forward(self, h: torch.Tensor, m: torch.Tensor, graph: DirectionalGraph, norm: float) -> torch.Tensor:
        """-> (n,) dimensionless energy contribution."""
        return self.mlp(h + self.edges(m, graph, norm)).squeeze(-1)


class DirectForceOutput(nn.Module):
    """Direct force of one block from edge embeddings: ``(1/N) sum_e w(m_e) u(d_e) r̂_e``.

    ``w`` is an MLP of the invariant edge embedding, ``u`` the cutoff envelope
    and ``r̂_e`` the edge's unit vector, so the forces rotate and reflect with
    the molecule and vanish smoothly at the cutoff.

    Parameters
    ----------
    edge_dim : int
    """

    def __init__(self, edge_dim: int):
        super().__init__()
        self.mlp = MLP([edge_dim, edge_dim, 1])

    def forward(self, m: torch.Tensor, graph: DirectionalGraph, norm: float) -> torch.Tensor:
        """-> (n, 3) dimensionless force."""
        weight = self.mlp(m).squeeze(-1) * graph.envelope
        return scatter_sum(weight.unsqueeze(-1) * graph.unit, graph.dst, graph.num_nodes) / norm
