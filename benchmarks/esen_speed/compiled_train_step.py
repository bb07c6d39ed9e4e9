"""A conservative-force training step compiled whole, through ``torch.func``, against the eager step.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/esen_speed/compiled_train_step.py --model esen-l2-xs --batch 16

``torch.compile`` cannot differentiate a compiled graph twice, so
:class:`forcefields.models.compiled.CompiledForceField` runs training steps
eagerly. This probe asks whether compiling the *whole* step would pay:
the loss is written with ``torch.func`` (``grad`` of the energy for the forces
inside ``grad_and_value`` of the loss for the parameters), which dynamo traces
into one graph holding the forward pass and both backward passes as plain
operators. Timed per structure (CPU time of this thread, median over repeats,
aspirin copies, float32, one thread):

- ``eager``: the training step as ``ForceFieldModule`` makes it (frames per bond,
  ``create_graph``, backward to the parameters);
- ``func``: the ``torch.func`` step run eagerly (one frame per edge: the bond
  pairing's index sizes depend on the data and would break the graph);
- ``compiled``: that step under ``torch.compile(dynamic=True)``, and
  ``compiled-static`` with ``dynamic=False``.

The compiled losses and parameter gradients are checked against ``func`` to
float32 round-off. The loss is the L1 energy error plus 100 times the mean
force-error norm per atom. The project's own loss averages per molecule with
``torch.bincount``, whose data-dependent size breaks the graph, and dynamo then
runs the whole step eagerly.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
from torch.func import functional_call, grad, grad_and_value

from forcefields.allocator import tune_malloc
from forcefields.data.neighbors import radius_graph
from forcefields.training.losses import EnergyForceLoss
from profile_esen import aspirin, interleaved_cpu_ms, model_from_spec, train_step, training_batch


class _Network(torch.nn.Module):
    """``model.energy_from_edges`` as a module's forward, for ``functional_call``."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, z, species, edge_index, edge_vec, batch, num_graphs: int):
        return self.model.energy_from_edges(z, species, edge_index, edge_vec, batch, num_graphs)


def functional_step(model, batch):
    """(step, args): ``step(*args)`` returns (parameter gradients dict, loss) of one training step."""
    edge_index = radius_graph(batch.pos, model.cutoff, batch.batch)
    species = model.element_index(batch.z)
    num_graphs = int(batch.num_graphs)
    network = _Network(model)
    with torch.no_grad():  # builds the constant tables some families cache, outside any transform
        vec = batch.pos[edge_index[0]] - batch.pos[edge_index[1]]
        network(batch.z, species, edge_index, vec, batch.batch, num_graphs)
    buffers = dict(network.named_buffers())

    def loss_of(params, pos, z, species, edge_index, graph, e_ref, f_ref, num_graphs: int):
        def energy_of(pos):
            vec = pos[edge_index[0]] - pos[edge_index[1]]
            energy, _, _ = functional_call(network, (params, buffers), (z, species, edge_index, vec, graph, num_graphs))
            return energy.sum(), energy

        minus_forces, energy = grad(energy_of, has_aux=True)(pos)
        return (energy - e_ref).abs().mean() + 100.0 * (-minus_forces - f_ref).norm(dim=-1).mean()

    params = {k: v.detach() for k, v in network.named_parameters()}
    args = (params, batch.pos, batch.z, species, edge_index, batch.batch, batch.energy, batch.forces, num_graphs)
    return grad_and_value(loss_of), args


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="esen-l2-xs")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--modes", default="eager,func,compiled,compiled-static")
    parser.add_argument("--repeats", type=int, default=12)
    parser.add_argument("--out", default=None, help="JSON file for the figures")
    args = parser.parse_args()
    tune_malloc()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = model_from_spec(args.model)
    batch = training_batch(args.batch, aspirin())
    loss_fn = EnergyForceLoss("l1norm")
    result = {"model": args.model, "batch": args.batch, "torch": torch.__version__, "modes": {}}
    reference = None
    for mode in args.modes.split(","):
        if mode == "eager":
            model.train()
            fn = lambda: train_step(model, loss_fn, batch)  # noqa: E731
        else:
            model.eval()  # one frame per edge (no bond pairing); esen has no dropout
            step, step_args = functional_step(model, batch)
            if mode != "func":
                step = torch.compile(step, dynamic=(mode == "compiled"))
            fn = lambda: step(*step_args)  # noqa: E731
        start = time.perf_counter()
        out = fn()
        first_s = time.perf_counter() - start
        fn()
        times = interleaved_cpu_ms({mode: fn}, args.repeats)[mode]
        record = {"first_call_s": first_s, "ms_per_structure": statistics.median(times) / args.batch,
                  "min_ms_per_structure": min(times) / args.batch}
        if mode == "func":
            reference = out
        elif mode.startswith("compiled") and reference is not None:
            grads, loss = out
            record["loss_rel_diff"] = float(((loss - reference[1]) / reference[1]).abs())
            record["grad_max_rel_diff"] = max(
                float((grads[k] - reference[0][k]).abs().max() / reference[0][k].abs().max().clamp(min=1e-30))
                for k in grads
            )
        result["modes"][mode] = record
        print(mode, json.dumps(record), flush=True)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
