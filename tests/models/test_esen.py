"""Tests of the eSEN family: edge rotations, SO(2) layers, symmetries, physics, registry."""

from __future__ import annotations

from contextlib import contextmanager
from types import SimpleNamespace

import pytest
import torch
from e3nn import o3

from forcefields.models import build_model, create_model, get_variant, list_models
from forcefields.models.esen import ESEN, ESENConfig
from forcefields.nn.irreps_rotation import EdgeRotation, wigner_blocks_reference
from forcefields.nn.so2 import EdgeFrames, SO2Layout, SO2Linear
from forcefields.testing import (
    assert_batch_consistent,
    assert_equivariant,
    assert_forces_match_finite_differences,
    assert_permutation_invariant,
    assert_smooth_at_cutoff,
    assert_training_lowers_loss,
    assert_translation_invariant,
    check_rotation_equivariance,
    evaluate,
    make_molecules,
)

F64 = torch.float64


@contextmanager
def e3nn_in_float64():
    """e3nn builds generators in the default dtype; make reference matrices float64-exact."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(F64)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def tiny(lmax: int = 2, **overrides) -> ESEN:
    """A float64 eSEN small enough for exact-symmetry checks."""
    config = dict(lmax=lmax, hidden=4, num_layers=2, num_rbf=6, cutoff=4.0)
    config.update(overrides)
    return build_model("esen", ESENConfig(**config), dtype=F64, seed=0).eval()


@pytest.fixture(scope="module")
def molecules():
    return make_molecules(num_molecules=3, atoms=(3, 6), seed=3, dtype=F64)


# ------------------------------------------------------------- edge frames
def random_unit_vectors(n: int, seed: int = 0) -> torch.Tensor:
    v = torch.randn(n, 3, dtype=F64, generator=torch.Generator().manual_seed(seed))
    return v / v.norm(dim=-1, keepdim=True)


def test_edge_rotation_matches_e3nn_wigner_d():
    vec = 2.3 * random_unit_vectors(64)
    vec = vec[vec[:, 1].abs() < 0.85]  # first chart; e3nn's angles are well defined here
    ours = EdgeRotation(4)(vec)
    ref = wigner_blocks_reference(4, vec)
    for l in range(5):
        torch.testing.assert_close(ours[l], ref[l].to(F64), atol=1e-12, rtol=0)


@pytest.mark.parametrize("near_axis", [False, True])
def test_edge_frame_maps_y_axis_harmonics_to_the_edge(near_axis):
    vec = random_unit_vectors(50, seed=1)
    if near_axis:  # second chart, including edges exactly on ±y
        vec = torch.cat([vec * 0.01 + torch.tensor([0.0, 1.0, 0.0], dtype=F64), torch.tensor([[0.0, -1.5, 0.0], [0.0, 0.7, 0.0]], dtype=F64)])
    blocks = EdgeRotation(4)(vec)
    y_axis = torch.tensor([0.0, 1.0, 0.0], dtype=F64)
    for l, d in enumerate(blocks):
        eye = torch.eye(2 * l + 1, dtype=F64).expand_as(d)
        torch.testing.assert_close(d @ d.transpose(1, 2), eye, atol=1e-12, rtol=0)
        torch.testing.assert_close(torch.linalg.det(d), torch.ones(len(vec), dtype=F64), atol=1e-12, rtol=0)
        sh_axis = o3.spherical_harmonics(l, y_axis, normalize=True, normalization="component").to(F64)
        sh_edge = o3.spherical_harmonics(l, vec, normalize=True, normalization="component").to(F64)
        torch.testing.assert_close(d @ sh_axis, sh_edge, atol=1e-12, rtol=0)


@pytest.mark.parametrize("lmax, mmax", [(1, 1), (2, 2), (3, 1), (4, 2), (6, 3)])
def test_frame_matrix_equals_the_matrix_assembled_from_wigner_blocks(lmax, mmax):
    vec = random_unit_vectors(80, seed=2)
    # both charts, including edges exactly on ±y
    vec = torch.cat([vec, vec[:10] * 0.01 + torch.tensor([0.0, 1.0, 0.0], dtype=F64), torch.tensor([[0.0, -1.5, 0.0]], dtype=F64)])
    layout, rotation = SO2Layout(lmax, mmax), EdgeRotation(lmax)
    matrix = rotation.frame_matrix(vec, layout.components)
    torch.testing.assert_close(matrix, EdgeFrames(layout, rotation(vec, mmax)).matrix, atol=1e-13, rtol=0)
    with e3nn_in_float64():
        sh = o3.spherical_harmonics(list(range(lmax + 1)), vec, normalize=True, normalization="component")
    torch.testing.assert_close(rotation.harmonics(matrix, layout.components), sh, atol=1e-13, rtol=0)


def test_edge_rotation_gradients_are_finite_on_the_axis():
    vec = torch.tensor([[0.0, 1.2, 0.0], [0.0, -0.9, 0.0], [0.3, 0.4, -1.0]], dtype=F64, requires_grad=True)
    total = sum(d.square().mul(torch.arange(d[0].numel(), dtype=F64).view(d[0].shape)).sum() for d in EdgeRotation(3)(vec))
    (grad,) = torch.autograd.grad(total, vec)
    assert torch.isfinite(grad).all()


def _act(layout: SO2Layout, blocks: list[torch.Tensor], x_edge: torch.Tensor) -> torch.Tensor:
    """Apply per-degree matrices that preserve |m| to order-major edge-frame coefficients."""
    eye = [torch.eye(2 * l + 1, dtype=F64).expand(len(x_edge), -1, -1) for l in range(layout.lmax + 1)]
    full = EdgeFrames(layout, eye).from_edge(x_edge)  # zeros in the dropped orders
    return EdgeFrames(layout, [b.transpose(1, 2) for b in blocks]).to_edge(full)


@pytest.mark.parametrize("parity", [True, False])
@pytest.mark.parametrize("symmetry", ["spin", "mirror"])
def test_so2_linear_commutes_with_the_symmetries_of_the_edge(parity, symmetry):
    lmax, mmax, cin, cout, num_edges = 3, 2, 3, 2, 5
    layout = SO2Layout(lmax, mmax)
    torch.manual_seed(0)
    layer = SO2Linear(layout, cin, cout, edge_channels=4, parity=parity).double()
    edge_feat = torch.randn(num_edges, 4, dtype=F64)
    x = torch.randn(num_edges, layout.num_coefficients, cin, dtype=F64)
    with e3nn_in_float64():
        if symmetry == "spin":  # rotation about the edge (y) axis
            angle = torch.tensor(0.7, dtype=F64)
            blocks = [o3.wigner_D(l, angle, 0 * angle, 0 * angle) for l in range(lmax + 1)]
        else:  # mirror z -> -z through a plane containing the edge; features transform like Y_l
            mirror = torch.diag(torch.tensor([1.0, 1.0, -1.0], dtype=F64))
            blocks = [o3.Irrep(l, (-1) ** l).D_from_matrix(mirror) for l in range(lmax + 1)]
    blocks = [b.expand(num_edges, -1, -1) for b in blocks]
    lhs, _ = layer(_act(layout, blocks, x), edge_feat)
    out, _ = layer(x, edge_feat)
    rhs = _act(layout, blocks, out)
    if symmetry == "mirror" and not parity:
        assert (lhs - rhs).abs().max() > 1e-3  # parity-odd weights break the mirror
    else:
        torch.testing.assert_close(lhs, rhs, atol=1e-12, rtol=0)


def test_so2_linear_without_parity_is_a_complex_product_per_order():
    """Each |m| > 0 block maps (x₊, x₋) to (W_r x₊ - W_i x₋, W_i x₊ + W_r x₋), W = [W_r; W_i] of its fc."""
    lmax, mmax, cin, cout, num_edges = 3, 2, 3, 2, 5
    layout = SO2Layout(lmax, mmax)
    torch.manual_seed(0)
    layer = SO2Linear(layout, cin, cout, edge_channels=0, parity=False).double()
    x = torch.randn(num_edges, layout.num_coefficients, cin, dtype=F64)
    out, _ = layer(x, None)
    x_blocks = x.split(layout.block_sizes, dim=1)
    out_blocks = out.split(layout.block_sizes, dim=1)
    for m in range(1, mmax + 1):
        k = lmax + 1 - m
        real, imag = layer.fc[m].weight.split(k * cout, dim=0)
        plus, minus = x_blocks[m].reshape(num_edges, 2, k * cin).unbind(1)
        expected = torch.stack([plus @ real.T - minus @ imag.T, plus @ imag.T + minus @ real.T], dim=1)
        torch.testing.assert_close(out_blocks[m], expected.view(num_edges, 2 * k, cout), atol=1e-13, rtol=0)



@pytest.mark.parametrize("frozen", [False, True])
def test_so2_linear_orders_are_one_matrix_product_over_all_edges(frozen):
    """Frozen weights (inference after ``requires_grad_(False)``, frozen fine-tuning parts) must not
    turn an order's product into one small matrix product per edge: ``torch.matmul`` does that to a
    3-d input that is not contiguous when the weight needs no gradient (about 10 % of an MD step)."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class Products(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.batches = []

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if func.overloadpacket.__name__ in ("bmm", "baddbmm"):
                self.batches.append(args[0].shape[0] if func.overloadpacket.__name__ == "bmm" else args[1].shape[0])
            return func(*args, **(kwargs or {}))

    layout = SO2Layout(2, 2)
    layer = SO2Linear(layout, 4, 3, edge_channels=5)
    layer.requires_grad_(not frozen)
    x = torch.randn(50, layout.num_coefficients, 4, requires_grad=True)
    products = Products()
    with products:
        out, _ = layer(x, torch.randn(50, 5))
        out.square().sum().backward()
    assert products.batches == []  # every product is a plain matrix product over all edges

