"""Graphs: frames -> radius graphs, kept in flat tensors and cached on disk.

A :class:`GraphStore` holds many molecules in a few flat tensors (atoms of
all frames concatenated, edges with per-frame local indices); item ``k`` is a
``torch_geometric.data.Data`` with the fields of docs/ARCHITECTURE.md. A
:class:`GraphDataset` is a view of some of its frames (one split).

Built graphs are saved as safetensors under ``$FORCEFIELDS_CACHE/graphs/``,
keyed by the SHA-256 of the source files, the reader options, the cutoff,
the dtype and the frames selected, so a second run with the same settings
loads instead of rebuilding.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from .cache import cache_dir, file_sha256
from .neighbors import radius_graph
from .readers import FrameSet

__all__ = ["GraphStore", "GraphDataset", "build_graphs", "load_or_build_graphs", "graph_cache_key"]

log = logging.getLogger("forcefields.data")

_FORMAT_VERSION = 1
_DTYPES = {"float32": torch.float32, "float64": torch.float64}


def resolve_dtype(dtype: str | torch.dtype) -> torch.dtype:
    """``"float32"``/``"float64"`` (or the torch dtype) -> torch dtype."""
    if isinstance(dtype, torch.dtype) and dtype in _DTYPES.values():
        return dtype
    if isinstance(dtype, str) and dtype.replace("torch.", "") in _DTYPES:
        return _DTYPES[dtype.replace("torch.", "")]
    raise ValueError(f"dtype={dtype!r} is not supported; use 'float32' (default) or 'float64'.")


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).replace("torch.", "")


def _data_class():
    """torch_geometric's Data, imported on first use (it takes a moment)."""
    global _DATA
    if _DATA is None:
        from torch_geometric.data import Data

        _DATA = Data
    return _DATA


_DATA = None


class GraphStore:
    """Molecular graphs in flat tensors.

    Attributes
    ----------
    z : (n,) long, atomic numbers
    pos : (n, 3) float, Å
    forces : (n, 3) float, eV/Å
    energy : (F,) float64, eV (kept in float64; items cast it to ``dtype``)
    natoms : (F,) long
    edge_index : (2, E) int32, per-frame local (source j, target i), sorted by target
    num_edges : (F,) long
    frame_ids : (F,) long, index of each frame in its source's FrameSet
    """

    FIELDS = ("z", "pos", "forces", "energy", "natoms", "edge_index", "num_edges", "frame_ids")

    def __init__(self, tensors: dict[str, torch.Tensor], cutoff: float):
        missing = [k for k in self.FIELDS if k not in tensors]
        if missing:
            raise ValueError(f"graph store lacks {missing}")
        for k in self.FIELDS:
            setattr(self, k, tensors[k])
        self.cutoff = float(cutoff)
        self.dtype = self.pos.dtype
        self.atom_ptr = torch.zeros(len(self.natoms) + 1, dtype=torch.long)
        self.atom_ptr[1:] = torch.cumsum(self.natoms, 0)
        self.edge_ptr = torch.zeros(len(self.num_edges) + 1, dtype=torch.long)
        self.edge_ptr[1:] = torch.cumsum(self.num_edges, 0)
        self._zero_cell = torch.zeros(1, 3, 3, dtype=self.dtype)
        self._no_pbc = torch.zeros(1, 3, dtype=torch.bool)

    def tensors(self) -> dict[str, torch.Tensor]:
        return {k: getattr(self, k) for k in self.FIELDS}

    def __len__(self) -> int:
        return int(self.natoms.shape[0])

    def get(self, k: int):
        """Frame ``k`` as a ``torch_geometric.data.Data``."""
        Data = _data_class()
        a0, a1 = int(self.atom_ptr[k]), int(self.atom_ptr[k + 1])
        e0, e1 = int(self.edge_ptr[k]), int(self.edge_ptr[k + 1])
        return Data(
            z=self.z[a0:a1],
            pos=self.pos[a0:a1],
            forces=self.forces[a0:a1],
            energy=self.energy[k : k + 1].to(self.dtype),
            natoms=self.natoms[k : k + 1],
            edge_index=self.edge_index[:, e0:e1].long(),
            cell=self._zero_cell,
            pbc=self._no_pbc,
        )

    def select(self, frames: np.ndarray) -> dict[str, np.ndarray]:
        """Numpy arrays of the given frames (store positions), for statistics.

        Returns
        -------
        dict with ``z`` (n,), ``natoms`` (k,), ``energy`` (k,) float64 eV,
        ``forces`` (n, 3) eV/Å, ``num_edges`` (k,).
        """
        frames = np.asarray(frames, dtype=np.int64)
        natoms = self.natoms.numpy()[frames]
        starts = self.atom_ptr.numpy()[frames]
        atoms = np.repeat(starts, natoms) + (np.arange(natoms.sum()) - np.repeat(np.cumsum(natoms) - natoms, natoms))
        return {
            "z": self.z.numpy()[atoms],
            "natoms": natoms,
            "energy": self.energy.numpy()[frames].astype(np.float64),
            "forces": self.forces.numpy()[atoms].astype(np.float64),
            "num_edges": self.num_edges.numpy()[frames],
        }


class GraphDataset(Dataset):
    """Some frames of a :class:`GraphStore` (one split of one source).

    Parameters
    ----------
    store : GraphStore
    indices : positions in the store
    label : source name (for messages and ``data info``)
    """

    def __init__(self, store: GraphStore, indices: Sequence[int], label: str = ""):
        self.store = store
        self.indices = np.asarray(indices, dtype=np.int64)
        self.label = label

    def __len__(self) -> int:
        return int(self.indices.shape[0])

    def __getitem__(self, i: int):
        return self.store.get(int(self.indices[i]))

    def arrays(self) -> dict[str, np.ndarray]:
        """See :meth:`GraphStore.select`."""
        return self.store.select(self.indices)


