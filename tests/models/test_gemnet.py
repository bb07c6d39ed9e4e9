"""The GemNet-OC-style family: indices, bases, E(3) symmetry, forces, bad input."""

from __future__ import annotations

import itertools
import math
from types import SimpleNamespace

import pytest
import torch

from forcefields.cli.models import count_parameters
from forcefields.data.neighbors import radius_graph
from forcefields.models import build_model, create_model, list_models
from forcefields.models.gemnet import GemNet, GemNetConfig
from forcefields.nn.gemnet_basis import dihedral_harmonics, legendre
from forcefields.nn.gemnet_blocks import BasisBilinear
from forcefields.nn.gemnet_graph import Items
from forcefields.nn.triplets import build_quadruplets, build_triplets, reverse_edges
from forcefields.testing import (
    assert_batch_consistent,
    assert_equivariant,
    assert_forces_match_finite_differences,
    assert_permutation_invariant,
    assert_smooth_at_cutoff,
    assert_translation_invariant,
    check_rotation_equivariance,
    evaluate,
    make_molecules,
)

TINY = dict(hidden=8, num_layers=2, num_rbf=4, num_angular=3, num_dihedral=3, num_quad_angular=2,
            cutoff=4.0, quad_cutoff=2.5)


def tiny(force_mode: str = "conservative", **kw) -> GemNet:
    config = GemNetConfig(**{**TINY, "force_mode": force_mode, **kw})
    return build_model("gemnet", config, dtype=torch.float64, seed=0).eval()


def molecule(pos, z=None):
    pos = torch.as_tensor(pos, dtype=torch.float64)
    z = torch.full((pos.shape[0],), 6, dtype=torch.long) if z is None else torch.as_tensor(z)
    return SimpleNamespace(z=z, pos=pos, batch=None)


@pytest.fixture(scope="module")
def batch():
    return make_molecules(num_molecules=3, atoms=(4, 7), seed=4)


# ------------------------------------------------------------------ indices
def _random_graph(seed=0, n=9, cutoff=2.2):
    gen = torch.Generator().manual_seed(seed)
    pos = 3.0 * torch.rand(n, 3, generator=gen, dtype=torch.float64)
    batch = torch.zeros(n, dtype=torch.long)
    return pos, radius_graph(pos, cutoff, batch)


def test_triplets_and_quadruplets_match_brute_force():
    pos, edge_index = _random_graph()
    n = pos.shape[0]
    edges = [tuple(e) for e in edge_index.T.tolist()]  # (s, t)
    target, source = build_triplets(edge_index, n)
    got = sorted((edges[a], edges[b]) for a, b in zip(target.tolist(), source.tolist()))
    want = sorted(((j, i), (k, j2)) for (j, i), (k, j2) in itertools.product(edges, edges) if j2 == j and k != i)
    assert got == want and len(want) > 20

    central = torch.linalg.vector_norm(pos[edge_index[0]] - pos[edge_index[1]], dim=-1) < 1.6
    in_triplets, quad_in, quad_out = build_quadruplets(edge_index, target, source, central)
    got_q = sorted(
        (edges[int(source[in_triplets[a]])][0], edges[int(target[in_triplets[a]])][0],
         edges[int(target[b])][0], edges[int(target[b])][1])
        for a, b in zip(quad_in.tolist(), quad_out.tolist())
    )
    central_pairs = {edges[e] for e in range(len(edges)) if central[e]}
    want_q = sorted(
        (l, k, j, i)
        for (k, j) in central_pairs
        for (l, k2) in edges if k2 == k and l != j
        for (j2, i) in edges if j2 == j and i != k and i != l
    )
    assert got_q == want_q and len(want_q) > 5


def test_reverse_edges_and_refusal_of_asymmetric_lists():
    pos, edge_index = _random_graph(seed=1)
    rev = reverse_edges(edge_index, pos.shape[0])
    assert torch.equal(edge_index[:, rev], edge_index.flip(0))
    with pytest.raises(ValueError, match="not symmetric"):
        reverse_edges(edge_index[:, 1:], pos.shape[0])


