"""Revised MD17 (Christensen & von Lilienfeld 2020): where it lives, how to fetch and read it.

Two layouts are read:

(a) the official archive (figshare article 12672038, ``rmd17.tar.bz2``)
    extracted under ``root``: ``npz_data/rmd17_<mol>.npz`` (100,000 frames
    each) and ``splits/index_{train,test}_0N.csv`` (0-based row indices);
    ``root/rmd17/npz_data/...`` (the archive's own top folder) works too;
(b) per-split files ``rmd17_<mol>_{train,test}_0N.npz`` (1000 frames each),
    the same data already cut into the five standard splits.

Labels are PBE/def2-SVP energies (kcal/mol) and forces (kcal/mol/Å); the
reader converts them to eV and eV/Å.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from .cache import cache_dir
from .download import extract_tar, fetch
from .errors import DataError, DataFileNotFoundError
from .readers import FrameSet, ReaderOptions, concat_framesets, read_npz

__all__ = [
    "RMD17_MOLECULES",
    "RMD17_URL",
    "RMD17_SHA256",
    "RMD17_SIZE",
    "default_rmd17_root",
    "find_rmd17",
    "download_rmd17",
    "load_rmd17",
]

RMD17_MOLECULES = (
    "aspirin",
    "azobenzene",
    "benzene",
    "ethanol",
    "malonaldehyde",
    "naphthalene",
    "paracetamol",
    "salicylic",
    "toluene",
    "uracil",
)
RMD17_ARTICLE = "https://doi.org/10.6084/m9.figshare.12672038.v3"
RMD17_URL = "https://figshare.com/ndownloader/files/23950376"  # rmd17.tar.bz2
# Size and SHA-256 of rmd17.tar.bz2 (version 3 of the figshare record). The
# first 12 hex digits are also pinned by the load-atoms project's rMD17 importer.
RMD17_SIZE = 1_066_301_513
RMD17_SHA256 = "cddeea2ec2c4b22a9de16a9a65a3eeedac5b29da9c99c20bbff0153912bf922b"

_PER_SPLIT = re.compile(r"rmd17_(?P<mol>[a-z]+)_(?P<part>train|test)_(?P<n>\d+)\.npz$")


def default_rmd17_root() -> Path:
    """Where :func:`download_rmd17` puts the data: ``$FORCEFIELDS_CACHE/datasets/rmd17``."""
    return cache_dir() / "datasets" / "rmd17"


def _local_copy_hint(molecule: str) -> str:
    return (
        f"download rmd17.tar.bz2 from {RMD17_ARTICLE}, extract it and pass root=<the folder holding "
        f"npz_data/> (or a folder of per-split files rmd17_{molecule}_train_01.npz, ...)"
    )


def _how_to_get(molecule: str) -> str:
    return (
        f"{_local_copy_hint(molecule)}; or, online, leave root unset and MolecularDataModule.prepare_data() "
        f"(or `forcefields data download rmd17:{molecule}`) downloads it into {default_rmd17_root()}"
    )


def find_rmd17(molecule: str, root: str | Path | None = None) -> dict | None:
    """Locate the files of one molecule.

    Returns
    -------
    None when absent, else a dict with ``layout`` (``"archive"`` or
    ``"per-split"``) and ``npz`` (path) plus ``splits`` ({"train_01": csv, ...})
    for the archive, or ``files`` ({"train_01": npz, ...}) for per-split files.
    """
    root = Path(root) if root is not None else default_rmd17_root()
    for base in (root, root / "rmd17"):
        npz = base / "npz_data" / f"rmd17_{molecule}.npz"
        if npz.is_file():
            splits = {}
            for csv in sorted((base / "splits").glob("index_*_*.csv")):
                part, n = csv.stem.split("_")[1:3]
                splits[f"{part}_{int(n):02d}"] = csv
            return {"layout": "archive", "npz": npz, "splits": splits}
    files = {}
    if root.is_dir():
        for path in sorted(root.glob(f"rmd17_{molecule}_*_*.npz")):
            m = _PER_SPLIT.match(path.name)
            if m and m["mol"] == molecule:
                files[f"{m['part']}_{int(m['n']):02d}"] = path
    if files:
        return {"layout": "per-split", "files": files}
    return None


def download_rmd17(root: str | Path | None = None, progress: bool = True, keep_archive: bool = False) -> Path:
    """Fetch and extract the official archive once (about 1 GB).

    Parameters
    ----------
    root : folder to hold ``rmd17/npz_data`` and ``rmd17/splits``;
        default ``$FORCEFIELDS_CACHE/datasets/rmd17``
    progress : show rich progress bars
    keep_archive : keep ``rmd17.tar.bz2`` after extracting it

    Returns
    -------
    The folder ``<root>/rmd17``.
    """
    root = Path(root) if root is not None else default_rmd17_root()
    dest = root / "rmd17"
    if (dest / "npz_data").is_dir():
        return dest
    archive = fetch(
        RMD17_URL,
        root / "rmd17.tar.bz2",
        sha256=RMD17_SHA256,
        size=RMD17_SIZE,
        progress=progress,
        hint=_local_copy_hint("aspirin"),
    )
    extract_tar(archive, dest, member_root="rmd17", progress=progress)
    if not keep_archive:
        archive.unlink(missing_ok=True)
    return dest


def _read_indices(csv: Path, num_frames: int) -> np.ndarray:
    try:
        values = np.loadtxt(csv, dtype=np.float64, ndmin=1, delimiter=",").reshape(-1)
    except ValueError as err:
        raise DataError(f"cannot read split indices from {csv} ({err}); expected one integer per line.", path=str(csv)) from err
    idx = values.astype(np.int64)
    if not np.array_equal(idx, values):
        raise DataError(f"{csv} holds non-integer frame indices; expected one integer per line.", path=str(csv))
    if idx.size and (idx.min() < 0 or idx.max() >= num_frames):
        raise DataError(
            f"{csv} lists frame {int(idx.max()) if idx.max() >= num_frames else int(idx.min())} but the archive "
            f"has frames 0..{num_frames - 1}; the split file does not belong to this archive.",
            path=str(csv),
        )
    return idx


def load_rmd17(molecule: str, root: str | Path | None = None, options: ReaderOptions | None = None) -> FrameSet:
    """All frames of one rMD17 molecule, with its standard splits as ``groups``.

    In the per-split layout every file present is read and frames repeated
    across files (same ``old_indices``) are kept once; ``groups["train_01"]``
    etc. index into that pool.

    Returns
    -------
    FrameSet in eV and Å, label ``rmd17:<molecule>``.
    """
    if molecule not in RMD17_MOLECULES:
        raise DataError(f"unknown rMD17 molecule {molecule!r}; known: {', '.join(RMD17_MOLECULES)}.")
    root_path = Path(root) if root is not None else default_rmd17_root()
    found = find_rmd17(molecule, root_path)
    if found is None:
        raise DataFileNotFoundError(
            f"rMD17 {molecule} not found under {root_path}; {_how_to_get(molecule)}.",
            path=str(root_path),
        )
    label = f"rmd17:{molecule}"
    if found["layout"] == "archive":
        frames = read_npz(found["npz"], options)
        frames.label, frames.layout = label, "rMD17 archive (npz_data/ + splits/)"
        frames.groups = {name: _read_indices(csv, frames.num_frames) for name, csv in found["splits"].items()}
        frames.paths = frames.paths + [str(csv) for csv in found["splits"].values()]
        return frames
    names = list(found["files"])
    parts = [read_npz(found["files"][name], options) for name in names]
    frames = concat_framesets(parts, label=label, layout="rMD17 per-split files")
    sizes = [p.num_frames for p in parts]
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    if frames.ids is None:  # no old_indices: keep every frame, groups are the files
        frames.groups = {n: np.arange(offsets[k], offsets[k + 1]) for k, n in enumerate(names)}
        return frames
    _, first = np.unique(frames.ids, return_index=True)
    keep = np.sort(first)
    position = {int(i): k for k, i in enumerate(frames.ids[keep])}
    groups = {
        n: np.array([position[int(i)] for i in frames.ids[offsets[k] : offsets[k + 1]]], dtype=np.int64)
        for k, n in enumerate(names)
    }
    pool = frames.subset(keep)
    pool.groups = groups
    return pool
