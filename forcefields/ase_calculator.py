"""ASE calculator for any forcefields model.

>>> import forcefields
>>> atoms.calc = forcefields.calculator("egnn-m.rmd17-aspirin", device="cpu", dtype="float64")  # doctest: +SKIP
>>> atoms.get_potential_energy(), atoms.get_forces()                                              # doctest: +SKIP

Neighbour lists (Verlet skin). The list is built at ``cutoff + skin`` and kept
while no atom has moved more than ``skin / 2`` since it was built; then no pair
can have crossed into the cutoff unseen. Each call keeps the pairs of that list
closer than the cutoff (strict ``d < cutoff``, like a fresh build), in the same
sorted order (target, then source), so the model sees exactly the edges, in
exactly the order, of a freshly built list: results are bit-identical.

Outside the training data. When the model records the shortest distance per
element pair of its training data, the calculator warns (an
:class:`~forcefields.extrapolation.ExtrapolationWarning`, once per calculator,
so once per run) the first time a structure has a pair clearly below it; see
:mod:`forcefields.extrapolation` for the threshold.
"""

from __future__ import annotations

import copy
import warnings
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch
from ase.calculators.calculator import Calculator, all_changes

from .data.neighbors import radius_graph
from .extrapolation import ExtrapolationWarning, PairDistanceGuard
from .zoo.device import resolve_device, resolve_dtype

__all__ = ["ForceFieldCalculator", "calculator"]