def test_indices_of_an_empty_graph():
    empty = torch.zeros(2, 0, dtype=torch.long)
    target, source = build_triplets(empty, 3)
    assert target.numel() == source.numel() == 0
    _, quad_in, quad_out = build_quadruplets(empty, target, source, torch.zeros(0, dtype=torch.bool))
    assert quad_in.numel() == quad_out.numel() == 0
    assert reverse_edges(empty, 3).numel() == 0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_indices_on_cuda_match_cpu():
    pos, edge_index = _random_graph(seed=2)
    cpu = build_triplets(edge_index, pos.shape[0])
    gpu = build_triplets(edge_index.cuda(), pos.shape[0])
    assert all(torch.equal(a, b.cpu()) for a, b in zip(cpu, gpu))


def test_bilinear_equals_the_sum_over_items():
    gen = torch.Generator().manual_seed(3)
    num_edges, num_items, s, c = 5, 17, 3, 4
    target = torch.randint(num_edges - 1, (num_items,), generator=gen)  # the last edge gets nothing
    source = torch.randint(6, (num_items,), generator=gen)
    basis = torch.randn(num_items, s, generator=gen, dtype=torch.float64)
    features = torch.randn(6, c, generator=gen, dtype=torch.float64)
    rbf = torch.randn(num_edges, 2, generator=gen, dtype=torch.float64)
    layer = BasisBilinear(s, c, 2, num_rbf=2).double()
    got = layer(features, Items(target, source, basis), rbf, norm=2.0)
    summed = torch.zeros(num_edges, s, c, dtype=torch.float64)
    for t in range(num_items):  # the definition, item by item
        summed[target[t]] += torch.outer(basis[t], features[source[t]])
    want = (summed.flatten(1) * layer.radial(rbf)) @ layer.weight / 2.0
    torch.testing.assert_close(got, want)
    assert got[-1].abs().max() == 0


# ------------------------------------------------------------------- bases
def test_legendre_and_dihedral_harmonics():
    x = torch.linspace(-1, 1, 7, dtype=torch.float64)
    p = legendre(x, 4)
    torch.testing.assert_close(p[:, 2], (3 * x**2 - 1) / 2)
    torch.testing.assert_close(p[:, 3], (5 * x**3 - 3 * x) / 2)
    rho, phi = torch.rand(5, dtype=torch.float64), torch.rand(5, dtype=torch.float64) * 2 * math.pi
    d = dihedral_harmonics(rho * torch.cos(phi), rho**2, 4)
    for m in range(4):
        torch.testing.assert_close(d[:, m], rho**m * torch.cos(m * phi))


def _chain(dihedral: float, bond: float = 1.4, angle: float = 1.9):
    """Four atoms l-k-j-i: bonds ``bond`` Å, both angles ``angle`` rad, the given dihedral (rad).

    The central bond k-j lies on the x axis; l and i are trans at dihedral pi.
    """
    c, s = math.cos(angle), math.sin(angle)
    l = [bond * c, bond * s, 0.0]
    k = [0.0, 0.0, 0.0]
    j = [bond, 0.0, 0.0]
    i = [bond - bond * c, bond * s * math.cos(dihedral), bond * s * math.sin(dihedral)]
    return molecule([l, k, j, i])


# cutoff below the l-j, k-i and l-i distances: the chain's only edges are its three bonds.
CHAIN = dict(cutoff=2.0, quad_cutoff=1.9, avg_num_neighbors=2.0)


def test_energy_depends_on_the_dihedral_only_with_quadruplets():
    a, b = _chain(1.5), _chain(2.8)
    for mol in (a, b):
        d = torch.cdist(mol.pos, mol.pos)
        assert int((d < CHAIN["cutoff"]).sum()) == 4 + 2 * 3  # self pairs + three bonds
    with_quads, without = tiny(**CHAIN), tiny(quad_interaction=False, **CHAIN)
    assert abs(float(evaluate(with_quads, a)[0] - evaluate(with_quads, b)[0])) > 1e-8
    assert abs(float(evaluate(without, a)[0] - evaluate(without, b)[0])) < 1e-12


