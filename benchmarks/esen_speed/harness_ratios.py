"""Training cost per structure and MD step from ``forcefields bench speed`` result files, as issue 14's ratios.

    .venv/bin/python benchmarks/esen_speed/harness_ratios.py RUN.json [RUN.json ...] --out summary.json

Reads each file's latest run (the harness's own ``speed-float32.json``) and
prints, per run, the training cost per structure of every model at each batch
size, esen-l2-xs / egnn-s, and the aspirin MD step of esen against NequIP of
matched width and their best batched throughput (when the run has them). ``--out`` keeps the figures, with the
run's settings (``side_by_side`` among them), in one small JSON.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

MD_PAIRS = (("esen-l1-s", "nequip-32x1"), ("esen-l2-s", "nequip-32x2"))


def summarize(path: Path) -> dict:
    doc = json.loads(path.read_text(encoding="utf-8"))
    run = doc["runs"][-1]
    records = [r for r in doc["records"] if r["run_id"] == run["run_id"] and r["status"] == "ok" and not r["compile"]]
    train = {}
    for r in records:
        if r["regime"] == "train":
            train.setdefault(r["model"], {})[str(r["n_molecules"])] = 1e3 * r["median_s"] / r["n_molecules"]
    md = {r["model"]: 1e3 * r["median_s"] for r in records if r["regime"] == "md" and r["system"] == "aspirin"}
    ratio = {}
    if "esen-l2-xs" in train and "egnn-s" in train:
        ratio = {b: train["esen-l2-xs"][b] / train["egnn-s"][b] for b in train["egnn-s"] if b in train["esen-l2-xs"]}
    md_ratio = {f"{ours}/{peer}": md[ours] / md[peer] for ours, peer in MD_PAIRS if ours in md and peer in md}
    batched = {}  # best atoms/s over the batch regime
    for r in records:
        if r["regime"] == "batch":
            batched[r["model"]] = max(batched.get(r["model"], 0.0), r["atoms_per_s"])
    batched_ratio = {f"{ours}/{peer}": batched[ours] / batched[peer] for ours, peer in MD_PAIRS
                     if ours in batched and peer in batched}
    settings = run["settings"]
    peers_side_by_side = any(p.get("side_by_side") for p in run.get("peers", []))
    return {
        "file": path.name, "created": run["created"], "side_by_side": bool(settings.get("side_by_side", False)),
        "peers_side_by_side": peers_side_by_side,
        "models": settings["models"], "train_ms_per_structure": train, "esen_l2_xs_over_egnn_s": ratio,
        "md_aspirin_ms": md, "md_ratio": md_ratio, "batched_atoms_per_s": batched, "batched_ratio": batched_ratio,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    rows = [summarize(p) for p in args.files]
    for row in rows:
        print(f"{row['file']} ({'side by side' if row['side_by_side'] else 'one model after another'}, {row['created']})")
        for model, by_batch in sorted(row["train_ms_per_structure"].items()):
            print(f"  train {model:12s} " + "  ".join(f"b{b} {v:6.2f}" for b, v in by_batch.items()))
        if row["esen_l2_xs_over_egnn_s"]:
            print("  esen-l2-xs / egnn-s: " + "  ".join(f"b{b} {v:.2f}" for b, v in row["esen_l2_xs_over_egnn_s"].items()))
        for pair, v in row["md_ratio"].items():
            print(f"  MD step {pair}: {v:.2f} (peers {'in turns' if row['peers_side_by_side'] else 'after ours'})")
        for pair, v in row["batched_ratio"].items():
            print(f"  best batched atoms/s {pair}: {v:.2f}")
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
