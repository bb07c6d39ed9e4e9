"""The directional graph of one batch: edges, triplets, quadruplets and their bases.

Built once per forward pass and shared by every block of the ``gemnet``
family. Distances are in Å; bases are dimensionless. Geometric quantities
carry the gradient to the edge vectors (and so to positions); indices are
integer tensors built without Python loops (see :mod:`forcefields.nn.triplets`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .gemnet_basis import dihedral_harmonics, legendre, quadruplet_dihedral_terms, triplet_cosines
from .radial import PolynomialEnvelope, RadialEmbedding
from .triplets import build_quadruplets, build_triplets, reverse_edges

__all__ = ["Items", "DirectionalGraph", "directional_indices", "build_directional_graph", "radial_basis_rms"]


def radial_basis_rms(cutoff: float, num_basis: int, p: int, shortest: float = 0.7, points: int = 200) -> float:
    """Root mean square of the enveloped Bessel basis over distances in ``[shortest, cutoff]`` Å.

    Computed with plain floats from the basis's formula
    ``sqrt(2/c) sin(k pi d / c) / d * u(d)`` (see :mod:`forcefields.nn.radial`),
    so it needs no tensor and works when the model is built on the meta
    device. Dividing the basis by it gives the radial filters inputs of unit
    scale.
    """
    a, b, c = -(p + 1) * (p + 2) / 2, p * (p + 2), -p * (p + 1) / 2
    total = 0.0
    for step in range(points):
        d = shortest + (cutoff - shortest) * (step + 0.5) / points
        x = d / cutoff
        envelope = 1 + a * x**p + b * x ** (p + 1) + c * x ** (p + 2)
        for k in range(1, num_basis + 1):
            total += (math.sqrt(2.0 / cutoff) * math.sin(k * math.pi * d / cutoff) / d * envelope) ** 2
    return math.sqrt(total / (points * num_basis))


@dataclass
class Items:
    """Triplets or quadruplets as seen by a bilinear layer.

    Attributes
    ----------
    target : (T,) long, target edge of each item
    source : (T,) long, row of the source features each item reads
    basis : (T, S) basis of each item
    """

    target: torch.Tensor
    source: torch.Tensor
    basis: torch.Tensor

    def __len__(self) -> int:
        return int(self.target.shape[0])


@dataclass
class DirectionalGraph:
    """Indices and bases of edges, triplets and quadruplets.

    Attributes
    ----------
    num_nodes : int, atoms n
    src, dst : (E,) long, source and target atom of each edge
    unit : (E, 3) ``(pos[src] - pos[dst]) / d``
    rbf : (E, R) radial basis times the cutoff envelope, divided by ``rbf_scale``
    envelope : (E,) cutoff envelope
    reverse : (E,) long, the edge ``dst -> src`` of each edge
    trip_target, trip_source : (T,) long, edges ``j -> i`` and ``k -> j`` of each triplet
    triplets : Items, target edges ``j -> i`` reading source edges ``k -> j``,
        basis (T, L): Legendre polynomials of the angle at ``j``
    quad_in_triplets : (T_in,) long, triplets whose target edge is central
        (the first half of a quadruplet, ``l -> k -> j``)
    quad_in_angle : (T_in, Lq) Legendre polynomials of the angle at ``k``
    quad_in_envelope : (T_in,) quadruplet-cutoff envelope of the central edge
    quad_in_source : (T_in,) long, the edge ``l -> k``
    quadruplets : Items, target edges ``j -> i`` reading rows of
        ``quad_in_triplets``, basis (Q, M * Lq): dihedral harmonics ``D_m`` times Legendre polynomials
        of the angle at ``j``; None when quadruplets are off
    """

    num_nodes: int
    src: torch.Tensor
    dst: torch.Tensor
    unit: torch.Tensor
    rbf: torch.Tensor
    envelope: torch.Tensor
    reverse: torch.Tensor
    trip_target: torch.Tensor
    trip_source: torch.Tensor
    triplets: Items
    quad_in_triplets: torch.Tensor | None = None
    quad_in_angle: torch.Tensor | None = None
    quad_in_envelope: torch.Tensor | None = None
    quad_in_source: torch.Tensor | None = None
    quadruplets: Items | None = None

    @property
    def num_edges(self) -> int:
        return int(self.src.shape[0])

    @property
    def num_triplets(self) -> int:
        return int(self.trip_target.shape[0])

    @property
    def num_quadruplets(self) -> int:
        return 0 if self.quadruplets is None else len(self.quadruplets)


def directional_indices(
    edge_index: torch.Tensor, dist: torch.Tensor | None, num_nodes: int, quad_cutoff: float | None = None
) -> dict[str, torch.Tensor]:
    """The integer part of the directional graph: reverse edges, triplets and quadruplets.

    It depends on the neighbour list alone, and for quadruplets on which edges
    lie within ``quad_cutoff``; it carries no gradient. Its sizes depend on the
    data (triplets grow as neighbours squared), which a compiled graph cannot
    follow without breaking, so :class:`forcefields.models.compiled.CompiledForceField`
    builds it eagerly, as it builds the neighbour list (through
    :meth:`forcefields.models.base.ForceField.edge_indices`).

    Parameters
    ----------
    edge_index : (2, E) long, symmetric neighbour list
    dist : (E,) Å, edge lengths, compared with ``quad_cutoff``; may be None without it
    num_nodes : int
    quad_cutoff : float (Å), or None for no quadruplets

    Returns
    -------
    dict of long tensors: ``reverse`` (E,), ``trip_target`` and ``trip_source``
    (T,), and with ``quad_cutoff`` also ``quad_in_triplets`` (T_in,),
    ``quad_in`` and ``quad_out`` (Q,), as in :func:`forcefields.nn.triplets.build_quadruplets`
    """
    if quad_cutoff is not None and dist is None:
        raise ValueError("directional_indices needs the edge lengths `dist` to select quadruplets within quad_cutoff.")
    with torch.no_grad():
        trip_target, trip_source = build_triplets(edge_index, num_nodes)
        out = {"reverse": reverse_edges(edge_index, num_nodes), "trip_target": trip_target, "trip_source": trip_source}
        if quad_cutoff is not None:
            is_central = dist < quad_cutoff
            out["quad_in_triplets"], out["quad_in"], out["quad_out"] = build_quadruplets(
                edge_index, trip_target, trip_source, is_central
            )
    return out


def build_directional_graph(
    edge_index: torch.Tensor,
    edge_vec: torch.Tensor,
    num_nodes: int,
    radial: RadialEmbedding,
    num_angular: int,
    quad_envelope: PolynomialEnvelope | None = None,
    num_dihedral: int = 3,
    num_quad_angular: int = 3,
    rbf_scale: float = 1.0,
    indices: dict[str, torch.Tensor] | None = None,
) -> DirectionalGraph:
    """Everything the blocks need about the geometry of a batch.

    Parameters
    ----------
    edge_index : (2, E) long, symmetric neighbour list within the cutoff
    edge_vec : (E, 3) Å, ``pos[src] - pos[dst]``
    num_nodes : int
    radial : radial basis with the smooth envelope of the main cutoff
    num_angular : int, Legendre degrees of the triplet angle
    quad_envelope : envelope of the quadruplet cutoff, or None for no quadruplets
    num_dihedral : int, dihedral orders m = 0 .. num_dihedral - 1
    num_quad_angular : int, Legendre degrees of each quadruplet angle
    rbf_scale : float, divides the radial basis (see :func:`radial_basis_rms`)
    indices : :func:`directional_indices` of these edges (with ``quad_envelope.cutoff``),
        or None to build them here

    Returns
    -------
    DirectionalGraph
    """
    src, dst = edge_index[0], edge_index[1]
    dist = torch.linalg.vector_norm(edge_vec, dim=-1)
    unit = edge_vec / dist.unsqueeze(-1)
    rbf = radial(dist) / rbf_scale
    envelope = radial.envelope(dist)
    if indices is None:
        quad_cutoff = None if quad_envelope is None else quad_envelope.cutoff
        indices = directional_indices(edge_index, dist.detach(), num_nodes, quad_cutoff)
    reverse, trip_target, trip_source = indices["reverse"], indices["trip_target"], indices["trip_source"]
    cosines = triplet_cosines(unit, trip_target, trip_source)
    graph = DirectionalGraph(
        num_nodes=num_nodes,
        src=src,
        dst=dst,
        unit=unit,
        rbf=rbf,
        envelope=envelope,
        reverse=reverse,
        trip_target=trip_target,
        trip_source=trip_source,
        triplets=Items(trip_target, trip_source, legendre(cosines, num_angular)),
    )
    if quad_envelope is None:
        return graph
    in_triplets, quad_in, quad_out = indices["quad_in_triplets"], indices["quad_in"], indices["quad_out"]
    p, rho2, cos_out = quadruplet_dihedral_terms(
        unit, trip_target, trip_source, cosines, in_triplets[quad_in], quad_out
    )
    dihedral = dihedral_harmonics(p, rho2, num_dihedral)
    angle_out = legendre(cos_out, num_quad_angular)
    graph.quad_in_triplets = in_triplets
    graph.quad_in_angle = legendre(cosines[in_triplets], num_quad_angular)
    graph.quad_in_envelope = quad_envelope(dist[trip_target[in_triplets]])
    graph.quad_in_source = trip_source[in_triplets]
    basis = (dihedral.unsqueeze(-1) * angle_out.unsqueeze(-2)).flatten(1)
    graph.quadruplets = Items(trip_target[quad_out], quad_in, basis)
    return graph