@pytest.mark.parametrize("parity", [True, False])
@pytest.mark.parametrize("edge_channels", [4, 0])
def test_so2_linear_on_paired_endpoints_equals_the_reverse_edges_built_out(parity, edge_channels):
    """With reverse_sign, one call covers the framed edges and their reverses ([dst | src], signed rows)."""
    lmax, mmax, half, cout, framed = 3, 2, 3, 2, 5
    layout = SO2Layout(lmax, mmax)
    torch.manual_seed(0)
    layer = SO2Linear(layout, 2 * half, cout, edge_channels, extra_scalars=3, parity=parity, paired_endpoints=True)
    layer = layer.double()
    x = torch.randn(framed, layout.num_coefficients, 2 * half, dtype=F64)
    edge_feat = torch.randn(2 * framed, edge_channels, dtype=F64) if edge_channels else None
    sign = torch.tensor([(-1.0) ** (l + abs(m)) for l, m in layout.components], dtype=F64)
    out, extra = layer(x, edge_feat, reverse_sign=sign)
    reverse = x.roll(half, dims=-1) * sign.view(-1, 1)
    expected, expected_extra = layer(torch.cat([x, reverse]), edge_feat)
    torch.testing.assert_close(out, expected, atol=1e-13, rtol=0)
    torch.testing.assert_close(extra, expected_extra, atol=1e-13, rtol=0)


