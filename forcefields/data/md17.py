"""Original MD17 (Chmiela et al. 2017): sGDML archives with keys z, R, E, F in kcal/mol.

The files come from quantum-machine.org, which publishes no checksums: the
SHA-256 of the first download is recorded next to the file (trust on first use).
"""

from __future__ import annotations

from pathlib import Path

from .cache import cache_dir
from .download import fetch
from .errors import DataError, DataFileNotFoundError
from .readers import FrameSet, ReaderOptions, read_npz

__all__ = ["MD17_MOLECULES", "MD17_BASE_URL", "find_md17", "download_md17", "load_md17"]

MD17_BASE_URL = "http://www.quantum-machine.org/gdml/data/npz/"
MD17_MOLECULES = {
    "aspirin": "md17_aspirin.npz",
    "benzene": "md17_benzene2017.npz",
    "ethanol": "md17_ethanol.npz",
    "malonaldehyde": "md17_malonaldehyde.npz",
    "naphthalene": "md17_naphthalene.npz",
    "salicylic": "md17_salicylic.npz",
    "toluene": "md17_toluene.npz",
    "uracil": "md17_uracil.npz",
}


def default_md17_root() -> Path:
    return cache_dir() / "datasets" / "md17"


def _check(molecule: str) -> None:
    if molecule not in MD17_MOLECULES:
        raise DataError(f"unknown MD17 molecule {molecule!r}; known: {', '.join(MD17_MOLECULES)}.")


def find_md17(molecule: str, root: str | Path | None = None) -> Path | None:
    """``<root>/md17_<mol>.npz`` (or the older ``<mol>_dft.npz``), or None."""
    _check(molecule)
    root = Path(root) if root is not None else default_md17_root()
    for name in (MD17_MOLECULES[molecule], f"{molecule}_dft.npz", f"md17_{molecule}.npz"):
        if (root / name).is_file():
            return root / name
    return None


def download_md17(molecule: str, root: str | Path | None = None, progress: bool = True) -> Path:
    """Fetch one molecule's archive into ``root`` (default ``$FORCEFIELDS_CACHE/datasets/md17``)."""
    _check(molecule)
    root = Path(root) if root is not None else default_md17_root()
    found = find_md17(molecule, root)
    if found is not None:
        return found
    name = MD17_MOLECULES[molecule]
    return fetch(
        MD17_BASE_URL + name,
        root / name,
        progress=progress,
        hint=f"download {MD17_BASE_URL + name} by hand and pass root=<its folder>",
    )


def load_md17(molecule: str, root: str | Path | None = None, options: ReaderOptions | None = None) -> FrameSet:
    """All frames of one MD17 molecule in eV and Å, label ``md17:<molecule>``."""
    _check(molecule)
    root_path = Path(root) if root is not None else default_md17_root()
    path = find_md17(molecule, root_path)
    if path is None:
        raise DataFileNotFoundError(
            f"MD17 {molecule} not found under {root_path} (expected {MD17_MOLECULES[molecule]}); download "
            f"{MD17_BASE_URL + MD17_MOLECULES[molecule]} and pass root=<its folder>, or, online, leave root "
            f"unset and MolecularDataModule.prepare_data() fetches it into {default_md17_root()}.",
            path=str(root_path),
        )
    frames = read_npz(path, options)
    frames.label, frames.layout = f"md17:{molecule}", "MD17 sGDML archive"
    return frames
