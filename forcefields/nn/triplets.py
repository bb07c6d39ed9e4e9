"""Vectorised index construction for edge pairs (triplets) and edge chains (quadruplets).

Conventions follow :mod:`forcefields.data`: an edge ``e`` is ``(s_e -> t_e)``
with ``edge_index[0] = s`` (source) and ``edge_index[1] = t`` (target), and
its vector is ``pos[s] - pos[t]``.

- A *triplet* ``(target e1 = j -> i, source e2 = k -> j)`` is a pair of edges
  meeting at atom ``j``, where ``e2`` ends and ``e1`` starts, with ``k != i``.
  Its angle is the one at ``j`` between the atoms ``k`` and ``i``.
- A *quadruplet* ``l -> k -> j -> i`` is a chain of three edges: a source
  ``e3 = l -> k``, a central edge ``c = k -> j`` and a target ``e1 = j -> i``,
  over four distinct atoms; it is an "in" triplet ``(c, e3)`` and an "out"
  triplet ``(e1, c)`` that share the central edge.

Everything is built with sorting, ``bincount`` and ``repeat_interleave``: no
Python loop over atoms or edges, the same code on CPU and CUDA tensors. The
number of triplets grows as (neighbours)² per atom, quadruplets as
(neighbours)² times the central edges' neighbours.
"""

from __future__ import annotations

import torch

__all__ = ["pairs_with_equal_keys", "reverse_edges", "build_triplets", "build_quadruplets"]


def pairs_with_equal_keys(
    keys_a: torch.Tensor, keys_b: torch.Tensor, num_keys: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Every pair ``(a, b)`` with ``keys_a[a] == keys_b[b]``.

    Parameters
    ----------
    keys_a : (A,) long, values in ``[0, num_keys)``
    keys_b : (B,) long, values in ``[0, num_keys)``
    num_keys : int

    Returns
    -------
    index_a : (P,) long, into ``keys_a``, non-decreasing
    index_b : (P,) long, into ``keys_b``; within one ``a`` in increasing order of ``b``
    """
    device = keys_a.device
    order_b = torch.argsort(keys_b, stable=True)
    counts_b = torch.bincount(keys_b, minlength=num_keys)
    start_b = torch.cumsum(counts_b, 0) - counts_b
    per_a = counts_b[keys_a]
    index_a = torch.repeat_interleave(torch.arange(keys_a.shape[0], device=device), per_a)
    first_of_a = torch.cumsum(per_a, 0) - per_a
    offset = torch.arange(index_a.shape[0], device=device) - first_of_a[index_a]
    index_b = order_b[start_b[keys_a[index_a]] + offset]
    return index_a, index_b


def reverse_edges(edge_index: torch.Tensor, num_nodes: int) -> torch.Tensor:
    """For each edge ``s -> t`` the position of the edge ``t -> s``.

    Parameters
    ----------
    edge_index : (2, E) long, a symmetric neighbour list (every edge has its reverse)
    num_nodes : int

    Returns
    -------
    (E,) long

    Raises
    ------
    ValueError : some edge has no reverse (the neighbour list is not symmetric)
    """
    src, dst = edge_index[0], edge_index[1]
    if src.numel() == 0:
        return src.clone()
    key = src * num_nodes + dst
    reverse_key = dst * num_nodes + src
    order = torch.argsort(key)
    sorted_key = key[order]
    where = torch.searchsorted(sorted_key, reverse_key).clamp_max(key.shape[0] - 1)
    if not bool((sorted_key[where] == reverse_key).all()):
        raise ValueError(
            "the neighbour list is not symmetric: some edge s -> t has no edge t -> s. "
            "Build it with forcefields.data.neighbors.radius_graph (or leave edge_index out)."
        )
    return order[where]


def build_triplets(edge_index: torch.Tensor, num_nodes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """All triplets ``(target e1 = j -> i, source e2 = k -> j)`` with ``k != i``.

    Parameters
    ----------
    edge_index : (2, E) long, (source, target) of each edge
    num_nodes : int

    Returns
    -------
    target_edge : (T,) long, e1 of each triplet, non-decreasing
    source_edge : (T,) long, e2 of each triplet
    """
    src, dst = edge_index[0], edge_index[1]
    # e2 must end where e1 starts: dst[e2] == src[e1].
    target_edge, source_edge = pairs_with_equal_keys(src, dst, num_nodes)
    keep = src[source_edge] != dst[target_edge]
    return target_edge[keep], source_edge[keep]


def build_quadruplets(
    edge_index: torch.Tensor,
    target_edge: torch.Tensor,
    source_edge: torch.Tensor,
    is_central: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """All chains ``l -> k -> j -> i`` of four distinct atoms whose middle edge is central.

    Parameters
    ----------
    edge_index : (2, E) long
    target_edge, source_edge : (T,) long, the triplets of :func:`build_triplets`
    is_central : (E,) bool, edges allowed in the middle (those within the
        quadruplet cutoff)

    Returns
    -------
    in_triplets : (T_in,) long, the triplets ``(c = k -> j, e3 = l -> k)``
        whose target ``c`` is central
    quad_in : (Q,) long, position in ``in_triplets`` of each quadruplet's in-triplet
    quad_out : (Q,) long, triplet ``(e1 = j -> i, c = k -> j)`` of each quadruplet
    """
    in_triplets = torch.nonzero(is_central[target_edge]).flatten()
    out_triplets = torch.nonzero(is_central[source_edge]).flatten()
    # Pair an "out" triplet with every "in" triplet that shares its central edge.
    out_pos, quad_in = pairs_with_equal_keys(
        source_edge[out_triplets], target_edge[in_triplets], is_central.shape[0]
    )
    quad_out = out_triplets[out_pos]
    # Four distinct atoms: the outer ones must differ (l != i); the triplets
    # already exclude l == j and k == i.
    atom_l = edge_index[0][source_edge[in_triplets[quad_in]]]
    atom_i = edge_index[1][target_edge[quad_out]]
    keep = atom_l != atom_i
    return in_triplets, quad_in[keep], quad_out[keep]