def test_scaling_both_halves_has_the_broadcast_products_derivatives():
    from forcefields.nn.so2 import _ScaleBothHalves

    gen = torch.Generator().manual_seed(0)
    x = torch.randn(3, 4, 2, generator=gen, dtype=F64, requires_grad=True)
    scales = torch.randn(2, 3, 4, 2, generator=gen, dtype=F64, requires_grad=True)
    torch.testing.assert_close(_ScaleBothHalves.apply(x, scales), x.unsqueeze(0) * scales, rtol=0, atol=0)
    assert torch.autograd.gradcheck(_ScaleBothHalves.apply, (x, scales))
    assert torch.autograd.gradgradcheck(_ScaleBothHalves.apply, (x, scales))


def test_so2_linear_paired_input_needs_the_paired_layer_and_even_channels():
    layout = SO2Layout(2, 2)
    with pytest.raises(ValueError, match="even in_channels"):
        SO2Linear(layout, 3, 2, 0, paired_endpoints=True)
    layer = SO2Linear(layout, 4, 2, 0)
    with pytest.raises(ValueError, match="paired_endpoints=True"):
        layer(torch.randn(2, layout.num_coefficients, 4), None, reverse_sign=torch.ones(layout.num_coefficients))


# --------------------------------------------------------------- symmetries
@pytest.mark.parametrize("lmax", [1, 2, 3, 4])
def test_energy_invariant_forces_equivariant_under_rotations_and_reflections(lmax, molecules):
    assert_equivariant(tiny(lmax), molecules, atol=1e-11, reflect=True, trials=1)


