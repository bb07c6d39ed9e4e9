"""A 3D molecule from a SMILES string (RDKit) or from any file ASE reads.

>>> atoms = atoms_from_smiles("CCO", seed=0)        # doctest: +SKIP
>>> atoms = load_structure("caffeine.xyz")          # doctest: +SKIP
>>> atoms = load_structure("CN1C=NC2=C1C(=O)N(C(=O)N2C)C")  # no such file: read as SMILES  # doctest: +SKIP

RDKit builds the conformer (ETKDGv3, then an MMFF94 relaxation, UFF where
MMFF has no parameters); it is the optional ``labels`` extra.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

__all__ = ["atoms_from_smiles", "load_structure", "RDKIT_MISSING"]

RDKIT_MISSING = (
    "building a molecule from SMILES needs RDKit, which is not installed; "
    "install it with pip install 'forcefields[labels]', or give a structure file (--structure) instead."
)


def _rdkit():
    try:
        from rdkit import Chem
        from rdkit.Chem import AllChem
    except ImportError as err:
        raise ImportError(RDKIT_MISSING) from err
    return Chem, AllChem


def atoms_from_smiles(smiles: str, seed: int = 0, relax_steps: int = 2000):
    """One 3D conformer of a molecule, hydrogens included.

    Parameters
    ----------
    smiles : SMILES string, e.g. "CC(=O)Oc1ccccc1C(=O)O"
    seed : int, seed of the ETKDGv3 embedding (same seed, same geometry)
    relax_steps : int, iterations of the MMFF94 (or UFF) relaxation after embedding

    Returns
    -------
    ase.Atoms with positions (n, 3) in Å, no cell, no periodicity; ``atoms.info``
    holds ``smiles``, ``charge`` (net formal charge, e) and ``conformer_method``.

    Raises
    ------
    ImportError : RDKit is missing (the sentence names the ``labels`` extra)
    ValueError : RDKit cannot parse the SMILES or find 3D coordinates for it

    Warns
    -----
    UserWarning : the net formal charge is not zero (potentials here are trained on neutral molecules)
    """
    Chem, AllChem = _rdkit()
    from ase import Atoms
    from rdkit import RDLogger

    smiles = str(smiles).strip()
    RDLogger.DisableLog("rdApp.*")  # RDKit's own stderr chatter; our sentence says what went wrong
    try:
        mol = Chem.MolFromSmiles(smiles) if smiles else None
        if mol is None:
            raise ValueError(
                f"RDKit cannot parse the SMILES {smiles!r}; check its brackets, ring-closure digits and "
                "aromatic atoms (lower case), or give a 3D structure file with --structure instead."
            )
        mol = Chem.AddHs(mol)
        params = AllChem.ETKDGv3()
        params.randomSeed = int(seed)
        if AllChem.EmbedMolecule(mol, params) != 0:
            params.useRandomCoords = True  # the fallback RDKit recommends for hard cases
            if AllChem.EmbedMolecule(mol, params) != 0:
                raise ValueError(
                    f"RDKit cannot embed the SMILES {smiles!r} in 3D (ETKDGv3 found no coordinates); "
                    "try another --seed, check the stereochemistry, or give a 3D structure file with --structure."
                )
        if AllChem.MMFFHasAllMoleculeParams(mol):
            AllChem.MMFFOptimizeMolecule(mol, maxIters=int(relax_steps))
            method = "ETKDGv3+MMFF94"
        elif AllChem.UFFHasAllMoleculeParams(mol):
            AllChem.UFFOptimizeMolecule(mol, maxIters=int(relax_steps))
            method = "ETKDGv3+UFF"
        else:
            method = "ETKDGv3"
    finally:
        RDLogger.EnableLog("rdApp.*")
    charge = Chem.GetFormalCharge(mol)
    if charge != 0:
        warnings.warn(
            f"the molecule {smiles!r} has a net formal charge of {charge:+d} e, but the potentials here were "
            "trained on neutral molecules; expect extrapolation.",
            UserWarning,
            stacklevel=2,
        )
    numbers = [a.GetAtomicNum() for a in mol.GetAtoms()]
    positions = mol.GetConformer().GetPositions()
    return Atoms(numbers=numbers, positions=positions, pbc=False,
                 info={"smiles": smiles, "charge": int(charge), "conformer_method": method})


def load_structure(path_or_smiles: str | os.PathLike, seed: int = 0):
    """A structure from a file ASE reads (its last frame), or from a SMILES when no such file exists.

    Parameters
    ----------
    path_or_smiles : path of an xyz/extxyz/pdb/traj/... file, or a SMILES string
    seed : int, embedding seed when it is a SMILES

    Returns
    -------
    ase.Atoms, positions (n, 3) in Å

    Raises
    ------
    FileNotFoundError : it names a file (a known structure-file extension) that does not exist
    ValueError : neither a readable file nor a SMILES RDKit can build
    """
    text = str(path_or_smiles)
    path = Path(text)
    if path.is_file():
        from ase.io import read

        try:
            return read(path)
        except Exception as err:  # ASE raises many types for unreadable files
            raise ValueError(
                f"ASE cannot read {path} as a structure ({type(err).__name__}: {err}); "
                "check the file, or name its format with a standard extension (.xyz, .extxyz, .pdb, .traj)."
            ) from err
    if path.suffix.lower().lstrip(".") in _structure_extensions():
        raise FileNotFoundError(f"no structure file {text}; check the path, or give a SMILES string instead.")
    return atoms_from_smiles(text, seed=seed)


def _structure_extensions() -> set[str]:
    """File extensions ASE's readers know (lower case, no dot)."""
    from ase.io.formats import ioformats

    out = {"xyz", "extxyz"}
    for fmt in ioformats.values():
        out.update(e.lower() for e in fmt.extensions)
    return out
