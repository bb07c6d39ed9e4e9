"""The `ForceField` base module every family derives from.

A family implements :meth:`ForceField.atomic_outputs`, which maps atoms and
edges to a per-atom scalar (and, for direct force heads, a per-atom vector).
The base class turns that into physical quantities:

    E_i = scale * s_i + E0[z_i]          (eV)
    E   = sum_i E_i                      (eV)
    F   = -dE/dr (conservative)  or  scale * v_i (direct)   (eV/Å)

Nothing here imports Lightning, ASE or the hub.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar

import torch
from torch import nn

from ..data.neighbors import radius_graph

__all__ = ["ForceFieldConfig", "ForceField", "UnknownElementError", "COINCIDENT_DISTANCE"]

# Elements of rMD17 and QM9 (H, C, N, O, F): the default embedding table.
DEFAULT_ELEMENTS = (1, 6, 7, 8, 9)

# Two atoms closer than this (Å) are "at the same position" and refused. No real pair comes near
# it (the shortest bond, H-H, is 0.74 Å), so nothing physical is refused; it is far above the
# float32 resolution of coordinates (~1e-5 Å at 100 Å), so a duplicate atom written to a file with
# rounded coordinates is still caught; and at distance 0 the gradient of |r| is 0/0, the silent NaN
# this check replaces. Pairs between it and bond lengths get finite, extrapolated numbers.
COINCIDENT_DISTANCE = 1e-3


class UnknownElementError(ValueError):
    """An atom's element is not in the model's element table."""


@dataclass
class ForceFieldConfig:
    """Hyper-parameters shared by every family.

    Families subclass this dataclass and add their own fields. Everything
    here is JSON-serialisable, and a model is fully determined by its config
    plus its weights.

    Attributes
    ----------
    cutoff : float
        Neighbour cutoff (Å).
    elements : tuple of int
        Atomic numbers the model embeds; others are refused.
    atomic_energies : dict str -> float
        Per-element reference energy E0 (eV), keyed by atomic number as a string.
    energy_scale : float
        Scale of the network output (eV); the force RMS of the training data.
    avg_num_neighbors : float
        Normaliser for sums over neighbours.
    force_mode : {"conservative", "direct"}
        F = -dE/dr by autograd, or a direct equivariant/vector head.
    hidden : int
        Width (number of channels); the quantity the size presets scale.
    num_layers : int
        Number of interaction blocks (fixed per family).
    num_rbf : int
        Radial basis functions.
    min_pair_distance : dict str -> float
        Shortest distance (Å) per element pair seen in the training data, keyed
        ``"<Z1>-<Z2>"`` with Z1 <= Z2 (e.g. ``"1-6"``). Not a hyper-parameter: a
        record of where the model has data, read by the ASE calculator to warn when
        a structure goes below it. Empty (no warning) for models built without
        statistics and for checkpoints written before it was recorded.
    """

    cutoff: float = 5.0
    elements: tuple[int, ...] = DEFAULT_ELEMENTS
    atomic_energies: dict[str, float] = field(default_factory=dict)
    energy_scale: float = 1.0
    avg_num_neighbors: float = 10.0
    force_mode: str = "conservative"
    hidden: int = 64
    num_layers: int = 3
    num_rbf: int = 16
    min_pair_distance: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["elements"] = list(self.elements)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ForceFieldConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(
                f"config keys {unknown} are not hyper-parameters of {cls.__name__}; "
                "remove them or check that the config belongs to this family."
            )
        d = dict(d)
        if "elements" in d:
            d["elements"] = tuple(int(z) for z in d["elements"])
        if "atomic_energies" in d:
            d["atomic_energies"] = {str(k): float(v) for k, v in d["atomic_energies"].items()}
        if "min_pair_distance" in d:
            d["min_pair_distance"] = {str(k): float(v) for k, v in (d["min_pair_distance"] or {}).items()}
        return cls(**d)

    def validate(self) -> None:
        if self.force_mode not in ("conservative", "direct"):
            raise ValueError(
                f"force_mode={self.force_mode!r} is not supported; use 'conservative' or 'direct'."
            )
        if self.cutoff <= 0:
            raise ValueError(f"cutoff={self.cutoff} must be a positive distance in Å.")


class ForceField(nn.Module):
    """Base class: batch of molecules in, energies (eV) and forces (eV/Å) out.

    Subclasses set ``family`` and ``config_class`` and implement
    :meth:`atomic_outputs`.
    """

    family: ClassVar[str] = "base"
    config_class: ClassVar[type[ForceFieldConfig]] = ForceFieldConfig

    def __init__(self, config: ForceFieldConfig):
        super().__init__()
        config.validate()
        self.config = config
        elements = sorted(int(z) for z in config.elements)
        z_to_index = torch.full((119,), -1, dtype=torch.long)
        z_to_index[torch.tensor(elements)] = torch.arange(len(elements))
        self.register_buffer("z_to_index", z_to_index, persistent=False)
        e0 = torch.zeros(119, dtype=torch.get_default_dtype())
        for z, e in config.atomic_energies.items():
            e0[int(z)] = float(e)
        self.register_buffer("atomic_energies", e0)
        self.register_buffer("energy_scale", torch.tensor(float(config.energy_scale)))

    # ------------------------------------------------------------------ API
    @property
    def num_elements(self) -> int:
        return len(self.config.elements)

    @property
    def cutoff(self) -> float:
        return float(self.config.cutoff)

    @property
    def conservative(self) -> bool:
        return self.config.force_mode == "conservative"

    def num_parameters(self) -> int:
        """Trainable parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def with_force_mode(self, force_mode: str, seed: int | None = 0) -> "ForceField":
        """A copy of this model with its forces computed the other way.

        The backbone and the energy readout are copied; the direct-force head
        is dropped (to conservative) or freshly initialised (to direct). This
        is the two-stage recipe of eSEN (Fu et al. 2025, arXiv 2502.12147):
        train cheaply with direct forces, then fine-tune with conservative
        forces so the result is energy-conserving.

        Parameters
        ----------
        force_mode : {"conservative", "direct"}
        seed : int, optional, seed of the new head's initialisation

        Returns
        -------
        ForceField of the same family, dtype and device, in training mode.
        """
        from .registry import build_model

        if force_mode not in ("conservative", "direct"):
            raise ValueError(f"force_mode {force_mode!r} is not known; use 'conservative' or 'direct'.")
        config = self.config.to_dict()
        config["force_mode"] = force_mode
        reference = next(self.parameters())
        model = build_model(self.family, config, seed=seed).to(device=reference.device, dtype=reference.dtype)
        missing, unexpected = model.load_state_dict(self.state_dict(), strict=False)
        # Only a force head may differ between the modes: anything else means the
        # family builds different backbones per mode, which would lose weights.
        head = [k for k in (*missing, *unexpected) if not self._is_force_head(k)]
        if head:
            raise RuntimeError(
                f"switching {self.family} to {force_mode} forces would lose or invent {head}; "
                "only the direct-force head may differ between force modes."
            )
        return model.train()

    # Parameter name prefixes that exist only with force_mode="direct" (each family names its head).
    direct_head_prefixes: ClassVar[tuple[str, ...]] = ()

    def _is_force_head(self, key: str) -> bool:
        return any(key == p or key.startswith(p + ".") for p in self.direct_head_prefixes)

    def finetune_parts(self) -> dict[str, list[str]]:
        """Module name prefixes of the input stage, the interaction blocks and the readout.

        Fine-tuning (:mod:`forcefields.training.freeze`) freezes the input
        stage and the first ``k`` blocks, and may give the backbone a lower
        learning rate than the readout. A parameter belongs to a prefix when
        its name equals it or starts with ``prefix + "."``; every parameter
        must belong to exactly one prefix.

        Returns
        -------
        dict with
            ``"input"`` : list of str, modules before the first block
            ``"blocks"`` : list of str, one prefix per interaction block, in order
            ``"readout"`` : list of str, everything after the last block

        Raises
        ------
        NotImplementedError : the family does not say how it splits
        """
        raise NotImplementedError(
            f"the {self.family!r} family does not define finetune_parts(), so its parameters cannot be "
            "split into input stage, blocks and readout for fine-tuning; implement finetune_parts() on it."
        )

    def element_index(self, z: torch.Tensor) -> torch.Tensor:
        """Map atomic numbers (n,) to rows of the element table, refusing unknown ones."""
        if z.numel() and (int(z.min()) < 0 or int(z.max()) > 118):
            raise UnknownElementError(f"atomic numbers must lie in 1..118; got {z.unique().tolist()}.")
        idx = self.z_to_index[z]
        if z.numel() and bool((idx < 0).any()):
            missing = sorted(set(z[idx < 0].tolist()))
            from ase.data import chemical_symbols  # light import, only on error

            names = ", ".join(f"{chemical_symbols[m]} (Z={m})" for m in missing)
            known = ", ".join(chemical_symbols[e] for e in sorted(self.config.elements))
            raise UnknownElementError(
                f"this model was not trained on {names}; it knows {known}. "
                "Fine-tune with the new elements or use a model that covers them."
            )
        return idx

    def atomic_outputs(
        self,
        species: torch.Tensor,
        edge_index: torch.Tensor,
        edge_vec: torch.Tensor,
        batch: torch.Tensor,
        num_graphs: int,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Family-specific network.

        Parameters
        ----------
        species : (n,) long, row of each atom in the element table
        edge_index : (2, E) long, (source j, target i)
        edge_vec : (E, 3), r_j - r_i (Å); carries the gradient to positions
        batch : (n,) long, molecule of each atom
        num_graphs : int

        Returns
        -------
        node_scalar : (n,) dimensionless per-atom energy before scaling
        node_vector : (n, 3) dimensionless direct force, or None when conservative

        Notes
        -----
        A family whose :meth:`edge_indices` returns a dict also takes it as the
        keyword ``indices`` (None: build them here).
        """
        raise NotImplementedError

    def edge_indices(self, edge_index: torch.Tensor, edge_vec: torch.Tensor, num_nodes: int) -> dict[str, torch.Tensor] | None:
        """Integer tensors the network derives from the neighbour list alone (e.g. GemNet's triplets), or None.

        Their sizes depend on the data, which a compiled graph cannot follow
        without breaking into pieces, so
        :class:`~forcefields.models.compiled.CompiledForceField` builds them
        eagerly, like the neighbour list, and passes them to
        :meth:`energy_from_edges`. No gradient flows through them.

        Parameters
        ----------
        edge_index : (2, E) long
        edge_vec : (E, 3) Å
        num_nodes : int

        Returns
        -------
        dict name -> long tensor, or None (the default) when the family needs none
        """
        return None

    def forward(
        self,
        data: Any,
        compute_forces: bool = True,
        create_graph: bool | None = None,
        *,
        core: Any = None,
    ) -> dict[str, torch.Tensor]:
        """Energies and forces of a batch.

        Parameters
        ----------
        data : torch_geometric Batch/Data (or any object) with ``z`` (n,),
            ``pos`` (n, 3) Å, optional ``batch`` (n,) and ``edge_index`` (2, E).
            When ``edge_index`` is absent it is built within the cutoff.
        compute_forces : bool
        create_graph : bool, optional
            Keep the graph of the force computation (needed to train on
            conservative forces). Defaults to ``self.training``.
        core : callable, optional
            Stands in for :meth:`energy_from_edges` (same arguments and results):
            :class:`forcefields.models.compiled.CompiledForceField` passes its
            compiled copy. The checks, the neighbour list and the force gradient
            stay here, outside it.

        Returns
        -------
        dict with ``energy`` (B,) eV, ``node_energy`` (n,) eV and, when asked,
        ``forces`` (n, 3) eV/Å.

        Raises
        ------
        ValueError : non-finite positions, an unknown element, or two atoms
            closer than ``COINCIDENT_DISTANCE`` (named by index)
        """
        z = data.z
        pos = data.pos
        batch = getattr(data, "batch", None)
        if batch is None:
            batch = torch.zeros(z.shape[0], dtype=torch.long, device=z.device)
        num_graphs = int(data.num_graphs) if hasattr(data, "num_graphs") and data.num_graphs is not None else int(batch.max()) + 1 if batch.numel() else 1
        edge_index = getattr(data, "edge_index", None)
        if edge_index is None:
            edge_index = radius_graph(pos, self.cutoff, batch)
        if not torch.isfinite(pos).all():
            raise ValueError("positions contain NaN or infinite values; check the structure before evaluating it.")
        species = self.element_index(z)

        want_grad = compute_forces and self.conservative
        if want_grad and not pos.requires_grad:
            pos = pos.detach().requires_grad_(True)
        edge_vec = pos[edge_index[0]] - pos[edge_index[1]]
        _refuse_coincident(edge_index, edge_vec, batch)
        if create_graph is None:
            create_graph = self.training
        energy, node_energy, node_vector = (core or self.energy_from_edges)(z, species, edge_index, edge_vec, batch, num_graphs)
        out = {"energy": energy, "node_energy": node_energy}
        if compute_forces:
            if self.conservative:
                (grad,) = torch.autograd.grad(
                    energy.sum(), pos, create_graph=create_graph, retain_graph=create_graph
                )
                out["forces"] = -grad
            else:
                out["forces"] = node_vector * self.energy_scale
        return out

    def energy_from_edges(
        self,
        z: torch.Tensor,
        species: torch.Tensor,
        edge_index: torch.Tensor,
        edge_vec: torch.Tensor,
        batch: torch.Tensor,
        num_graphs: int,
        indices: dict[str, torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """The network proper, from checked edges to energies: the part worth compiling.

        Parameters
        ----------
        z : (n,) long, atomic numbers
        species, edge_index, edge_vec, batch, num_graphs : as for :meth:`atomic_outputs`
        indices : :meth:`edge_indices` of these edges, or None to let the family build them

        Returns
        -------
        energy : (B,) eV
        node_energy : (n,) eV
        node_vector : (n, 3) dimensionless direct force, or None when conservative
        """
        extra = {} if indices is None else {"indices": indices}  # only families with edge_indices take them
        node_scalar, node_vector = self.atomic_outputs(species, edge_index, edge_vec, batch, num_graphs, **extra)
        node_energy = node_scalar * self.energy_scale + self.atomic_energies[z]
        energy = torch.zeros(num_graphs, dtype=node_energy.dtype, device=node_energy.device)
        energy = energy.index_add(0, batch, node_energy)
        return energy, node_energy, node_vector

    def extra_repr(self) -> str:
        return f"family={self.family}, params={self.num_parameters():,}, cutoff={self.cutoff} Å, forces={self.config.force_mode}"


def _refuse_coincident(edge_index: torch.Tensor, edge_vec: torch.Tensor, batch: torch.Tensor) -> None:
    """Raise ValueError naming the atoms of any edge shorter than ``COINCIDENT_DISTANCE``.

    O(E) on the edge vectors the forward pass computes anyway; the indices are
    found only on the error path.

    Parameters
    ----------
    edge_index : (2, E) long, (source j, target i)
    edge_vec : (E, 3) Å
    batch : (n,) long, molecule of each atom (sorted, as PyG batches are)
    """
    if edge_vec.numel() == 0:
        return
    with torch.no_grad():
        close = edge_vec.detach().square().sum(dim=-1) < COINCIDENT_DISTANCE**2
        if not bool(close.any()):
            return
        k = int(close.nonzero()[0, 0])
        j, i = sorted(int(a) for a in edge_index[:, k])
        d = float(edge_vec[k].detach().norm())
        pairs = int(close.sum()) // 2
    more = f" (and {pairs - 1} more such pairs)" if pairs > 1 else ""
    g = int(batch[i])
    if int(batch.max()) > 0:  # name the atoms within their molecule, as the user numbered them
        start = int((batch < g).sum())
        where = f"atoms {j - start} and {i - start} of molecule {g} in the batch (batch atoms {j} and {i})"
    else:
        where = f"atoms {j} and {i}"
    raise ValueError(
        f"{where} are at the same position ({d:.1e} Å apart, below {COINCIDENT_DISTANCE:g} Å){more}; "
        "remove the duplicate atom or fix its coordinates."
    )
