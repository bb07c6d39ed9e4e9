"""Reference frames stored next to a checkpoint, and the model's prediction on one.

``reference_prediction.json`` freezes what the model predicted at save time on
one frame (atomic numbers, positions in Å, energy in eV, forces in eV/Å), so
any later load can be checked to reproduce it. ``reference.extxyz`` holds the
labelled frames it was given (e.g. test frames with DFT energies and forces),
which the demo uses to measure the force error.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch

__all__ = ["predict", "probe_frame", "write_reference", "read_reference_frames", "compare_reference"]


def _model_dtype_device(model: torch.nn.Module) -> tuple[torch.dtype, torch.device]:
    for t in list(model.parameters()) + list(model.buffers()):
        if t.is_floating_point():
            return t.dtype, t.device
    return torch.get_default_dtype(), torch.device("cpu")


def predict(
    model: torch.nn.Module,
    numbers: Any,
    positions: Any,
    edge_index: torch.Tensor | None = None,
) -> tuple[float, np.ndarray]:
    """Energy and forces of one molecule.

    Parameters
    ----------
    model : ForceField
    numbers : (n,) atomic numbers
    positions : (n, 3) Å
    edge_index : (2, E) neighbour list within the cutoff, or None to build it

    Returns
    -------
    energy : float, eV
    forces : (n, 3) float64 array, eV/Å
    """
    dtype, device = _model_dtype_device(model)
    z = torch.as_tensor(np.asarray(numbers), dtype=torch.long, device=device)
    pos = torch.as_tensor(np.asarray(positions), dtype=dtype, device=device)
    if pos.ndim != 2 or pos.shape != (z.shape[0], 3):
        raise ValueError(f"positions must have shape ({z.shape[0]}, 3) for {z.shape[0]} atoms, got {tuple(pos.shape)}.")
    data = SimpleNamespace(
        z=z,
        pos=pos,
        batch=torch.zeros_like(z),
        num_graphs=1,
        edge_index=edge_index,
    )
    with torch.enable_grad():
        out = model(data, compute_forces=True)
    energy = float(out["energy"].detach()[0])
    forces = out["forces"].detach().to("cpu", torch.float64).numpy()
    return energy, forces


def probe_frame(elements: list[int], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A small deterministic cluster with two atoms of each element (at most 10).

    Used when a checkpoint is saved without reference frames: its only job is
    to be a fixed input whose prediction later loads must reproduce.

    Returns
    -------
    numbers : (n,) int array
    positions : (n, 3) float64 array, Å (a helix with ~1.3 Å between neighbours)
    """
    zs = (sorted(int(z) for z in elements) * 2)[:10] or [1, 1]
    k = np.arange(len(zs))
    angle = np.deg2rad(100.0) * k
    pos = np.stack([1.0 * np.cos(angle), 1.0 * np.sin(angle), 0.55 * k], axis=1)
    pos += np.random.default_rng(seed).normal(scale=0.05, size=pos.shape)
    return np.asarray(zs, dtype=np.int64), pos


def write_reference(folder: Path, model: torch.nn.Module, reference: Any = None) -> None:
    """Write ``reference.extxyz`` (if frames are given) and ``reference_prediction.json``."""
    from .format import PREDICTION_FILE, REFERENCE_FILE, UNITS

    frames = None
    if reference is not None:
        from ase import Atoms

        frames = [reference] if isinstance(reference, Atoms) else list(reference)
        if not frames or not all(isinstance(a, Atoms) for a in frames):
            raise TypeError("reference must be an ase.Atoms or a non-empty list of them.")
        import ase.io

        ase.io.write(folder / REFERENCE_FILE, frames, format="extxyz")
        numbers, positions = frames[0].numbers, frames[0].positions
    else:
        numbers, positions = probe_frame(list(model.config.elements))
    was_training = model.training
    model.eval()  # the prediction a loaded (eval-mode) model must reproduce
    try:
        energy, forces = predict(model, numbers, positions)
    finally:
        model.train(was_training)
    dtype, _ = _model_dtype_device(model)
    record = {
        "units": dict(UNITS),
        "dtype": str(dtype).removeprefix("torch."),
        "source": "reference.extxyz frame 0" if frames else "probe frame (no reference frames were given)",
        "numbers": [int(z) for z in numbers],
        "positions": np.asarray(positions, dtype=np.float64).tolist(),
        "energy": energy,
        "forces": forces.tolist(),
    }
    (folder / PREDICTION_FILE).write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")


def read_reference_frames(folder: str | Path) -> list:
    """Labelled frames of ``reference.extxyz`` (ase.Atoms), or [] when there is none."""
    from .format import REFERENCE_FILE

    file = Path(folder) / REFERENCE_FILE
    if not file.is_file():
        return []
    import ase.io

    return list(ase.io.read(file, index=":", format="extxyz"))


def compare_reference(model: torch.nn.Module, folder: str | Path) -> dict[str, float]:
    """Re-run the stored reference prediction of ``folder`` with ``model``.

    Returns
    -------
    dict with ``energy_diff`` (eV), ``force_diff`` (max abs, eV/Å) and the
    stored ``dtype`` (to choose a tolerance).
    """
    from .format import PREDICTION_FILE

    record = json.loads((Path(folder) / PREDICTION_FILE).read_text(encoding="utf-8"))
    energy, forces = predict(model, record["numbers"], record["positions"])
    return {
        "energy_diff": abs(energy - record["energy"]),
        "force_diff": float(np.abs(forces - np.asarray(record["forces"])).max()),
        "energy": record["energy"],
        "dtype": record["dtype"],
    }