@pytest.mark.parametrize("lmax", [1, 2])
def test_source_only_messages_keep_the_symmetries_and_conservative_forces(lmax, molecules):
    model = tiny(lmax, endpoints="source")
    assert model.blocks[0].conv1.cin == model.config.hidden == tiny(lmax).blocks[0].conv1.cin // 2  # C in, not 2C
    assert_equivariant(model, molecules, atol=1e-11, reflect=True, trials=1)
    assert_forces_match_finite_differences(model, molecules, eps=1e-5, atol=1e-7, max_atoms=4)
    # The receiver's scalars reach the message: changing them changes the energy.
    energy, _ = evaluate(model, molecules)
    with torch.no_grad():  # not a constant shift: the normed scalars sum to zero over channels
        model.blocks[0].receiver.weight.copy_(torch.randn(model.blocks[0].receiver.weight.shape, dtype=F64))
    assert (evaluate(model, molecules)[0] - energy).abs().max() > 1e-8


@pytest.mark.parametrize("lmax", [1, 3])
def test_direct_force_head_is_equivariant(lmax, molecules):
    model = tiny(lmax, force_mode="direct")
    _, forces = evaluate(model, molecules)
    assert forces.abs().max() > 1e-6  # a real vector, not zeros
    assert_equivariant(model, molecules, atol=1e-11, reflect=True, trials=1)


def test_without_parity_the_model_is_rotation_but_not_reflection_invariant(molecules):
    model = tiny(2, parity=False)
    assert_equivariant(model, molecules, atol=1e-9, reflect=False, trials=1)
    e_err, _ = check_rotation_equivariance(model, molecules, reflect=True)
    assert e_err > 1e-7, "parity-odd weights should make the energy chiral"


def test_translation_and_permutation_invariance(molecules):
    model = tiny(2)
    assert_translation_invariant(model, molecules, atol=1e-9)
    assert_permutation_invariant(model, molecules, atol=1e-9)


# ------------------------------------------------------------------ physics
def test_conservative_forces_match_finite_differences(molecules):
    assert_forces_match_finite_differences(tiny(3), molecules, eps=1e-5, atol=1e-7, max_atoms=4)


def test_forces_finite_for_a_molecule_along_the_y_axis():
    model = tiny(2)
    pos = torch.tensor([[0.0, -0.6, 0.0], [0.0, 0.6, 0.0], [0.0, 1.8, 0.0]], dtype=F64)
    energy, forces = evaluate(model, SimpleNamespace(z=torch.tensor([8, 6, 1]), pos=pos, batch=None))
    assert torch.isfinite(forces).all() and torch.isfinite(energy).all()
    # By symmetry the forces of a linear molecule lie along its axis.
    torch.testing.assert_close(forces[:, [0, 2]], torch.zeros(3, 2, dtype=F64), atol=1e-10, rtol=0)


def test_batch_equals_molecules_one_by_one(molecules):
    assert_batch_consistent(tiny(2), molecules, atol=1e-10)


def test_energy_and_forces_continuous_at_cutoff():
    assert_smooth_at_cutoff(tiny(2), delta=1e-5, atol=1e-8)


def test_float32_default_and_float64_on_request(molecules):
    model32 = create_model("esen-l1-xs")
    assert next(model32.parameters()).dtype == torch.float32
    batch32 = make_molecules(num_molecules=2, atoms=4, seed=0, dtype=torch.float32)
    energy, forces = evaluate(model32, batch32)
    assert energy.dtype == torch.float32 and torch.isfinite(forces).all()
    model64 = create_model("esen-l1-xs", dtype="float64")
    batch64 = make_molecules(num_molecules=2, atoms=4, seed=0, dtype=F64)
    e64, _ = evaluate(model64, batch64)
    torch.testing.assert_close(energy.double(), e64, atol=1e-4, rtol=1e-4)


