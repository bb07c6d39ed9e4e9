"""A force field whose network runs under ``torch.compile`` as one graph.

``torch.compile(model)`` on a whole :class:`~forcefields.models.base.ForceField`
traces its host-side steps too: the element lookup, the coincident-atom check
and the force gradient split it into several graphs, and the neighbour search
of a call without edges (torch-cluster's ``radius``) cannot be traced at all:
``torch.compile(forcefields.load(name))(batch)`` fails on a batch without
``edge_index``. With ``dynamic=True`` it also makes every cached constant table
symbolic, and a molecule whose atom count equals a table's size (ethanol's 9
atoms and esen's 9 rows at ℓ = 2) gets a graph specialised to that count.

:class:`CompiledForceField` compiles only
:meth:`~forcefields.models.base.ForceField.energy_from_edges`, the network from
checked edges to energies. The checks, the neighbour list and ``autograd.grad``
for the forces stay eager around it, so the forward pass is one compiled graph
(and the force backward one compiled backward graph) for any atom and edge
count. Index tensors whose sizes depend on the data (GemNet's triplets and
quadruplets, :meth:`~forcefields.models.base.ForceField.edge_indices`) are
built eagerly too, beside the neighbour list: traced, they broke GemNet's
network into 21 graphs, compiled again for every molecule. Per aspirin MD step it is as fast as compiling the whole model, within
the noise of a shared CPU (benchmarks/compiled/README.md).

Double backward (training on conservative forces, ``create_graph=True``) is
not supported by compiled graphs; such calls run the eager network, with the
same results.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .base import ForceField

__all__ = ["CompiledForceField", "compile_force_field", "RECOMPILE_LIMIT"]

# Graphs of ForceField.energy_from_edges that dynamo may keep during our compiled calls: one
# per architecture and width compiled in the process (and dtype, device), not one per call.
RECOMPILE_LIMIT = 256


class CompiledForceField(nn.Module):
    """``model(data, ...)`` with the network between edges and energies compiled.

    Parameters
    ----------
    model : ForceField
    dynamic : bool
        Compile for symbolic atom and edge counts from the first call (True),
        instead of for the first call's sizes and again when they first change
        (False). MD changes the edge count at almost every neighbour-list update.
        Only these counts are symbolic: with ``torch.compile(dynamic=True)`` the
        constant tables some families cache would be too, and a molecule whose
        atom count equals a table's size would get a graph for that count only.
    cpp_wrapper : bool
        Launch the compiled kernels from generated C++ rather than Python (inductor only).
        Off by default: it doubles the compile time for no measured gain on a CPU.
    backend : str
        ``torch.compile`` backend; "eager" only traces (fast, for tests of the graph itself).
    parameter_gradients : bool, optional
        Whether compiled calls keep the graph to the parameters. None (default):
        only while the model is in training mode. An eager force gradient visits
        only the nodes on its way to the positions, but a compiled backward is
        one graph that computes the gradient of every input that requires one:
        for energies and forces alone, the parameters' gradients were computed
        and thrown away. In evaluation mode the parameters are therefore passed
        to the compiled graph as constants (``requires_grad`` off for the call):
        the compiled aspirin MD step is 4-16 % faster
        (benchmarks/compiled/README.md, round 13). Pass True to backpropagate a
        loss of an evaluation-mode compiled call to the parameters.

    Notes
    -----
    The first call for each dtype and device runs the network eagerly once
    more, without gradients, before the compiled one: that builds the constant
    tables some families cache (for example the Wigner tables of
    :class:`forcefields.nn.irreps_rotation.EdgeRotation`), which a compiled graph
    must find ready. The compilation itself happens in that first call.
    """

    def __init__(
        self,
        model: ForceField,
        dynamic: bool = True,
        cpp_wrapper: bool = False,
        backend: str = "inductor",
        parameter_gradients: bool | None = None,
    ):
        super().__init__()
        if not isinstance(model, ForceField):
            raise TypeError(
                f"CompiledForceField wraps a forcefields ForceField, not {type(model).__name__}; "
                "use torch.compile(model) for other modules."
            )
        self.model = model
        options = {"cpp_wrapper": bool(cpp_wrapper)} if backend == "inductor" else None
        self._compiled = torch.compile(model.energy_from_edges, dynamic=None, backend=backend, options=options)
        self.dynamic = bool(dynamic)
        self.parameter_gradients = parameter_gradients
        self._ready: set[tuple[torch.dtype, torch.device]] = set()

    def _core(self, z, species, edge_index, edge_vec, batch, num_graphs):
        key = (edge_vec.dtype, edge_vec.device)
        if key not in self._ready:
            with torch.no_grad():  # fills the constant tables; the compiled call below then finds them
                self.model.energy_from_edges(z, species, edge_index, edge_vec.detach(), batch, num_graphs)
            self._ready.add(key)
        # Index tensors of data-dependent size (GemNet's triplets) are built here, eagerly.
        indices = self.model.edge_indices(edge_index, edge_vec.detach(), species.shape[0])
        if self.dynamic:
            for per_atom in (z, species, batch):
                torch._dynamo.maybe_mark_dynamic(per_atom, 0)
            torch._dynamo.maybe_mark_dynamic(edge_index, 1)
            torch._dynamo.maybe_mark_dynamic(edge_vec, 0)
            for index in (indices or {}).values():
                torch._dynamo.maybe_mark_dynamic(index, 0)
        args = (z, species, edge_index, edge_vec, batch, num_graphs) + (() if indices is None else (indices,))
        # Every compiled model shares the code of ForceField.energy_from_edges, and dynamo's
        # limit of graphs per code object (8) counts them all: a ninth model of another
        # architecture or width ran eagerly, with only a log line to say so.
        # Set and restored by hand: torch._dynamo.config.patch costs about 0.2 ms a call.
        config = torch._dynamo.config
        previous = config.recompile_limit
        config.recompile_limit = max(previous, RECOMPILE_LIMIT)
        keep = self.model.training if self.parameter_gradients is None else self.parameter_gradients
        constants = [] if keep else [p for p in self.model.parameters() if p.requires_grad]
        try:
            for p in constants:
                p.requires_grad_(False)
            return self._compiled(*args)
        finally:
            for p in constants:
                p.requires_grad_(True)
            config.recompile_limit = previous

    def forward(self, data: Any, compute_forces: bool = True, create_graph: bool | None = None) -> dict[str, torch.Tensor]:
        """As :meth:`ForceField.forward`; calls that keep the force graph run the eager network."""
        if create_graph is None:
            create_graph = self.model.training
        needs_double_backward = create_graph and compute_forces and self.model.conservative
        core = None if needs_double_backward else self._core
        return self.model(data, compute_forces=compute_forces, create_graph=create_graph, core=core)

    # Code that wraps a model reads these off it, compiled or not.
    @property
    def cutoff(self) -> float:
        return self.model.cutoff

    @property
    def config(self):
        return self.model.config

    def element_index(self, z: torch.Tensor) -> torch.Tensor:
        return self.model.element_index(z)


def compile_force_field(model: nn.Module, dynamic: bool = True, cpp_wrapper: bool = False) -> nn.Module:
    """The compiled form of ``model``: :class:`CompiledForceField` for a ForceField.

    Any other module (for example a peer's model in the benchmark harness) gets
    ``torch.compile(model, dynamic=None)``. Compilation is lazy: errors surface
    at the first compiled call.
    """
    if isinstance(model, ForceField):
        return CompiledForceField(model, dynamic=dynamic, cpp_wrapper=cpp_wrapper)
    return torch.compile(model, dynamic=None)
