"""3D conformers from SMILES: RDKit ETKDG, then a quick MMFF (or UFF) relaxation.

Each conformer comes with its force-field Hessian (central differences of the
analytic force-field gradient), from which :mod:`.sampling` draws thermal
geometries along the normal modes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .failures import GenerationFailure
from .rdkit_import import require_rdkit

__all__ = ["Conformers", "parse_smiles", "embed_conformers"]

KCAL_TO_EV = 0.0433641153087705


@dataclass
class Conformers:
    """Relaxed conformers of one molecule.

    Attributes
    ----------
    numbers : (n,) int64, atomic numbers (hydrogens explicit)
    masses : (n,) float64, amu
    positions : (k, n, 3) float64, Å, force-field minima
    hessians : (k, 3n, 3n) float64, kcal/mol/Å², force-field Hessians at those minima
    bonds : (b, 2) int64, bonded atom pairs of the molecular graph
    charge : int, net formal charge
    forcefield : "MMFF94" or "UFF"
    """

    numbers: np.ndarray
    masses: np.ndarray
    positions: np.ndarray
    hessians: np.ndarray
    bonds: np.ndarray
    charge: int
    forcefield: str


def parse_smiles(smiles: str):
    """RDKit molecule of ``smiles``, or a ``parse`` failure."""
    Chem, _ = require_rdkit()
    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        raise GenerationFailure("parse", f"RDKit cannot parse the SMILES {smiles!r}")
    return mol


def _force_field(mol, conf_id: int, AllChem):
    props = AllChem.MMFFGetMoleculeProperties(mol)
    if props is not None:
        ff = AllChem.MMFFGetMoleculeForceField(mol, props, confId=conf_id)
        if ff is not None:
            return ff, "MMFF94"
    if AllChem.UFFHasAllMoleculeParams(mol):
        ff = AllChem.UFFGetMoleculeForceField(mol, confId=conf_id)
        if ff is not None:
            return ff, "UFF"
    raise GenerationFailure("forcefield", "neither MMFF94 nor UFF has parameters for this molecule")


def _gradient(ff, x: np.ndarray) -> np.ndarray:
    """Force-field gradient (kcal/mol/Å) at flat positions ``x``.

    RDKit's ``CalcGrad(pos)`` answers for the positions of the previous energy
    evaluation (seen with RDKit 2026.09), so the energy is evaluated there first.
    """
    pos = x.tolist()
    ff.CalcEnergy(pos)
    return np.asarray(ff.CalcGrad(pos))


def _hessian(ff, positions: np.ndarray, step: float = 1e-3) -> np.ndarray:
    """(3n, 3n) kcal/mol/Å², central differences of the analytic gradient, symmetrised."""
    x0 = positions.reshape(-1).astype(np.float64)
    dim = x0.size
    hess = np.empty((dim, dim))
    for k in range(dim):
        x = x0.copy()
        x[k] += step
        g_plus = _gradient(ff, x)
        x[k] -= 2 * step
        g_minus = _gradient(ff, x)
        hess[k] = (g_plus - g_minus) / (2 * step)
    return 0.5 * (hess + hess.T)


def embed_conformers(
    mol,
    max_conformers: int = 3,
    seed: int = 0,
    prune_rms: float = 0.3,
    max_iterations: int = 500,
) -> Conformers:
    """Embed up to ``max_conformers`` distinct conformers and relax them.

    Parameters
    ----------
    mol : RDKit molecule without explicit hydrogens (from :func:`parse_smiles`)
    max_conformers : conformers kept at most (fewer when the molecule has fewer)
    seed : ETKDG random seed
    prune_rms : Å, conformers closer than this (heavy-atom RMSD) count as one
    max_iterations : force-field relaxation steps per conformer

    Raises
    ------
    GenerationFailure ``embed`` or ``forcefield``
    """
    Chem, AllChem = require_rdkit()
    molh = Chem.AddHs(mol)
    params = AllChem.ETKDGv3()
    params.randomSeed = int(seed) % (2**31 - 1)
    params.pruneRmsThresh = float(prune_rms)
    conf_ids = list(AllChem.EmbedMultipleConfs(molh, numConfs=max(1, int(max_conformers)), params=params))
    if not conf_ids:
        params.useRandomCoords = True
        conf_ids = list(AllChem.EmbedMultipleConfs(molh, numConfs=1, params=params))
    if not conf_ids:
        raise GenerationFailure("embed", "ETKDG found no 3D embedding")
    positions, hessians, energies = [], [], []
    name = ""
    for cid in conf_ids:
        ff, name = _force_field(molh, cid, AllChem)
        ff.Initialize()
        ff.Minimize(maxIts=int(max_iterations))
        pos = np.asarray(ff.Positions(), dtype=np.float64).reshape(-1, 3)
        energy = float(ff.CalcEnergy())
        ff, _ = _force_field(molh, cid, AllChem)
        ff.Initialize()
        # symmetric copies of one minimum relax to the same energy: keep one
        if any(abs(energy - e) < 1e-3 for e in energies):
            continue
        energies.append(energy)
        positions.append(pos)
        hessians.append(_hessian(ff, pos))
    numbers = np.array([a.GetAtomicNum() for a in molh.GetAtoms()], dtype=np.int64)
    masses = np.array([a.GetMass() for a in molh.GetAtoms()], dtype=np.float64)
    bonds = np.array([[b.GetBeginAtomIdx(), b.GetEndAtomIdx()] for b in molh.GetBonds()], dtype=np.int64)
    return Conformers(
        numbers=numbers,
        masses=masses,
        positions=np.stack(positions),
        hessians=np.stack(hessians),
        bonds=bonds.reshape(-1, 2),
        charge=int(Chem.GetFormalCharge(molh)),
        forcefield=name,
    )
