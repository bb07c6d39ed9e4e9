"""Pair each directed edge ``i -> j`` of a neighbour list with its reverse ``j -> i``.

A radius graph holds every bond twice, once per direction. Models that build
a per-edge frame (:mod:`forcefields.nn.irreps_rotation`) need it for one
direction only: the frame of ``j -> i`` is the frame of ``i -> j`` followed by
a fixed half-turn, whose Wigner matrices are diagonal ``±1``
(:meth:`forcefields.nn.irreps_rotation.EdgeRotation.reverse_signs`). On CPUs the
per-edge rotations are bound by the number of small matrices, not by their
size, so building and applying half as many of them is the saving.
"""

from __future__ import annotations

import torch

__all__ = ["pair_edges"]


def pair_edges(edge_index: torch.Tensor, num_nodes: int) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The edges with ``src < dst`` and, in the same order, their reverses.

    Parameters
    ----------
    edge_index : (2, E) long, rows ``(src, dst)``
    num_nodes : int, n (every index is below it)

    Returns
    -------
    ``(forward, reverse)``, two (E/2,) long tensors of edge positions with
    ``edge_index[:, reverse] == edge_index[:, forward].flip(0)``, or None when
    the list cannot be paired that way (an edge without its reverse, a
    self-loop, a repeated edge): callers then treat every edge on its own.
    """
    src, dst = edge_index[0], edge_index[1]
    num_edges = src.numel()
    if num_edges % 2:
        return None
    forward = torch.nonzero(src < dst).squeeze(1)
    if 2 * forward.numel() != num_edges:
        return None
    if num_edges == 0:
        return forward, forward.clone()
    key = src * num_nodes + dst
    order = torch.argsort(key)
    sorted_key = key[order]
    if bool((sorted_key[1:] == sorted_key[:-1]).any()):
        return None
    wanted = dst[forward] * num_nodes + src[forward]
    found = torch.searchsorted(sorted_key, wanted).clamp_max(num_edges - 1)
    reverse = order[found]
    if not torch.equal(key[reverse], wanted):
        return None
    return forward, reverse
