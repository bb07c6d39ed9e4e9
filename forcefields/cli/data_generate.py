"""`forcefields data generate` and the corpus view of `forcefields data info`.

    forcefields data generate --smiles ../shared/data/qm9_smiles.csv --method GFN2-xTB \\
        --molecules 50000 --geometries-per-molecule 6 --workers 2 --out corpus/qm9-xtb
    forcefields data generate ... --shard $SLURM_ARRAY_TASK_ID/16     # one shard of a cluster job array
    forcefields data generate --from-file my_structures.extxyz --method GFN2-xTB --out mine/
    forcefields data generate --from-file frames.xyz --method ase.calculators.emt.EMT --out emt/
    forcefields data info corpus/qm9-xtb

Rerunning the same command resumes an interrupted corpus: finished shards are
kept, nothing is labelled twice.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

__all__ = ["register_generate", "print_corpus_info", "corpus_summary"]


def _option(text: str) -> tuple[str, Any]:
    import yaml

    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"--method-option takes KEY=VALUE (e.g. accuracy=0.1); got {text!r}.")
    return key.strip(), yaml.safe_load(value)


def _range(text: str) -> tuple[float, float]:
    lo, sep, hi = text.partition(",")
    try:
        return (float(lo), float(hi if sep else lo))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--temperatures takes MIN,MAX in K (e.g. 300,600); got {text!r}.") from None


def register_generate(sub) -> None:
    p = sub.add_parser("generate", help="make a labelled corpus from SMILES (or label your own structures)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--smiles", metavar="FILE", help="one SMILES a line (.csv with a 'smiles' header, or .smi)")
    src.add_argument("--from-file", metavar="FILE", help="label every structure of a file ASE reads (extxyz, xyz, db)")
    p.add_argument("--out", required=True, help="corpus folder (an existing one with the same settings is resumed)")
    p.add_argument("--method", default="GFN2-xTB",
                   help="GFN2-xTB (default), GFN1-xTB, or an ASE calculator's import path (pkg.module.Class)")
    p.add_argument("--method-option", dest="method_options", type=_option, action="append", default=[],
                   metavar="KEY=VALUE", help="keyword argument of the method (repeatable), e.g. accuracy=0.1")
    p.add_argument("--molecules", type=int, default=None, help="molecules drawn from the SMILES file (default: all)")
    p.add_argument("--geometries-per-molecule", type=int, default=6)
    p.add_argument("--conformers", type=int, default=3, help="RDKit conformers per molecule at most (default 3)")
    p.add_argument("--temperatures", type=_range, default=(300.0, 600.0), metavar="MIN,MAX",
                   help="K, range of the normal-mode sampling temperature (default 300,600)")
    p.add_argument("--md-fraction", type=float, default=0.02,
                   help="fraction of training molecules with GFN-xTB MD snapshots (default 0.02)")
    p.add_argument("--md-frames", type=int, default=2, help="MD snapshots for those molecules (default 2)")
    p.add_argument("--val-molecules", type=int, default=500)
    p.add_argument("--test-molecules", type=int, default=1500)
    p.add_argument("--md-test-molecules", type=int, default=100,
                   help="test molecules that also get 500 K MD frames (default 100)")
    p.add_argument("--md-test-frames", type=int, default=10, help="500 K MD frames per such molecule (default 10)")
    p.add_argument("--val-fraction", type=float, default=0.1, help="--from-file: held-out validation molecules")
    p.add_argument("--test-fraction", type=float, default=0.1, help="--from-file: held-out test molecules")
    p.add_argument("--allow-charged", action="store_true", help="keep charged molecules (labelled with their charge)")
    p.add_argument("--unit-size", type=int, default=200, help="molecules (or frames) per shard file (default 200)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=1, help="worker processes, one thread each (default 1)")
    p.add_argument("--shard", default=None, metavar="K/N", help="make the K-th of N shares (cluster job arrays)")
    p.add_argument("--no-progress", dest="progress", action="store_false")
    p.set_defaults(func=_generate)


def _settings(args):
    from ..data.generate.plan import GenerationSettings

    return GenerationSettings(
        method=args.method,
        method_options=dict(args.method_options),
        molecules=args.molecules,
        geometries_per_molecule=args.geometries_per_molecule,
        max_conformers=args.conformers,
        temperature_min=args.temperatures[0],
        temperature_max=args.temperatures[1],
        md_fraction=args.md_fraction,
        md_frames=args.md_frames,
        val_molecules=args.val_molecules,
        test_molecules=args.test_molecules,
        md_test_molecules=args.md_test_molecules,
        md_test_frames=args.md_test_frames,
        allow_charged=args.allow_charged,
        val_fraction=args.val_fraction,
        test_fraction=args.test_fraction,
        unit_size=args.unit_size,
        seed=args.seed,
    )


def _generate(args) -> int:
    from ..console import make_console
    from ..data.generate.pipeline import generate_corpus, label_structures, parse_shard

    settings = _settings(args)
    shard = parse_shard(args.shard)
    if args.workers < 1:
        raise ValueError("--workers must be at least 1.")
    if args.smiles:
        manifest = generate_corpus(args.out, args.smiles, settings, workers=args.workers, shard=shard,
                                   progress=args.progress)
    else:
        manifest = label_structures(args.out, args.from_file, settings, workers=args.workers, shard=shard,
                                    progress=args.progress)
    console = make_console()
    print_corpus_info(args.out, None, console)
    if not manifest.get("complete"):
        console.print("[yellow]shards of other --shard jobs are still missing; the manifest is completed by the last "
                      "job to finish (or by rerunning without --shard).[/yellow]")
    return 0


def corpus_summary(folder: str | Path) -> dict[str, Any]:
    """What ``data info`` shows about a corpus, from its manifest and shard records (no labels loaded)."""
    from collections import Counter

    from ..data.generate.pipeline import finalize_manifest
    from ..data.generate.store import read_manifest, read_unit_record

    folder = Path(folder)
    manifest = finalize_manifest(folder) if not read_manifest(folder).get("complete") else None
    manifest = manifest or read_manifest(folder)
    total = int(manifest["units"]["total"])
    summary = {"manifest": manifest, "units_total": total}
    if manifest.get("complete"):
        summary["units_done"] = total
        return summary
    records = [r for r in (read_unit_record(folder, u) for u in range(total)) if r is not None]
    failures: Counter = Counter(manifest.get("plan_failure_counts", {}))
    seconds: Counter = Counter()
    for r in records:
        failures.update(r["failure_counts"])
        seconds.update(r["seconds"])
    summary.update(units_done=len(records), geometries=sum(r["geometries"] for r in records),
                   molecules=sum(r["molecules_labelled"] for r in records), failures=dict(failures),
                   cpu_seconds=dict(seconds), labels=sum(r["labels"] for r in records))
    return summary


def _resolve(text: str, root) -> Path:
    path = Path(text.split(":", 1)[1] if text.lower().startswith(("xtb:", "corpus:")) else text)
    if not (path / "manifest.json").is_file() and root is not None:
        path = Path(root) / path
    return path


def print_corpus_info(text: str | Path, root, console) -> None:
    from ase.data import chemical_symbols
    from rich.table import Table

    from ..data.generate.failures import CAUSES

    folder = _resolve(str(text), root)
    s = corpus_summary(folder)
    m = s["manifest"]
    settings = m["settings"]
    table = Table(title=f"[bold]xtb:{text}[/bold]", show_header=False, title_justify="left")
    table.add_column("what", style="bold cyan", no_wrap=True)
    table.add_column("value", overflow="fold")
    state = "complete" if m.get("complete") else f"[yellow]incomplete: {s['units_done']} of {s['units_total']} shards[/yellow]"
    table.add_row("state", state)
    method = m["method"]
    versions = ", ".join(f"{k} {v}" for k, v in method["versions"].items() if v)
    table.add_row("labels", f"{method['method']} ({versions or method['backend']}); "
                  f"{', '.join(f'{k}={v}' for k, v in method['settings'].items())}  [dim]semi-empirical, not DFT[/dim]")
    src = m["source"]
    table.add_row("source", f"{src['file']} ({src['entries']:,} entries, sha256 {src['sha256'][:12]}…)")
    plan = m["plan"]
    by_split = dict(plan["molecules_by_split"])
    with_md = by_split.pop("test_md500", 0)
    by_split["test"] = by_split.get("test", 0) + with_md
    parts = [f"{k} {v:,}" + (f" ({with_md} of them also with 500 K MD frames)" if k == "test" and with_md else "")
             for k, v in by_split.items()]
    table.add_row("molecules", f"{plan['molecules']:,} drawn of {plan['eligible']:,} usable (seed {settings['seed']}): "
                  + ", ".join(parts))
    if m.get("complete"):
        c = m["counts"]
        table.add_row("molecules labelled", f"{c['molecules_labelled']:,}")
        table.add_row("geometries", f"{c['geometries']:,} ({c['atoms']:,} atoms): "
                      + ", ".join(f"{k} {v:,}" for k, v in c["geometries_by_split"].items()))
        table.add_row("sampling", ", ".join(f"{k} {v:,}" for k, v in c["geometries_by_kind"].items())
                      + f"; normal modes at {settings['temperature_min']:g}–{settings['temperature_max']:g} K")
        table.add_row("elements", ", ".join(f"{chemical_symbols[int(z)]} {n:,}" for z, n in c["elements"].items()))
        failures = m.get("failures", {})
        t = m["time"]
        cpu = t["cpu_seconds"]
        table.add_row("time", f"{sum(cpu.values()) / 3600:.2f} CPU-hours ("
                      + ", ".join(f"{k} {v / 60:.1f} min" for k, v in cpu.items())
                      + f"); {t['ms_per_label']:.1f} ms per single-point label; wall {t['wall_seconds_of_runs'] / 60:.1f} min "
                      f"over {t['runs']} run(s)")
        table.add_row("shards", f"{len(m['units']['files'])} files, sha256 in manifest.json")
    else:
        failures = s["failures"]
        table.add_row("so far", f"{s['molecules']:,} molecules, {s['geometries']:,} geometries, "
                      f"{sum(s['cpu_seconds'].values()) / 3600:.2f} CPU-hours")
    if failures:
        table.add_row("failures", "; ".join(f"{k} {v:,} ({CAUSES.get(k, k)})" for k, v in failures.items())
                      + "  [dim](every one listed in failures.jsonl with its SMILES and line)[/dim]")
    else:
        table.add_row("failures", "none")
    console.print(table)
