"""Optional labelling dependencies, imported with one clear sentence when missing."""

from __future__ import annotations

__all__ = ["require_rdkit", "require_tblite"]

_HINT = "install the labels extra: pip install 'forcefields[labels]' (tblite and rdkit)"


def require_rdkit():
    """``(Chem, AllChem)`` from RDKit, with its log quietened."""
    try:
        from rdkit import Chem, RDLogger
        from rdkit.Chem import AllChem
    except ImportError as err:
        raise ImportError(f"RDKit is needed to build molecules from SMILES but is not installed; {_HINT}.") from err
    RDLogger.DisableLog("rdApp.*")
    return Chem, AllChem


def require_tblite():
    """tblite's Python interface module."""
    try:
        from tblite import interface
    except ImportError as err:
        raise ImportError(f"tblite is needed for GFN-xTB labels but is not installed; {_HINT}.") from err
    return interface