def test_a_few_optimizer_steps_lower_the_loss():
    batch = make_molecules(num_molecules=4, atoms=(4, 6), seed=5, dtype=torch.float32)
    model = build_model("esen", ESENConfig(lmax=2, hidden=8, num_layers=2, num_rbf=6, cutoff=4.0), seed=0)
    assert_training_lowers_loss(model, batch, steps=15, lr=5e-3, min_drop=0.2)


# ----------------------------------------------------------------- registry
def test_every_variant_registers_with_increasing_parameter_counts():
    names = list_models("esen")
    expected = [f"esen-l{l}-{s}" for l in range(1, 5) for s in ("xs", "s", "m", "l", "xl")]
    assert sorted(names) == sorted(expected)
    for lmax in range(1, 5):
        counts = []
        for size in ("xs", "s", "m", "l", "xl"):
            variant = get_variant(f"esen-l{lmax}-{size}")
            with torch.device("meta"):
                model = create_model(variant.name)
            assert model.lmax == lmax and model.config.hidden == variant.config["hidden"]
            counts.append(model.num_parameters())
        assert counts == sorted(counts) and len(set(counts)) == 5, counts
        # width doubling: roughly four times the parameters per step
        assert all(3.0 < b / a < 4.5 for a, b in zip(counts[1:], counts[2:])), counts


def test_config_round_trip_and_clear_errors():
    config = ESENConfig(lmax=3, hidden=8)
    again = ESENConfig.from_dict(config.to_dict())
    assert again == config and again.resolved_mmax == 2
    with pytest.raises(ValueError, match="lmax=9"):
        ESENConfig(lmax=9).validate()
    with pytest.raises(ValueError, match="mmax=3"):
        ESENConfig(lmax=2, mmax=3).validate()
    with pytest.raises(ValueError, match="endpoints='target'"):
        ESENConfig(endpoints="target").validate()
    # Configs written before the field existed load as eSEN's both-endpoint messages.
    old = {k: v for k, v in config.to_dict().items() if k != "endpoints"}
    assert ESENConfig.from_dict(old).endpoints == "both"


def test_family_and_config_rebuild_the_same_model(molecules):
    model = tiny(3, mmax=1, force_mode="direct")
    again = build_model(model.family, model.config.to_dict(), dtype=F64)
    again.load_state_dict(model.state_dict())
    e0, f0 = evaluate(model, molecules)
    e1, f1 = evaluate(again.eval(), molecules)
    assert torch.equal(e0, e1) and torch.equal(f0, f1)


def test_edge_pair_index_gathers_both_endpoints_in_one_operation():
    from forcefields.models.esen import edge_pair_index

    gen = torch.Generator().manual_seed(3)
    h = torch.randn(6, 9, 4, generator=gen)
    src, dst = torch.randint(0, 6, (11,), generator=gen), torch.randint(0, 6, (11,), generator=gen)
    gathered = h.reshape(-1, 4)[edge_pair_index(src, dst, 9)].view(11, 9, 8)
    torch.testing.assert_close(gathered, torch.cat([h[src], h[dst]], dim=-1), rtol=0, atol=0)


def test_both_ends_gives_the_same_rows_with_and_without_the_pair_index():
    from forcefields.models.esen import _both_ends, edge_pair_index

    gen = torch.Generator().manual_seed(4)
    h = torch.randn(6, 9, 4, generator=gen)
    src, dst = torch.randint(0, 6, (11,), generator=gen), torch.randint(0, 6, (11,), generator=gen)
    one_gather = _both_ends(h, edge_pair_index(src[:7], dst[:7], 9), src, dst, 7)
    by_rows = _both_ends(h, None, src, dst, 7)  # the first 7 of 11 edges hold frames
    assert torch.equal(one_gather, by_rows) and torch.equal(by_rows, torch.cat([h[src[:7]], h[dst[:7]]], dim=-1))