def build_graphs(
    frames: FrameSet,
    indices: np.ndarray,
    cutoff: float,
    dtype: torch.dtype = torch.float32,
    chunk_atoms: int = 100_000,
    progress: bool = False,
) -> GraphStore:
    """Radius graphs of ``frames[indices]``, many molecules per neighbour-list call.

    Parameters
    ----------
    frames : FrameSet (eV, Å)
    indices : (k,) frames to build, in store order
    cutoff : Å; pairs with distance < cutoff become edges (both directions)
    dtype : float dtype of positions and forces (edges are found in this dtype)
    chunk_atoms : atoms per neighbour-list call

    Returns
    -------
    GraphStore of k molecules.
    """
    indices = np.asarray(indices, dtype=np.int64)
    sub = frames.subset(indices)
    pos = torch.from_numpy(sub.positions).to(dtype)
    natoms = torch.from_numpy(sub.natoms)
    atom_ptr = np.zeros(len(indices) + 1, dtype=np.int64)
    np.cumsum(sub.natoms, out=atom_ptr[1:])
    edges, num_edges = [], []
    # chunks of whole frames with about chunk_atoms atoms each
    bounds = [0]
    while bounds[-1] < len(indices):
        target = atom_ptr[bounds[-1]] + chunk_atoms
        bounds.append(max(bounds[-1] + 1, int(np.searchsorted(atom_ptr, target, side="right")) - 1))
        bounds[-1] = min(bounds[-1], len(indices))
    chunks = list(zip(bounds[:-1], bounds[1:]))
    if progress and len(chunks) > 1:
        from rich.progress import track

        chunks = track(chunks, description=f"building graphs of {frames.label}", transient=True)
    for f0, f1 in chunks:
        a0, a1 = int(atom_ptr[f0]), int(atom_ptr[f1])
        batch = torch.repeat_interleave(torch.arange(f1 - f0), natoms[f0:f1])
        ei = radius_graph(pos[a0:a1], cutoff, batch)
        counts = torch.bincount(batch[ei[1]], minlength=f1 - f0)
        local = ei - torch.from_numpy(atom_ptr[f0:f1] - a0)[batch[ei[1]]]
        edges.append(local.to(torch.int32))
        num_edges.append(counts)
    tensors = {
        "z": torch.from_numpy(sub.numbers),
        "pos": pos,
        "forces": torch.from_numpy(sub.forces).to(dtype),
        "energy": torch.from_numpy(sub.energy),
        "natoms": natoms,
        "edge_index": torch.cat(edges, 1) if edges else torch.zeros(2, 0, dtype=torch.int32),
        "num_edges": torch.cat(num_edges) if num_edges else torch.zeros(0, dtype=torch.long),
        "frame_ids": torch.from_numpy(indices),
    }
    return GraphStore(tensors, cutoff)


def graph_cache_key(frames: FrameSet, indices: np.ndarray, cutoff: float, dtype: torch.dtype, reader: dict) -> dict:
    """What determines a built store: file contents, reader options, cutoff, dtype, frames."""
    return {
        "format": _FORMAT_VERSION,
        "files": [file_sha256(p) for p in frames.paths],
        "layout": frames.layout,
        "reader": reader,
        "cutoff": repr(float(cutoff)),
        "dtype": dtype_name(dtype),
        "frames": hashlib.sha256(np.ascontiguousarray(indices, dtype=np.int64).tobytes()).hexdigest(),
        "num_frames": int(len(indices)),
    }


def load_or_build_graphs(
    frames: FrameSet,
    indices: np.ndarray,
    cutoff: float,
    dtype: torch.dtype = torch.float32,
    reader: dict | None = None,
    use_cache: bool = True,
    progress: bool = False,
) -> tuple[GraphStore, bool, Path | None]:
    """Load the graphs of ``frames[indices]`` from the cache, or build and save them.

    Returns
    -------
    (store, hit, path): ``hit`` tells whether the cache had them; ``path`` is
    the cache file (None when ``use_cache`` is False).
    """
    from safetensors.torch import load_file, save_file

    if not use_cache:
        return build_graphs(frames, indices, cutoff, dtype, progress=progress), False, None
    key = graph_cache_key(frames, indices, cutoff, dtype, reader or {})
    key_text = json.dumps(key, sort_keys=True)
    digest = hashlib.sha256(key_text.encode()).hexdigest()[:40]
    path = cache_dir() / "graphs" / f"{digest}.safetensors"
    if path.is_file():
        try:
            from safetensors import safe_open

            with safe_open(str(path), framework="pt") as f:
                meta = f.metadata() or {}
            if meta.get("key") == key_text:
                store = GraphStore(load_file(str(path)), cutoff)
                log.info("graph cache hit: %s (%s)", frames.label, path)
                return store, True, path
        except Exception as err:  # a damaged cache file is rebuilt, not fatal
            log.warning("ignoring unreadable graph cache %s (%s)", path, err)
    store = build_graphs(frames, indices, cutoff, dtype, progress=progress)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tensors = {k: v.contiguous() for k, v in store.tensors().items()}
        save_file(tensors, str(tmp), metadata={"key": key_text, "label": frames.label})
        os.replace(tmp, path)
    except OSError as err:  # a read-only or full cache costs a rebuild next time, nothing more
        tmp.unlink(missing_ok=True)
        log.warning("could not save the graph cache %s (%s); set FORCEFIELDS_CACHE to a writable folder", path, err)
        return store, False, None
    log.info("graph cache miss: built %d graphs of %s (saved to %s)", len(store), frames.label, path)
    return store, False, path