# ---------------------------------------------------------------- symmetry
@pytest.mark.parametrize("force_mode", ["conservative", "direct"])
def test_e3_symmetries(batch, force_mode):
    model = tiny(force_mode)
    assert_equivariant(model, batch, reflect=True)  # declared E(3): mirror images included
    assert_translation_invariant(model, batch)
    assert_permutation_invariant(model, batch)
    assert_batch_consistent(model, batch)
    assert_smooth_at_cutoff(model)


def test_declared_symmetry_is_e3():
    assert GemNet.symmetry == "E(3)"
    # a chiral geometry and its mirror image give the same energy
    chiral = _chain(1.1)
    mirror = molecule(chiral.pos * torch.tensor([1.0, 1.0, -1.0], dtype=torch.float64))
    model = tiny(**CHAIN)
    torch.testing.assert_close(evaluate(model, chiral)[0], evaluate(model, mirror)[0], rtol=0, atol=1e-12)


def test_broken_basis_is_caught(batch, monkeypatch):
    # Honesty check: a sin(φ) term in the basis must make the reflection test fail.
    import forcefields.nn.gemnet_graph as graph_module

    original = graph_module.quadruplet_dihedral_terms

    def chiral_terms(unit, target, source, cosines, in_t, out_t):
        p, rho2, cos_out = original(unit, target, source, cosines, in_t, out_t)
        axis = unit[target[in_t]]
        triple = (torch.cross(unit[source[in_t]], axis, dim=-1) * unit[target[out_t]]).sum(-1)
        return p + triple, rho2, cos_out

    monkeypatch.setattr(graph_module, "quadruplet_dihedral_terms", chiral_terms)
    model = tiny()
    assert max(check_rotation_equivariance(model, batch, reflect=False)) < 1e-8
    assert max(check_rotation_equivariance(model, batch, reflect=True)) > 1e-8


# ------------------------------------------------------------------ forces
def test_conservative_forces_are_gradients(batch):
    assert_forces_match_finite_differences(tiny(), batch, max_atoms=4)


def test_direct_forces_are_nonzero_and_switch(batch):
    direct = tiny("direct")
    _, forces = evaluate(direct, batch)
    assert forces.abs().max() > 1e-6
    conservative = direct.with_force_mode("conservative").eval()
    torch.testing.assert_close(evaluate(conservative, batch)[0], evaluate(direct, batch)[0], rtol=0, atol=1e-12)


def _across_the_quadruplet_cutoff(model, cutoff=1.5, delta=1e-7):
    """Energies and forces of a chain whose central bond is ``cutoff ± delta`` Å."""
    results = []
    for d in (cutoff - delta, cutoff + delta):
        pos = _chain(0.8, bond=1.2).pos
        pos[2:] += torch.tensor([d - 1.2, 0.0, 0.0], dtype=torch.float64)
        results.append(evaluate(model, molecule(pos)))
    (e0, f0), (e1, f1) = results
    return float((e0 - e1).abs().max()), float((f0 - f1).abs().max())


def test_smooth_at_the_quadruplet_cutoff():
    # The central bond k-j crosses quad_cutoff; no edge crosses the main cutoff.
    model = tiny(cutoff=4.0, quad_cutoff=1.5)
    e_jump, f_jump = _across_the_quadruplet_cutoff(model)
    assert e_jump < 1e-6 and f_jump < 1e-5
    # the same geometry with a hard quadruplet cutoff jumps: the check can fail
    model.quad_envelope.forward = lambda d: (d < 1.5).to(d.dtype)
    e_jump, _ = _across_the_quadruplet_cutoff(model)
    assert e_jump > 1e-5


def test_quadruplet_interaction_is_used(batch):
    model = tiny()
    e0, _ = evaluate(model, batch)
    with torch.no_grad():
        for block in model.blocks:
            block.quadruplet.up.weight.zero_()
            block.quadruplet.up_reverse.weight.zero_()
    e1, _ = evaluate(model, batch)
    assert (e0 - e1).abs().max() > 1e-8


