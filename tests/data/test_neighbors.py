"""Neighbour lists: torch-cluster and pure torch give identical edges; strict d < cutoff."""

from __future__ import annotations

import pytest
import torch

from forcefields.data.neighbors import has_torch_cluster, radius_graph, radius_graph_torch


def _brute_force(pos, cutoff, batch):
    d = (pos[None, :, :] - pos[:, None, :]).norm(dim=-1)  # [i, j] = |r_j - r_i|
    same = batch[:, None] == batch[None, :]
    close = (d < cutoff) & same & ~torch.eye(len(pos), dtype=torch.bool)
    i, j = close.nonzero(as_tuple=True)
    edges = torch.stack([j, i])
    return edges[:, torch.argsort(edges[1] * len(pos) + edges[0])]


def _random_molecules(seed, sizes, box=4.0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    pos = torch.rand(sum(sizes), 3, generator=g, dtype=dtype) * box
    batch = torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes))
    return pos, batch


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_torch_path_matches_brute_force(dtype):
    pos, batch = _random_molecules(0, [1, 5, 17, 9, 30, 2], dtype=dtype)
    edges = radius_graph_torch(pos, 2.0, batch)
    assert torch.equal(edges, _brute_force(pos, 2.0, batch))
    # convention: edge (j, i) within one molecule, vector r_j - r_i shorter than the cutoff
    assert torch.equal(batch[edges[0]], batch[edges[1]])
    assert bool(((pos[edges[0]] - pos[edges[1]]).norm(dim=-1) < 2.0).all())


@pytest.mark.skipif(not has_torch_cluster(), reason="torch-cluster is not importable")
@pytest.mark.parametrize("seed", range(5))
def test_cluster_and_torch_paths_identical(seed):
    g = torch.Generator().manual_seed(100 + seed)
    sizes = torch.randint(1, 40, (12,), generator=g).tolist()
    pos, batch = _random_molecules(seed, sizes, box=5.0)
    for cutoff in (1.5, 3.0, 5.0):
        a = radius_graph(pos, cutoff, batch, backend="cluster")
        b = radius_graph(pos, cutoff, batch, backend="torch")
        assert a.shape[1] > 0
        assert torch.equal(a, b)


def test_large_molecule_blocks_match_brute_force():
    # more than 2048 atoms: the torch path works in blocks of receivers
    pos, batch = _random_molecules(3, [2100, 3], box=30.0)
    edges = radius_graph_torch(pos, 1.5, batch)
    assert torch.equal(edges, _brute_force(pos, 1.5, batch))


def test_cutoff_is_strict():
    pos = torch.tensor([[0.0, 0.0, 0.0], [1.5, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=torch.float64)
    for backend in ["torch"] + (["cluster"] if has_torch_cluster() else []):
        edges = radius_graph(pos, 1.5, backend=backend)
        pairs = set(map(tuple, edges.t().tolist()))
        assert pairs == {(2, 0), (0, 2)}, backend  # 0-1 at exactly 1.5 Å is out
