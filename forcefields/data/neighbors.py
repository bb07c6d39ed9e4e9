"""Neighbour lists: atoms within a cutoff radius, molecule by molecule.

`torch_cluster.radius_graph` is used when it imports; otherwise a pure-torch
path gives the same edges (used, for example, on a GPU machine whose CUDA build
of torch has no matching torch-cluster).

Edge convention (PyG "source_to_target"): ``edge_index[0]`` is the neighbour j
that sends the message, ``edge_index[1]`` the atom i that receives it, and the
edge vector is ``r_ij = pos[j] - pos[i]`` (Å).
"""

from __future__ import annotations

import torch

try:  # pragma: no cover - exercised on machines with torch-cluster
    import torch_cluster as _torch_cluster
except Exception:  # ImportError, or an ABI mismatch with the installed torch
    _torch_cluster = None

__all__ = ["radius_graph", "radius_graph_torch", "has_torch_cluster"]


def has_torch_cluster() -> bool:
    """Whether the compiled torch-cluster backend is importable."""
    return _torch_cluster is not None


def radius_graph_torch(
    pos: torch.Tensor, cutoff: float, batch: torch.Tensor | None = None
) -> torch.Tensor:
    """All ordered pairs (j, i), j != i, of one molecule closer than ``cutoff``.

    Distances are ``|pos[j] - pos[i]|`` from explicit differences, the same
    formula the torch-cluster path filters with, so both give identical edges.
    Molecules are padded to a common size and processed many at a time;
    large molecules go in blocks of receivers.

    Parameters
    ----------
    pos : (n, 3) tensor, Å
    cutoff : float, Å (pairs with distance < cutoff are kept)
    batch : (n,) long tensor, molecule index of each atom, sorted; None for one molecule

    Returns
    -------
    edge_index : (2, E) long tensor, rows (source j, target i), sorted by target.
    """
    n = pos.shape[0]
    device = pos.device
    if batch is None:
        batch = torch.zeros(n, dtype=torch.long, device=device)
    if n == 0:
        return torch.zeros(2, 0, dtype=torch.long, device=device)
    counts = torch.bincount(batch)
    ptr = torch.zeros(counts.numel() + 1, dtype=torch.long, device=device)
    ptr[1:] = torch.cumsum(counts, 0)
    p = pos.detach()
    budget = 1 << 22  # pair distances per dense block (memory: a few x 16 MB)
    edges = []
    nmax = int(counts.max())
    if nmax * nmax <= budget:
        # padded (graphs, nmax, nmax) blocks of many molecules at once
        local = torch.arange(n, device=device) - ptr[batch]
        step = max(1, budget // (nmax * nmax))
        for g0 in range(0, counts.numel(), step):
            g1 = min(g0 + step, counts.numel())
            a0, a1 = int(ptr[g0]), int(ptr[g1])
            padded = p.new_full((g1 - g0, nmax, 3), float("nan"))
            padded[batch[a0:a1] - g0, local[a0:a1]] = p[a0:a1]
            d = (padded[:, None, :, :] - padded[:, :, None, :]).norm(dim=-1)  # [g, i, j] = |r_j - r_i|
            close = d < cutoff  # NaN (padding) compares False
            close.diagonal(dim1=1, dim2=2).fill_(False)
            g, i, j = close.nonzero(as_tuple=True)
            base = ptr[g + g0]
            edges.append(torch.stack([j + base, i + base]))
    else:
        for g in range(counts.numel()):
            lo, hi = int(ptr[g]), int(ptr[g + 1])
            block = p[lo:hi]
            chunk = max(1, budget // max(hi - lo, 1))
            for start in range(0, hi - lo, chunk):
                recv = block[start : start + chunk]
                d = (block[None, :, :] - recv[:, None, :]).norm(dim=-1)
                close = d < cutoff
                idx = torch.arange(recv.shape[0], device=device)
                close[idx, idx + start] = False
                i_loc, j_loc = close.nonzero(as_tuple=True)
                edges.append(torch.stack([j_loc + lo, i_loc + start + lo]))
    if not edges:
        return torch.zeros(2, 0, dtype=torch.long, device=device)
    edge_index = torch.cat(edges, dim=1)
    order = torch.argsort(edge_index[1] * n + edge_index[0])
    return edge_index[:, order]


def radius_graph(
    pos: torch.Tensor,
    cutoff: float,
    batch: torch.Tensor | None = None,
    max_num_neighbors: int = 1024,
    backend: str = "auto",
) -> torch.Tensor:
    """Neighbour list within ``cutoff`` (Å), same convention as :func:`radius_graph_torch`.

    Parameters
    ----------
    pos : (n, 3) tensor, Å
    cutoff : float, Å
    batch : (n,) long tensor or None
    max_num_neighbors : int
        Upper bound handed to torch-cluster; an atom with more neighbours than
        this is an error rather than a silent truncation.
    backend : {"auto", "cluster", "torch"}

    Returns
    -------
    edge_index : (2, E) long tensor, sorted by target then source.
    """
    use_cluster = backend == "cluster" or (backend == "auto" and _torch_cluster is not None)
    if backend == "cluster" and _torch_cluster is None:
        raise RuntimeError(
            "torch-cluster is not importable here; install it (make install builds it) "
            "or call radius_graph(..., backend='torch')."
        )
    if not use_cluster:
        return radius_graph_torch(pos, cutoff, batch)
    edge_index = _torch_cluster.radius_graph(
        pos.detach(), r=cutoff, batch=batch, loop=False, max_num_neighbors=max_num_neighbors
    )
    # torch-cluster keeps d <= r; the pure-torch path keeps d < r. Make them agree.
    d = (pos.detach()[edge_index[0]] - pos.detach()[edge_index[1]]).norm(dim=-1)
    edge_index = edge_index[:, d < cutoff]
    counts = torch.bincount(edge_index[1], minlength=pos.shape[0])
    if counts.numel() and int(counts.max()) >= max_num_neighbors:
        raise ValueError(
            f"an atom has {int(counts.max())} neighbours within {cutoff} Å, at the "
            f"max_num_neighbors={max_num_neighbors} limit; raise max_num_neighbors or lower the cutoff."
        )
    n = pos.shape[0]
    order = torch.argsort(edge_index[1] * n + edge_index[0])
    return edge_index[:, order]
