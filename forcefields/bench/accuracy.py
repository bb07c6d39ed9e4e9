"""Accuracy benchmark: energy and force errors of pretrained checkpoints on their test split.

Each checkpoint's ``config.json`` records how it was trained
(``training.data``: the sources, ``training.split``: the split). The test
split is rebuilt from those with the data module, reading the files under
``root``, and the model is evaluated on every test frame:

- energy MAE (meV, total energy per molecule) and RMSE;
- force MAE and RMSE (meV/Å, over all force components).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from .machine import machine_info, resolve_device
from .resolve import as_dtype, expand_model_names
from .store import ResultWriter, new_run_id, now_iso

__all__ = ["AccuracySettings", "run_accuracy", "evaluate", "PUBLISHED"]

# Published force MAE (meV/Å) on rMD17, 1000 test frames of split 1, as quoted
# in the reference data's README (MACE: Batatia et al. 2022; Allegro: Musaelian
# et al. 2023; NequIP: Batzner et al. 2022).
PUBLISHED = [
    {"model": "MACE", "dataset": "rmd17:aspirin", "split": "rmd17:1", "force_mae_mev_a": 6.6, "note": "literature"},
    {"model": "Allegro", "dataset": "rmd17:aspirin", "split": "rmd17:1", "force_mae_mev_a": 7.3, "note": "literature"},
    {"model": "NequIP (l=3)", "dataset": "rmd17:aspirin", "split": "rmd17:1", "force_mae_mev_a": 8.2, "note": "literature"},
    {"model": "MACE", "dataset": "rmd17:ethanol", "split": "rmd17:1", "force_mae_mev_a": 2.1, "note": "literature"},
]


@dataclass
class AccuracySettings:
    """What ``forcefields bench accuracy`` evaluates.

    Attributes
    ----------
    models : pretrained names or checkpoint folders, or "all-pretrained"
    root : folder of the datasets (rMD17 npz files for "rmd17:" sources)
    device, dtype : where and in which precision to evaluate
    batch_size : test molecules per call
    max_frames : evaluate at most this many test frames (None: all)
    out : results root
    progress : rich progress bar
    """

    models: list[str] | str = "all-pretrained"
    root: str = "../shared/data/rmd17"
    device: str = "cpu"
    dtype: str = "float32"
    batch_size: int = 32
    max_frames: int | None = None
    out: str = "benchmarks/results"
    fallback_cpu: bool = False
    progress: bool = True


def _training_data(config: dict[str, Any]) -> tuple[list[str], Any]:
    training = config.get("training") or {}
    data = training.get("data") or training.get("sources") or training.get("dataset")
    if isinstance(data, str):
        data = [data]
    return list(data or []), training.get("split")


def evaluate(model: torch.nn.Module, loader, device: torch.device, max_frames: int | None = None,
             on_batch=lambda n: None) -> dict[str, float]:
    """Energy and force errors of ``model`` over a loader of labelled batches.

    Returns
    -------
    dict with n_frames, energy_mae_mev, energy_rmse_mev (per molecule, meV),
    energy_per_atom_mae_mev (meV/atom), force_mae_mev_a, force_rmse_mev_a (per component, meV/Å)
    """
    n_frames = 0
    e_abs = e_sq = f_abs = f_sq = ea_abs = 0.0
    n_comp = 0
    model.eval()
    dtype = next(model.parameters()).dtype
    for batch in loader:
        if max_frames is not None and n_frames >= max_frames:
            break
        batch = batch.to(device)
        if batch.pos.dtype != dtype:
            batch.pos = batch.pos.to(dtype)
        out = model(batch)
        de = (out["energy"].detach().double() - batch.energy.double()).cpu()
        df = (out["forces"].detach().double() - batch.forces.double()).cpu()
        keep = de.shape[0] if max_frames is None else min(de.shape[0], max_frames - n_frames)
        if keep < de.shape[0]:
            atoms = int(batch.ptr[keep]) if hasattr(batch, "ptr") else None
            de, df = de[:keep], df[:atoms]
        natoms = batch.natoms[: de.shape[0]].double().cpu() if hasattr(batch, "natoms") else None
        if natoms is not None:
            ea_abs += float((de.abs() / natoms).sum())
        e_abs += float(de.abs().sum())
        e_sq += float((de**2).sum())
        f_abs += float(df.abs().sum())
        f_sq += float((df**2).sum())
        n_comp += df.numel()
        n_frames += int(de.shape[0])
        on_batch(int(de.shape[0]))
    if n_frames == 0:
        raise ValueError("the test split has no frames to evaluate.")
    return {
        "n_frames": n_frames,
        "energy_mae_mev": 1e3 * e_abs / n_frames,
        "energy_rmse_mev": 1e3 * math.sqrt(e_sq / n_frames),
        "energy_per_atom_mae_mev": 1e3 * ea_abs / n_frames,
        "force_mae_mev_a": 1e3 * f_abs / n_comp,
        "force_rmse_mev_a": 1e3 * math.sqrt(f_sq / n_comp),
    }


def _one(name: str, s: AccuracySettings, device: torch.device, base: dict, on_batch) -> dict:
    from forcefields.data import MolecularDataModule
    from forcefields.zoo import load, pretrained_info

    info = pretrained_info(name)
    config = info.config or {}
    model = load(name, device=device, dtype=as_dtype(s.dtype))
    sources, split = _training_data(config)
    rec = dict(
        base,
        model=name,
        arch=str(config.get("variant") or name.split(".")[0]),
        family=str(getattr(model, "family", config.get("family", "unknown"))),
        params=int(sum(p.numel() for p in model.parameters())),
        dataset=",".join(sources) or "unknown",
        split=str(split) if split is not None else "default",
        n_frames=0,
        status="ok",
        reason=None,
        energy_mae_mev=None,
        energy_rmse_mev=None,
        force_mae_mev_a=None,
        force_rmse_mev_a=None,
    )
    if not sources:
        return dict(rec, status="failed",
                    reason="config.json records no training data (training.data), so its test split is unknown.")
    dm = MolecularDataModule(sources, root=s.root, cutoff=float(model.cutoff), split=split, batch_size=s.batch_size,
                             dtype=s.dtype, download=False, verbose=False)
    dm.setup("test")
    metrics = evaluate(model, dm.test_dataloader(), device, s.max_frames, on_batch)
    return dict(rec, **metrics)


def run_accuracy(settings: AccuracySettings) -> dict:
    """Evaluate every checkpoint and store ``accuracy.json`` under ``<out>/<device_label>/``.

    Returns
    -------
    dict with ``path``, ``device_label``, ``run_id`` and ``records``.
    """
    s = settings
    device = resolve_device(s.device, s.fallback_cpu)
    as_dtype(s.dtype)
    names = expand_model_names(s.models)
    from forcefields.zoo import list_pretrained

    known = {e.name for e in list_pretrained()}
    for name in names:
        if name not in known and not (Path(name) / "config.json").is_file():
            raise KeyError(f"unknown pretrained model {name!r}; `forcefields pretrained` lists the pretrained checkpoints.")
    if not Path(s.root).is_dir():
        raise FileNotFoundError(f"data folder {s.root} does not exist; pass --root with the test data (e.g. ../shared/data/rmd17).")
    machine = machine_info(device)
    run_id = new_run_id()
    run = {"run_id": run_id, "created": now_iso(), "complete": False, "machine": machine,
           "settings": dict({k: v for k, v in asdict(s).items() if k != "progress"}, models=names, device=str(device))}
    writer = ResultWriter(s.out, "accuracy", machine["device_label"], "accuracy", run)
    base = {"run_id": run_id, "dtype": s.dtype, "device": str(device)}
    from contextlib import nullcontext

    ctx = nullcontext(None)
    if s.progress:
        from rich.progress import Progress

        ctx = Progress(transient=False)
    with ctx as progress:
        for name in names:
            task = progress.add_task(name, total=None) if progress else None

            def on_batch(n: int, task=task) -> None:
                if progress is not None:
                    progress.advance(task, n)

            t0 = time.perf_counter()
            try:
                rec = _one(name, s, device, base, on_batch)
            except (ValueError, KeyError, FileNotFoundError, RuntimeError) as err:
                msg = str(err.args[0] if isinstance(err, KeyError) and err.args else err).strip().splitlines()
                rec = dict(base, model=name, arch=name.split(".")[0], family="unknown", params=0, dataset="unknown",
                           split="unknown", n_frames=0, status="failed", reason=(msg[0] if msg else type(err).__name__)[:300],
                           energy_mae_mev=None, energy_rmse_mev=None, force_mae_mev_a=None, force_rmse_mev_a=None)
            rec["seconds"] = round(time.perf_counter() - t0, 2)
            writer.add([rec])
    path = writer.commit()
    return {"path": path, "device_label": machine["device_label"], "run_id": run_id, "records": writer.records}
