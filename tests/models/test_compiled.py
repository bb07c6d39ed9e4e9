"""CompiledForceField: the network between edges and energies as one compiled graph, same numbers."""

from __future__ import annotations

import shutil

import pytest
import torch
from ase.build import molecule

import forcefields
from forcefields.bench.systems import to_batch
from forcefields.models.compiled import CompiledForceField, compile_force_field


def _batch(name: str, stretch: float = 1.0):
    atoms = molecule(name)
    atoms.positions *= stretch
    batch = to_batch([atoms])
    batch.pos = batch.pos.double()
    return batch


@pytest.mark.parametrize("variant, hidden, other", [("esen-l2-xs", 4, "H2O"), ("egnn-xs", 4, "H2O"), ("gemnet-xs", 8, "CH4")])
def test_the_network_is_one_graph_with_the_eager_numbers_as_sizes_change(variant, hidden, other):
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    model = forcefields.create_model(variant, hidden=hidden, seed=0, dtype=torch.float64).eval()
    compiled = CompiledForceField(model, backend="eager")  # traced, not code-generated: seconds, not minutes
    # ethanol at three sizes (other edge, triplet and quadruplet counts) and another molecule
    # (other atom count): no recompilation. GemNet's triplets are built eagerly (edge_indices);
    # it gets methane, since water has no chain of four atoms and an empty tensor is a size
    # torch.compile specialises on.
    batches = [_batch("CH3CH2OH"), _batch("CH3CH2OH", 0.8), _batch("CH3CH2OH", 1.3), _batch(other)]
    for k, batch in enumerate(batches):
        eager, fast = model(batch), compiled(batch)
        if k == 0:  # the first call compiles (timing harnesses count it as the compile time)
            assert torch._dynamo.utils.counters["stats"]["unique_graphs"] == 1
        torch.testing.assert_close(fast["energy"], eager["energy"], rtol=1e-10, atol=1e-10)
        torch.testing.assert_close(fast["forces"], eager["forces"], rtol=1e-8, atol=1e-10)
    stats = torch._dynamo.utils.counters["stats"]
    assert stats["unique_graphs"] == 1  # one graph, compiled once for every size


def test_compiled_esen_gathers_endpoints_by_rows(monkeypatch):
    """Inductor compiles the flat-row gather of edge_pair_index into a scalar loop: compiled esen gathers whole rows."""
    from forcefields.models import esen

    model = forcefields.create_model("esen-l2-xs", hidden=4, seed=0, dtype=torch.float64).eval()
    batch = _batch("CH3CH2OH")
    eager = model(batch)
    build_index, built_while_compiling = esen.edge_pair_index, []

    def recording(*args):
        if torch.compiler.is_compiling():
            built_while_compiling.append(args[-1])  # dynamo replays this side effect after the graph runs
        return build_index(*args)

    monkeypatch.setattr(esen, "edge_pair_index", recording)
    torch._dynamo.reset()
    fast = CompiledForceField(model, backend="eager")(batch)
    assert built_while_compiling == []
    torch.testing.assert_close(fast["energy"], eager["energy"], rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(fast["forces"], eager["forces"], rtol=1e-8, atol=1e-10)


def test_training_calls_keep_the_force_graph():
    """create_graph=True needs a double backward, which compiled graphs lack: the eager network runs."""
    model = forcefields.create_model("mpnn-xs", hidden=4, seed=0, dtype=torch.float64).train()
    grads = []
    for call in (model, compile_force_field(model)):
        model.zero_grad()
        call(_batch("H2O"))["forces"].square().sum().backward()  # the force loss of training
        grads.append([p.grad.clone() for p in model.parameters() if p.grad is not None])
    assert len(grads[1]) == len(grads[0]) > 0
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b)


def _recording_backend(backward_outputs: list):
    """An AOTAutograd backend that runs graphs as traced and records how many gradients each backward graph returns."""
    from torch._dynamo.backends.common import aot_autograd

    def forward_compiler(graph, example_inputs):
        return graph

    def backward_compiler(graph, example_inputs):
        (output,) = [node for node in graph.graph.nodes if node.op == "output"]
        backward_outputs.append(sum(value is not None for value in output.args[0]))
        return graph

    return aot_autograd(fw_compiler=forward_compiler, bw_compiler=backward_compiler)


