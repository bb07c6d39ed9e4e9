"""Tiny data and toy models for the training tests (also used by the DDP script).

Molecules are built with ase.build, rattled, and labelled with ASE's EMT
calculator (eV, Å); graphs follow docs/ARCHITECTURE.md.
"""

from __future__ import annotations

from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch import nn
from torch_geometric.data import Data
from torch_geometric.loader import DataLoader

from forcefields.data.neighbors import radius_graph
from forcefields.models import ForceField, ForceFieldConfig

CUTOFF = 4.0
FORMULAS = ("H2O", "CH4", "NH3", "CH3OH", "C2H6", "H2CO")


def labelled_atoms(num: int, seed: int = 0):
    """``num`` rattled small molecules with EMT energies (eV) and forces (eV/Å)."""
    from ase.build import molecule
    from ase.calculators.emt import EMT
    from ase.calculators.singlepoint import SinglePointCalculator

    rng = np.random.default_rng(seed)
    frames = []
    for k in range(num):
        atoms = molecule(FORMULAS[k % len(FORMULAS)])
        atoms.positions += rng.normal(scale=0.05, size=atoms.positions.shape)
        atoms.calc = EMT()
        energy, forces = atoms.get_potential_energy(), atoms.get_forces()
        atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=forces)
        frames.append(atoms)
    return frames


def to_graph(atoms, cutoff: float = CUTOFF, dtype=torch.float32) -> Data:
    pos = torch.tensor(atoms.positions, dtype=dtype)
    n = len(atoms)
    return Data(
        z=torch.tensor(atoms.numbers, dtype=torch.long),
        pos=pos,
        energy=torch.tensor([atoms.get_potential_energy()], dtype=dtype),
        forces=torch.tensor(atoms.get_forces(), dtype=dtype),
        edge_index=radius_graph(pos, cutoff),
        natoms=torch.tensor([n]),
        cell=torch.zeros(1, 3, 3, dtype=dtype),
        pbc=torch.zeros(1, 3, dtype=torch.bool),
    )


def tiny_graphs(num: int, seed: int = 0, dtype=torch.float32) -> list[Data]:
    return [to_graph(a, dtype=dtype) for a in labelled_atoms(num, seed)]


class TinyDataModule(L.LightningDataModule):
    """Fixed train/val/test lists of graphs, no shuffling (reproducible resumes)."""

    def __init__(self, train, val, test=None, batch_size: int = 2):
        super().__init__()
        self.train, self.val, self.test = train, val, test or val
        self.batch_size = batch_size

    def train_dataloader(self):
        return DataLoader(self.train, batch_size=self.batch_size, shuffle=False)

    def val_dataloader(self):
        return DataLoader(self.val, batch_size=self.batch_size, shuffle=False)

    def test_dataloader(self):
        return DataLoader(self.test, batch_size=self.batch_size, shuffle=False)


def tiny_datamodule(num_train=6, num_val=4, batch_size=2, seed=0) -> TinyDataModule:
    graphs = tiny_graphs(num_train + num_val, seed)
    return TinyDataModule(graphs[:num_train], graphs[num_train:], batch_size=batch_size)


def tiny_mpnn(hidden: int = 8, force_mode: str = "conservative", dtype=None, seed: int = 0):
    from forcefields.models import create_model

    return create_model(
        "mpnn-xs", hidden=hidden, num_layers=1, num_rbf=4, cutoff=CUTOFF,
        elements=(1, 6, 7, 8), force_mode=force_mode, dtype=dtype, seed=seed,
    )


# ------------------------------------------------------------- toy models
class PairToy(ForceField):
    """Rotation-invariant toy: energies from distances only (equivariant forces)."""

    family = "toy-pair"

    def __init__(self, config: ForceFieldConfig):
        super().__init__(config)
        h = config.hidden
        self.embed = nn.Embedding(self.num_elements, h)
        self.radial = nn.Linear(config.num_rbf, h)
        self.out = nn.Linear(h, 1)
        self.vec = nn.Linear(config.num_rbf, 1)
        self.register_buffer("centers", torch.linspace(0.5, config.cutoff, config.num_rbf))

    def edge_features(self, edge_vec: torch.Tensor) -> torch.Tensor:
        d = edge_vec.norm(dim=-1, keepdim=True)
        envelope = (1 - d / self.cutoff).clamp(min=0) ** 2
        return torch.exp(-((d - self.centers) ** 2)) * envelope

    def message_gate(self, edge_vec: torch.Tensor) -> torch.Tensor:
        return torch.ones(edge_vec.shape[0], self.config.hidden, dtype=edge_vec.dtype, device=edge_vec.device)

    def atomic_outputs(self, species, edge_index, edge_vec, batch, num_graphs):
        rbf = self.edge_features(edge_vec)
        h = self.embed(species)
        gate = self.message_gate(edge_vec)
        msg = h[edge_index[0]] * self.radial(rbf) * gate
        agg = torch.zeros_like(h).index_add(0, edge_index[1], msg)
        scalar = self.out(torch.tanh(agg + h)).squeeze(-1)
        vector = None
        if not self.conservative:
            w = self.vec(rbf) * gate.mean(-1, keepdim=True)
            vector = torch.zeros(h.shape[0], 3, dtype=h.dtype, device=h.device).index_add(0, edge_index[1], w * edge_vec)
        return scalar, vector


class VectorToy(PairToy):
    """Unconstrained toy (mpnn-like): messages read the raw Cartesian components of r_ij."""

    family = "toy-vector"

    def __init__(self, config: ForceFieldConfig):
        super().__init__(config)
        self.direction = nn.Linear(3, config.hidden)

    def message_gate(self, edge_vec: torch.Tensor) -> torch.Tensor:
        return 1.0 + torch.tanh(self.direction(edge_vec))


def toy(cls, hidden: int = 8, force_mode: str = "conservative", seed: int = 0):
    torch.manual_seed(seed)
    cfg = ForceFieldConfig(cutoff=CUTOFF, elements=(1, 6, 7, 8), hidden=hidden, num_rbf=6, force_mode=force_mode)
    return cls(cfg)


def write_extxyz(path: Path, num: int, seed: int = 0) -> Path:
    from ase.io import write

    write(str(path), labelled_atoms(num, seed), format="extxyz")
    return path
