"""Errors of potentials on the xTB corpus's held-out molecules, its 500 K MD frames, and rMD17 relabelled with xTB.

    OMP_NUM_THREADS=1 python benchmarks/corpus/evaluate.py egnn-s.qm9-xtb mpnn-s.qm9-xtb \\
        --corpus corpus/qm9-xtb --zero-shot corpus/rmd17-xtb/aspirin corpus/rmd17-xtb/ethanol

Merges one record per model into ``benchmarks/corpus/accuracy.json`` (meV, meV/Å):
energy MAE per molecule and per atom, force MAE and RMSE, on each test set.
``test_below_10ev`` repeats ``test`` without the frames whose largest force
exceeds 10 eV/Å (generator 1.0 let 0.4 % squeezed geometries through).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def evaluate_on(model, folder: str, group: str, batch_size: int = 32, max_force: float | None = None) -> dict:
    """Errors of ``model`` on the frames of one split group of a corpus folder (no training split needed).

    ``max_force`` (eV/Å) leaves out frames whose largest force exceeds it (their count is recorded).
    """
    import numpy as np

    import torch
    from torch_geometric.loader import DataLoader

    from forcefields.bench.accuracy import evaluate
    from forcefields.data.corpus import load_corpus
    from forcefields.data.dataset import GraphDataset, build_graphs

    frames = load_corpus(folder)
    indices = frames.groups[group]
    left_out = 0
    if max_force is not None:
        largest = frames.largest_force()[indices]
        left_out = int((largest > max_force).sum())
        indices = indices[largest <= max_force]
    store = build_graphs(frames, indices, model.cutoff)
    loader = DataLoader(GraphDataset(store, range(len(indices))), batch_size=batch_size)
    t0 = time.perf_counter()
    metrics = evaluate(model, loader, torch.device("cpu"))
    metrics["seconds"] = round(time.perf_counter() - t0, 1)
    metrics["molecules"] = int(len(set(frames.molecules[indices].tolist())))
    if max_force is not None:
        metrics["max_force_ev_a"] = max_force
        metrics["frames_left_out"] = left_out
    return metrics


def _group_size(folder: str, group: str, max_force: float) -> dict:
    """Frames and molecules of a group whose largest force is at most ``max_force`` (no model needed)."""
    import numpy as np

    from forcefields.data.corpus import load_corpus

    frames = load_corpus(folder)
    indices = frames.groups[group]
    largest = frames.largest_force()[indices]
    kept = indices[largest <= max_force]
    return {"n_frames": int(kept.size), "molecules": int(len(set(frames.molecules[kept].tolist())))}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("models", nargs="+", help="pretrained names or checkpoint folders")
    p.add_argument("--corpus", default="corpus/qm9-xtb")
    p.add_argument("--zero-shot", nargs="*", default=[], help="corpus folders of relabelled rMD17 frames")
    p.add_argument("--out", default=str(HERE / "accuracy.json"))
    p.add_argument("--sets", nargs="*", default=["test", "test_below_10ev", "test_md500", "zero_shot"],
                   help="what to evaluate (default all); a slow model may take 'test_below_10ev' from its run's "
                        "metrics.json with --run-metrics")
    p.add_argument("--run-metrics", default=None,
                   help="a run's metrics.json whose test metrics (trained with --max-force 10) stand for test_below_10ev")
    p.add_argument("--as", dest="labels", nargs="*", default=None,
                   help="names to record the models under (default: their names; a run's model/ folder: the run's name)")
    args = p.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    import forcefields

    out = Path(args.out)
    results = json.loads(out.read_text()) if out.is_file() else {}
    labels = args.labels or [Path(n).parent.name if Path(n).name == "model" else Path(n).name for n in args.models]
    for name, label in zip(args.models, labels):
        model = forcefields.load(name)
        record = {"parameters": sum(p.numel() for p in model.parameters()), "units": {"energy": "meV",
                  "energy_per_atom": "meV/atom", "forces": "meV/Å"}}
        if "test" in args.sets:
            record["test"] = evaluate_on(model, args.corpus, "test")
        if "test_below_10ev" in args.sets:
            record["test_below_10ev"] = evaluate_on(model, args.corpus, "test", max_force=10.0)
        elif args.run_metrics:
            t = json.loads(Path(args.run_metrics).read_text())["test"]
            record["test_below_10ev"] = {"force_mae_mev_a": t["forces_mae"], "force_rmse_mev_a": t["forces_rmse"],
                                         "energy_mae_mev": t["energy_mae"], "energy_per_atom_mae_mev": t["energy_per_atom_mae"],
                                         "max_force_ev_a": 10.0, "from": "the run's own test (metrics.json)",
                                         **_group_size(args.corpus, "test", 10.0)}
        if "test_md500" in args.sets:
            record["test_md500"] = evaluate_on(model, args.corpus, "test_md500")
        if "zero_shot" in args.sets:
            for folder in args.zero_shot:
                record[f"zero_shot:{Path(folder).name}"] = evaluate_on(model, folder, "test")
        results[label] = record
        print(name, json.dumps({k: v for k, v in record.items() if isinstance(v, dict) and "force_mae_mev_a" in v},
                               indent=None)[:600])
    out.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
