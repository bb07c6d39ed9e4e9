"""A tiny ForceField family and molecules for the zoo and calculator tests.

``toy`` is registered only while the ``toy_family`` fixture is active, so it
never shows up in other tests' view of the registry.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch
from torch import nn

from forcefields.models import ForceField, ForceFieldConfig
from forcefields.models import registry
from forcefields.nn import MLP, RadialEmbedding

FAMILY = "toyzoo"
ELEMENTS = (1, 6, 8)
# made-up but realistic-looking reference energies (eV), so E0 handling is exercised
ATOMIC_ENERGIES = {"1": -13.6, "6": -1029.8, "8": -2041.3}


@dataclass
class ToyConfig(ForceFieldConfig):
    cutoff: float = 4.0
    hidden: int = 8
    num_layers: int = 1
    num_rbf: int = 6


class ToyForceField(ForceField):
    """One message-passing step: embeddings times a radial filter, summed per atom."""

    family = FAMILY
    config_class = ToyConfig

    def __init__(self, config: ToyConfig):
        super().__init__(config)
        h = config.hidden
        self.embed = nn.Embedding(len(config.elements), h)
        self.radial = RadialEmbedding(config.cutoff, config.num_rbf)
        self.filter = MLP([config.num_rbf, h])
        self.readout = MLP([h, h, 1])
        self.vector = nn.Linear(h, 1, bias=False)

    def atomic_outputs(self, species, edge_index, edge_vec, batch, num_graphs):
        src, dst = edge_index
        d = edge_vec.norm(dim=-1)
        msg = self.embed(species[src]) * self.filter(self.radial(d))
        h = self.embed(species).index_add(0, dst, msg / self.config.avg_num_neighbors)
        node = self.readout(h).squeeze(-1)
        if self.conservative:
            return node, None
        w = self.vector(msg)
        vec = torch.zeros(species.shape[0], 3, dtype=edge_vec.dtype, device=edge_vec.device)
        return node, vec.index_add(0, dst, w * edge_vec)


def make_toy(dtype=torch.float64, seed: int = 0, **overrides) -> ToyForceField:
    """A toy model with non-trivial weights (the default init plus noise) and E0."""
    cfg = dict(elements=ELEMENTS, atomic_energies=ATOMIC_ENERGIES, energy_scale=0.7)
    cfg.update(overrides)
    model = registry.build_model(FAMILY, cfg, dtype=dtype, seed=seed)
    with torch.no_grad():
        g = torch.Generator().manual_seed(seed + 1)
        for p in model.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return model.eval()


def ethanol(seed: int = 0, rattle: float = 0.05):
    """Ethanol (H, C, O) from ase.build, gently rattled, no periodicity."""
    from ase.build import molecule

    atoms = molecule("CH3CH2OH")
    atoms.rattle(stdev=rattle, seed=seed)
    atoms.pbc = False
    return atoms


def labelled_frames(n: int = 3):
    """Rattled ethanol frames labelled by ASE's EMT (eV, eV/Å), as reference frames."""
    from ase.calculators.emt import EMT
    from ase.calculators.singlepoint import SinglePointCalculator

    frames = []
    for k in range(n):
        a = ethanol(seed=k)
        a.calc = EMT()
        e, f = a.get_potential_energy(), a.get_forces()
        a.calc = SinglePointCalculator(a, energy=e, forces=f)
        frames.append(a)
    return frames


def predict(model, atoms):
    """Energy (eV) and forces (eV/Å) as torch tensors, for exact comparisons."""
    from types import SimpleNamespace

    p = next(model.parameters())
    z = torch.as_tensor(atoms.numbers, dtype=torch.long)
    pos = torch.as_tensor(np.asarray(atoms.positions), dtype=p.dtype)
    out = model(SimpleNamespace(z=z, pos=pos, batch=torch.zeros_like(z), num_graphs=1), compute_forces=True)
    return out["energy"].detach(), out["forces"].detach()


@pytest.fixture
def toy_family():
    """Register the toy family for one test, then remove it again."""
    registry._ensure_loaded()
    registry.register_family(ToyForceField)
    yield FAMILY
    registry._FAMILIES.pop(FAMILY, None)
