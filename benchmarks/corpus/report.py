"""The README's corpus section, built from the committed results in benchmarks/corpus/.

    python benchmarks/corpus/report.py --corpus corpus/qm9-xtb --update-readme README.md

Reads ``corpus_summary.json`` (written here from the corpus's manifest when
``--corpus`` is given), ``accuracy.json``, ``speed_vs_xtb.json`` and
``finetune_to_dft.json``; writes the tables between ``<!-- corpus:start -->``
and ``<!-- corpus:end -->``.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _load(name: str):
    path = HERE / name
    return json.loads(path.read_text()) if path.is_file() else None


def summary_from_manifest(corpus: Path) -> dict:
    m = json.loads((corpus / "manifest.json").read_text())
    keep = {k: m[k] for k in ("generator_version", "source", "method", "settings", "plan", "counts", "failures", "time")
            if k in m}
    keep["source"] = {k: v for k, v in keep["source"].items() if k != "lines_without_smiles"}
    keep["shards"] = len(m["units"]["files"])
    return keep


def corpus_table(s: dict) -> str:
    c, t = s["counts"], s["time"]
    cpu = sum(t["cpu_seconds"].values())
    fails = ", ".join(f"{k} {v:,}" for k, v in s["failures"].items())
    return "\n".join([
        "| corpus | value |", "|---|---|",
        f"| molecules labelled | {c['molecules_labelled']:,} (of {s['plan']['molecules']:,} drawn from {s['plan']['eligible']:,} usable QM9 SMILES) |",
        f"| geometries | {c['geometries']:,}: " + ", ".join(f"{k} {v:,}" for k, v in c["geometries_by_split"].items()) + " |",
        "| sampling | " + ", ".join(f"{k} {v:,}" for k, v in c["geometries_by_kind"].items()) + " |",
        f"| failures | {fails} |",
        f"| labels | {s['method']['method']} (tblite {s['method']['versions'].get('tblite')}): {t['ms_per_label']:.1f} ms per single-point label |",
        f"| cost | {cpu / 3600:.2f} CPU-hours ({', '.join(f'{k} {v / 60:.0f} min' for k, v in t['cpu_seconds'].items())}); "
        f"{t['wall_seconds_of_runs'] / 60:.0f} min wall on 2 workers |",
    ])


def accuracy_table(acc: dict) -> str:
    rows = ["| model | params | held-out force MAE (meV/Å) | same, frames ≤ 10 eV/Å | held-out energy MAE (meV/atom) | "
            "500 K MD force MAE | 500 K MD energy (meV/atom) | aspirin xTB zero-shot forces | ethanol xTB zero-shot forces |",
            "|---|---|---|---|---|---|---|---|---|"]
    def main_test(r):
        return r.get("test") or r["test_below_10ev"]

    for name, r in sorted(acc.items(), key=lambda kv: main_test(kv[1])["force_mae_mev_a"]):
        full = f"{r['test']['force_mae_mev_a']:.1f}" if "test" in r else "-"
        z = lambda k: f"{r[k]['force_mae_mev_a']:.1f}" if k in r else "-"  # noqa: E731
        clean = f"{r['test_below_10ev']['force_mae_mev_a']:.1f}" if "test_below_10ev" in r else "-"
        rows.append(f"| {name} | {r['parameters']:,} | {full} | {clean} | "
                    f"{main_test(r)['energy_per_atom_mae_mev']:.2f} | {r['test_md500']['force_mae_mev_a']:.1f} | "
                    f"{r['test_md500']['energy_per_atom_mae_mev']:.2f} | {z('zero_shot:aspirin')} | {z('zero_shot:ethanol')} |")
    return "\n".join(rows)


def speed_table(speed: dict) -> str:
    systems = speed["systems"]
    methods = [k for k in next(iter(systems.values())) if k != "atoms"]
    rows = ["| system | " + " | ".join(methods) + " |", "|---|" + "---|" * len(methods)]
    for label, row in systems.items():
        x = row["GFN2-xTB"]
        def ratio(r: float) -> str:
            return f"{r:.1f}" if r < 10 else f"{r:.0f}"

        cells = [f"{row[m]:,.1f}" + ("" if m == "GFN2-xTB" else f" ({ratio(x / row[m])}× faster)" if row[m] < x
                                     else f" ({ratio(row[m] / x)}× slower)") for m in methods]
        rows.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def finetune_table(ft: dict) -> str:
    arms = ft["arms"]
    sizes = [r["N"] for r in arms["qm9-xtb"]]
    rows = ["| start | " + " | ".join(f"N = {n}" for n in sizes) + " |", "|---|" + "---|" * len(sizes)]
    for key in ("qm9-xtb", "rmd17-no-aspirin", "scratch"):
        rows.append(f"| {key} | " + " | ".join(f"{r['forces_mae']:.1f}" for r in arms[key]) + " |")
    ref = arms["scratch-950"][0]
    rows.append(f"| scratch, all 950 frames | {ref['forces_mae']:.1f} | |")
    return "\n".join(rows)


def build() -> str:
    parts = []
    s = _load("corpus_summary.json")
    if s:
        parts += ["**The corpus** (`benchmarks/corpus/corpus_summary.json`, from its manifest):", "", corpus_table(s), ""]
    acc = _load("accuracy.json")
    if acc:
        first = next(r for r in acc.values() if "test" in r)
        parts += ["**General potentials** (`benchmarks/corpus/accuracy.json`; `python benchmarks/corpus/evaluate.py "
                  "NAME --corpus corpus/qm9-xtb --zero-shot corpus/rmd17-xtb/aspirin corpus/rmd17-xtb/ethanol`). "
                  f"Held out: every geometry of the {first['test']['molecules']:,} test molecules, never seen in training "
                  f"({first['test']['n_frames']:,} geometries); 500 K MD: {first['test_md500']['n_frames']} frames of "
                  f"GFN2-xTB MD of {first['test_md500']['molecules']} of them; zero-shot: 300 rMD17 test_01 frames relabelled with GFN2-xTB "
                  "(`benchmarks/corpus/relabel_rmd17.py`).", "", accuracy_table(acc), ""]
    speed = _load("speed_vs_xtb.json")
    if speed:
        parts += ["**Speed against the teacher**, ms per structure (energy and forces through the ASE calculator, "
                  "one thread; `benchmarks/corpus/speed_vs_xtb.py`). Plainly: on QM9-sized molecules the "
                  "potentials are no faster than GFN2-xTB itself (a few ms either way; esen-l2-xs is slower); they "
                  "pay from about a hundred atoms on, where xTB's cubic cost takes over.", "", speed_table(speed), ""]
    ft = _load("finetune_to_dft.json")
    if ft:
        g = ft["goal"]
        parts += [f"**Fine-tuning to DFT**: rMD17 aspirin (PBE), test_01 force MAE (meV/Å) after {ft['budget']} "
                  f"of training per arm ({ft['variant']}; `benchmarks/corpus/finetune_to_dft.py`). Goal, corpus "
                  f"parent on 50 frames within 2× of scratch on 950: {g['qm9-xtb_at_50']:.1f} vs {g['scratch_950']:.1f} "
                  f"({g['ratio']}×, {'met' if g['met'] else 'missed'}).", "", finetune_table(ft), "",
                  "![fine-tuning to DFT](benchmarks/corpus/finetune_to_dft.png)", ""]
    return "\n".join(parts).rstrip() + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--corpus", type=Path, default=None, help="refresh corpus_summary.json from this corpus")
    p.add_argument("--update-readme", type=Path, default=None)
    args = p.parse_args(argv)
    if args.corpus is not None:
        (HERE / "corpus_summary.json").write_text(json.dumps(summary_from_manifest(args.corpus), indent=1) + "\n")
    text = build()
    if args.update_readme:
        readme = args.update_readme.read_text()
        new = re.sub(r"<!-- corpus:start -->.*?<!-- corpus:end -->",
                     lambda _: f"<!-- corpus:start -->\n{text}<!-- corpus:end -->", readme, flags=re.S)
        args.update_readme.write_text(new)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
