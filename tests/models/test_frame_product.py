"""frame_product: torch.bmm's values and derivatives (first, second, third order) with other layouts."""

import pytest
import torch

from forcefields.nn.frame_product import frame_product


def _inputs(seed: int = 0, edges: int = 5, rows: int = 4, cols: int = 9, channels: int = 3):
    gen = torch.Generator().manual_seed(seed)
    matrix = torch.randn(edges, rows, cols, generator=gen, dtype=torch.float64, requires_grad=True)
    x = torch.randn(edges, cols, channels, generator=gen, dtype=torch.float64, requires_grad=True)
    return matrix, x


def test_values_equal_bmm():
    matrix, x = _inputs()
    torch.testing.assert_close(frame_product(matrix, x), torch.bmm(matrix, x), rtol=0, atol=0)


def test_gradcheck_first_and_second_order():
    matrix, x = _inputs(edges=3, rows=4, cols=4, channels=2)
    assert torch.autograd.gradcheck(frame_product, (matrix, x))
    assert torch.autograd.gradgradcheck(frame_product, (matrix, x))


@pytest.mark.parametrize("create_graph_wrt", ["matrix", "x"])
def test_double_backward_matches_bmm(create_graph_wrt):
    """The pattern of conservative training: forces from a first gradient, a loss on them, its gradient."""
    grads = {}
    for name, fn in (("bmm", torch.bmm), ("frame_product", frame_product)):
        matrix, x = _inputs(seed=1)
        weight = torch.randn(5, 4, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
        energy = (fn(matrix, x) * weight).sin().sum()
        first = torch.autograd.grad(energy, matrix if create_graph_wrt == "matrix" else x, create_graph=True)[0]
        loss = first.square().sum()
        grads[name] = torch.autograd.grad(loss, [matrix, x])
    for ours, theirs in zip(grads["frame_product"], grads["bmm"]):
        torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-12)


def test_third_order_matches_bmm():
    results = {}
    for name, fn in (("bmm", torch.bmm), ("frame_product", frame_product)):
        matrix, x = _inputs(seed=3, edges=2, rows=3, cols=3, channels=2)
        g1 = torch.autograd.grad(fn(matrix, x).sin().sum(), matrix, create_graph=True)[0]
        g2 = torch.autograd.grad(g1.cos().sum(), x, create_graph=True)[0]
        results[name] = torch.autograd.grad(g2.square().sum(), [matrix, x])
    for ours, theirs in zip(results["frame_product"], results["bmm"]):
        torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-12)


def test_no_grad_inputs_take_plain_bmm():
    matrix, x = (t.detach() for t in _inputs())
    out = frame_product(matrix, x)
    assert out.grad_fn is None
    torch.testing.assert_close(out, torch.bmm(matrix, x), rtol=0, atol=0)


def test_only_x_requires_grad():
    matrix, x = _inputs()
    matrix = matrix.detach()
    (g,) = torch.autograd.grad(frame_product(matrix, x).sum(), [x])
    (ref,) = torch.autograd.grad(torch.bmm(matrix, x).sum(), [x])
    torch.testing.assert_close(g, ref, rtol=1e-14, atol=1e-14)


def test_backward_skips_the_gradients_this_pass_does_not_use(monkeypatch):
    """A backward to ``x`` alone must not compute the matrix's gradient (the outer product)."""
    import forcefields.nn.frame_product as module

    calls = []
    original = module._OuterProduct.apply
    monkeypatch.setattr(module._OuterProduct, "apply", lambda *args: calls.append(1) or original(*args))
    matrix, x = _inputs()
    rotated = matrix * 2.0  # a node between the leaf and the product, as the edge frames have
    frame_product(rotated, x).sin().sum().backward(inputs=[x])
    assert calls == []
    expected = torch.autograd.grad(torch.bmm(rotated, x).sin().sum(), x)[0]
    torch.testing.assert_close(x.grad, expected, rtol=1e-12, atol=1e-12)
    frame_product(rotated, x).sin().sum().backward()
    assert calls == [1]


def test_training_pattern_backward_to_x_only_matches_bmm():
    """Forces through the matrix, a loss on them, its gradient to ``x`` alone (the parameters' side)."""
    grads = {}
    for name, fn in (("bmm", torch.bmm), ("frame_product", frame_product)):
        matrix, x = _inputs(seed=3)
        energy = fn(matrix * 1.5, x).tanh().sum()
        forces = torch.autograd.grad(energy, matrix, create_graph=True)[0]
        forces.square().sum().backward(inputs=[x])
        grads[name] = x.grad
        assert matrix.grad is None
    torch.testing.assert_close(grads["frame_product"], grads["bmm"], rtol=1e-12, atol=1e-12)