class ForceFieldCalculator(Calculator):
    """Energies (eV) and forces (eV/Å) of isolated molecules from a ForceField.

    Parameters
    ----------
    model : ForceField, a pretrained name, or a checkpoint folder
    device : "cpu" or "cuda"
    dtype : "float32" or "float64"; None keeps the model's dtype (a name loads in float32)
    skin : float, Å; extra radius of the reused neighbour list (0 rebuilds every call)
    compile : bool; run the model under ``torch.compile`` (the first calls compile, for tens of
        seconds to minutes; afterwards a small molecule's step is up to ~1.7× faster on a CPU,
        see ``benchmarks/results``). Worth it for long MD, not for a few calls.

    Warns
    -----
    ExtrapolationWarning : once per calculator, the first time a pair of atoms is clearly
        closer than the training data's shortest distance of its elements (models that
        record it; older checkpoints do not and never warn)
    """

    implemented_properties = ["energy", "free_energy", "forces"]

    def __init__(
        self,
        model: Any,
        device: str | torch.device = "cpu",
        dtype: str | torch.dtype | None = None,
        skin: float = 0.5,
        compile: bool = False,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        if skin < 0:
            raise ValueError(f"skin={skin} Å must be zero or positive.")
        self.device = resolve_device(device)
        if isinstance(model, torch.nn.Module):
            target = resolve_dtype(dtype) if dtype is not None else _dtype_of(model)
            if target != _dtype_of(model) or _device_of(model) != self.device:
                # a converted copy: the caller's model stays as it was
                model = copy.deepcopy(model).to(device=self.device, dtype=target)
        else:
            from .zoo import load

            model = load(model, device=self.device, dtype=dtype or "float32")
        self.model = model.eval()
        self.dtype = _dtype_of(self.model)
        self.skin = float(skin)
        self.cutoff = float(self.model.cutoff)
        self.num_builds = 0  # neighbour-list builds, for tests and curiosity
        self._nl: dict[str, Any] | None = None
        config = getattr(self.model, "config", None)
        self.guard = PairDistanceGuard(getattr(config, "min_pair_distance", None))
        self.extrapolation_warned = False
        self.compiled = bool(compile)
        # The model stays as it is (attributes, parameters); only the call goes through the compiled
        # wrapper, whose network is one graph compiled for any atom and edge count.
        if compile:
            from .models.compiled import compile_force_field

            self._forward = compile_force_field(self.model)
        else:
            self._forward = self.model

    # ------------------------------------------------------------ checks
    def _check(self, atoms) -> None:
        if np.any(atoms.pbc):
            raise ValueError(
                "this calculator handles isolated molecules only, but the atoms have periodic boundary "
                f"conditions (pbc={atoms.pbc.tolist()}); set atoms.pbc = False."
            )
        pos = atoms.positions
        if not np.all(np.isfinite(pos)):
            bad = np.unique(np.nonzero(~np.isfinite(pos))[0]).tolist()
            raise ValueError(f"atoms {bad} have NaN or infinite positions; fix the structure before computing.")
        # Coincident atoms are refused by the model's forward pass, in one sentence naming them, from
        # the edge lengths it computes anyway (models/base.py, COINCIDENT_DISTANCE): no O(n²) pass here.

    # --------------------------------------------------- neighbour list
    def neighbor_list(self, pos: torch.Tensor, numbers: np.ndarray) -> torch.Tensor:
        """Edges (2, E) within the cutoff, from a list reused while atoms move less than skin/2."""
        nl = self._nl
        fresh = (
            nl is None
            or self.skin == 0
            or nl["numbers"].shape != numbers.shape
            or not np.array_equal(nl["numbers"], numbers)
            or float((pos - nl["pos"]).norm(dim=1).max()) >= 0.5 * self.skin
        )
        if fresh:
            edges = radius_graph(pos, self.cutoff + self.skin)
            self._nl = nl = {"pos": pos.detach().clone(), "numbers": numbers.copy(), "edges": edges}
            self.num_builds += 1
        edges = nl["edges"]
        d = (pos[edges[0]] - pos[edges[1]]).norm(dim=1)
        return edges[:, d < self.cutoff]

    # ------------------------------------------------------------ compute
    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes) -> None:
        super().calculate(atoms, properties, system_changes)
        atoms = self.atoms
        self._check(atoms)
        numbers = np.asarray(atoms.numbers)
        z = torch.as_tensor(numbers, dtype=torch.long, device=self.device)
        self.model.element_index(z)  # refuses unknown elements with a sentence naming them
        pos = torch.as_tensor(atoms.positions, dtype=self.dtype, device=self.device)
        with torch.no_grad():
            edge_index = self.neighbor_list(pos, numbers)
        data = SimpleNamespace(z=z, pos=pos, batch=torch.zeros_like(z), num_graphs=1, edge_index=edge_index)
        with torch.enable_grad():
            out = self._forward(data, compute_forces=True)
        if self.guard.active and not self.extrapolation_warned:
            problem = self.guard.check(z, pos, edge_index)
            if problem is not None:
                self.extrapolation_warned = True
                warnings.warn(problem, ExtrapolationWarning, stacklevel=2)
        energy = float(out["energy"].detach()[0])
        self.results["energy"] = energy
        self.results["free_energy"] = energy
        self.results["forces"] = out["forces"].detach().to("cpu", torch.float64).numpy()


def _dtype_of(model: torch.nn.Module) -> torch.dtype:
    for t in list(model.parameters()) + list(model.buffers()):
        if t.is_floating_point():
            return t.dtype
    return torch.get_default_dtype()


def _device_of(model: torch.nn.Module) -> torch.device:
    for t in list(model.parameters()) + list(model.buffers()):
        return t.device
    return torch.device("cpu")


def calculator(
    model: Any,
    device: str | torch.device = "cpu",
    dtype: str | torch.dtype | None = None,
    skin: float = 0.5,
    compile: bool = False,
) -> ForceFieldCalculator:
    """An ASE calculator from a pretrained name, a checkpoint folder or a ForceField.

    Parameters
    ----------
    model : "egnn-m.rmd17-aspirin", a folder, or a ForceField
    device : "cpu" or "cuda"
    dtype : "float32" or "float64" (float64 for geometry optimisation and finite differences)
    skin : Å, neighbour-list skin (see the module docstring)
    compile : bool, run the model under ``torch.compile`` (for long MD; the first calls compile)
    """
    return ForceFieldCalculator(model, device=device, dtype=dtype, skin=skin, compile=compile)
