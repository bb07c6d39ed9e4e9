"""Data: files -> frames (eV, Å) -> checked, split, cached radius graphs -> batches.

Light on import: submodules that pull in Lightning or torch_geometric load
only when one of their names is used.
"""

from __future__ import annotations

from .._lazy import lazy_exports


_EXPORTS = {
    "MolecularDataModule": "datamodule",
    "DatasetStatistics": "statistics",
    "compute_statistics": "statistics",
    "radius_graph": "neighbors",
    "DataError": "errors",
    "DataFileNotFoundError": "errors",
    "FrameSet": "readers",
    "ReaderOptions": "readers",
    "read_file": "readers",
    "read_npz": "readers",
    "read_ase": "readers",
    "Source": "sources",
    "parse_source": "sources",
    "load_source": "sources",
    "SplitSpec": "splits",
    "parse_split": "splits",
    "split_frames": "splits",
    "GraphStore": "dataset",
    "GraphDataset": "dataset",
    "build_graphs": "dataset",
    "check_frames": "validation",
    "find_bad_frames": "validation",
    "download_rmd17": "rmd17",
    "RMD17_MOLECULES": "rmd17",
    "cache_dir": "cache",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