def test_evaluation_calls_compute_no_parameter_gradients():
    """A compiled backward computes the gradient of every input that requires one: in evaluation
    mode the parameters enter as constants, so the forces' backward computes no parameter gradients."""
    model = forcefields.create_model("mpnn-xs", hidden=4, seed=0, dtype=torch.float64).eval()
    batch = _batch("CH3CH2OH")
    eager = model(batch)
    num_parameters = len(list(model.parameters()))
    for parameter_gradients, gradients in ((None, 1), (False, 1), (True, 1 + num_parameters)):
        torch._dynamo.reset()
        backward_outputs = []
        compiled = CompiledForceField(model, backend=_recording_backend(backward_outputs), parameter_gradients=parameter_gradients)
        fast = compiled(batch)  # the forces are the backward of the compiled graph
        torch.testing.assert_close(fast["forces"], eager["forces"], rtol=1e-8, atol=1e-10)
        assert backward_outputs == [gradients]  # 1: the edge vectors' gradient alone
        assert all(p.requires_grad for p in model.parameters())  # restored after the call


@pytest.mark.parametrize("mode, parameter_gradients", [("train", None), ("eval", True), ("eval", None)])
def test_parameter_gradients_of_compiled_calls(mode, parameter_gradients):
    """Direct forces need no double backward, so training-mode calls run compiled and must still train;
    in evaluation mode the parameters get gradients only when asked, and otherwise say so by an error."""
    model = forcefields.create_model("mpnn-xs", hidden=4, seed=0, dtype=torch.float64, force_mode="direct")
    model.train(mode == "train")
    batch = _batch("H2O")
    model(batch)["forces"].square().sum().backward()
    eager = [p.grad for p in model.parameters()]
    model.zero_grad(set_to_none=True)
    torch._dynamo.reset()
    fast = CompiledForceField(model, backend="aot_eager", parameter_gradients=parameter_gradients)(batch)
    if mode == "eval" and parameter_gradients is None:
        assert not fast["forces"].requires_grad  # backward() raises "does not require grad": nothing silently lost
        return
    fast["forces"].square().sum().backward()
    for p, g in zip(model.parameters(), eager):  # eager leaves unused parameters' .grad None, compiled zeros
        torch.testing.assert_close(p.grad, torch.zeros_like(p) if g is None else g)


def test_other_modules_get_plain_torch_compile():
    layer = torch.nn.Linear(2, 2)
    assert not isinstance(compile_force_field(layer), CompiledForceField)
    with pytest.raises(TypeError, match="use torch.compile"):
        CompiledForceField(layer)


def test_more_models_than_dynamos_graph_limit_are_all_compiled():
    """All compiled models share ForceField.energy_from_edges's code, whose graphs dynamo caps at 8 by default."""
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    batch = _batch("CH3CH2OH")
    limit = torch._dynamo.config.recompile_limit
    for k in range(limit + 2):  # each width is another graph
        model = forcefields.create_model("mpnn-xs", hidden=2 + k, seed=k, dtype=torch.float64).eval()
        before = torch._dynamo.utils.counters["stats"]["unique_graphs"]
        fast, eager = CompiledForceField(model, backend="eager")(batch), model(batch)
        assert torch._dynamo.utils.counters["stats"]["unique_graphs"] == before + 1, f"model {k} ran uncompiled"
        torch.testing.assert_close(fast["forces"], eager["forces"], rtol=1e-8, atol=1e-10)
    assert torch._dynamo.config.recompile_limit == limit  # raised for our calls only


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("c++") is None and shutil.which("g++") is None, reason="inductor needs a C++ compiler on a CPU")
def test_inductor_keeps_one_graph_for_every_molecule_size(tmp_path, monkeypatch):
    """Inductor's backward compile can pin the atom count to the first molecule's where dynamo alone does not.

    egnn's channel mixing, written as an einsum, made it recompile for every molecule
    size; an energy head ending in ``nn.Linear(k, 1)`` made it recompile once past
    ``32 - k`` atoms (``ScalarOutput``). A fresh inductor cache, so the graph is
    compiled here rather than loaded.
    """
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path))
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    model = forcefields.create_model("egnn-xs", hidden=4, seed=0).eval()
    compiled = CompiledForceField(model)
    for name in ("CH3CH2OH", "C60"):  # 9 atoms, then 60
        batch = to_batch([molecule(name)])
        fast, eager = compiled(batch), model(batch)
        assert torch._dynamo.utils.counters["stats"]["unique_graphs"] == 1, f"recompiled for {name}"
        torch.testing.assert_close(fast["forces"], eager["forces"], rtol=1e-4, atol=1e-5)