@pytest.mark.parametrize("force_mode", ["conservative", "direct"])
def test_every_parameter_learns(batch, force_mode):
    model = tiny(force_mode).train()
    out = model(batch)
    (out["energy"].pow(2).sum() + out["forces"].pow(2).sum()).backward()
    silent = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not silent, f"parameters without gradient: {silent}"


# --------------------------------------------------------------- bad input
@pytest.mark.parametrize("force_mode", ["conservative", "direct"])
def test_isolated_atoms_and_single_neighbours_give_finite_output(force_mode):
    # an isolated atom, a diatomic (one neighbour each: no triplets) and a lone atom far away
    mol = molecule([[0.0, 0.0, 0.0], [1.1, 0.0, 0.0], [20.0, 0.0, 0.0], [-20.0, 5.0, 0.0]], z=[6, 8, 1, 7])
    energy, forces = evaluate(tiny(force_mode), mol)
    assert torch.isfinite(energy).all() and torch.isfinite(forces).all()
    assert forces[2:].abs().max() == 0  # nothing acts on isolated atoms
    single = molecule([[0.0, 0.0, 0.0]])
    energy, forces = evaluate(tiny(force_mode), single)
    assert torch.isfinite(energy).all() and forces.abs().max() == 0


def test_two_atom_molecule_forces_are_gradients():
    model = tiny()
    mol = molecule([[0.0, 0.0, 0.0], [1.2, 0.3, -0.1]], z=[1, 8])
    energy, forces = evaluate(model, mol)
    assert torch.isfinite(energy).all()
    torch.testing.assert_close(forces[0], -forces[1])  # Newton's third law
    batch = SimpleNamespace(z=mol.z, pos=mol.pos, batch=torch.zeros(2, dtype=torch.long))
    assert_forces_match_finite_differences(model, batch, max_atoms=2)


@pytest.mark.parametrize("force_mode", ["conservative", "direct"])
def test_collinear_atoms_give_finite_forces(force_mode):
    # a straight chain: every dihedral is undefined, every angle 180 degrees
    mol = molecule([[0.0, 0.0, 0.0], [1.2, 0.0, 0.0], [2.4, 0.0, 0.0], [3.6, 0.0, 0.0]])
    model = tiny(force_mode, quad_cutoff=1.5)
    energy, forces = evaluate(model, mol)
    assert torch.isfinite(energy).all() and torch.isfinite(forces).all()
    if force_mode == "conservative":
        batch = SimpleNamespace(z=mol.z, pos=mol.pos, batch=torch.zeros(4, dtype=torch.long))
        assert_forces_match_finite_differences(model, batch, max_atoms=4)


# -------------------------------------------------------------- registry
def test_variants_scale_width_only():
    names = list_models("gemnet")
    assert names == [f"gemnet-{s}" for s in ("xs", "s", "m", "l", "xl")]
    counts = [count_parameters(n) for n in names]
    assert all(b > 3 * a for a, b in zip(counts, counts[1:]))
    assert counts[0] < 1e5 and counts[-1] > 1e7
    with torch.device("meta"):
        xs, s = create_model("gemnet-xs", seed=None), create_model("gemnet-s", seed=None)
    assert s.config.hidden == 2 * xs.config.hidden and s.config.num_layers == xs.config.num_layers
    assert s.config.triplet_dim == 2 * xs.config.triplet_dim and s.config.quad_dim == 2 * xs.config.quad_dim


def test_config_round_trip_and_validation():
    config = GemNetConfig(**TINY)
    assert GemNetConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="quad_cutoff"):
        GemNet(GemNetConfig(cutoff=4.0, quad_cutoff=5.0))
    with pytest.raises(ValueError, match="num_angular"):
        GemNet(GemNetConfig(num_angular=0))


def test_finetune_parts_cover_every_parameter():
    for mode in ("conservative", "direct"):
        model = tiny(mode)
        prefixes = [p for part in model.finetune_parts().values() for p in part]
        for name, _ in model.named_parameters():
            owners = [p for p in prefixes if name == p or name.startswith(p + ".")]
            assert len(owners) == 1, (name, owners)
