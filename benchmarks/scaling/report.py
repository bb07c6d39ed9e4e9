"""The scaling study's README section, built from the committed grid output.

    python benchmarks/scaling/report.py benchmarks/scaling/runs --update-readme README.md

Reads ``<grid>/fit.json`` (``forcefields scaling fit``) and the run folders
(``forcefields scaling status``), prints a Markdown section (our exponents
with their intervals next to the paper's, κ, the grid's compute and wall
time, the plots) and, with ``--update-readme``, writes it between
``<!-- scaling:start -->`` and ``<!-- scaling:end -->``.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from forcefields.scaling.paper import paper_row
from forcefields.scaling.status import grid_status

START, END = "<!-- scaling:start -->", "<!-- scaling:end -->"


def _ci(entry: dict | None, key: str | None = None, undetermined: bool = False) -> str:
    if entry is None:
        return "–"
    value, (low, high) = (entry["params"][key], entry["intervals"][key]) if key else (entry["value"], entry["interval"])
    return f"{value:.2f} [{low:.2f}, {high:.2f}]" + (" †" if undetermined else "")


def _paper(family: str, key: str) -> str:
    row = paper_row(family)
    return "–" if row is None or row.get(key) is None else f"{row[key]:g}"


def section(grid: Path, image_prefix: str) -> str:
    """The Markdown section for the grid folder ``grid``; images linked under ``image_prefix``."""
    fit = json.loads((grid / "fit.json").read_text())
    rows, totals = grid_status(grid)
    pct = int(round(100 * fit["level"]))
    s = fit["settings"]
    lines = [
        f"Grid: {len(rows)} runs ({', '.join(fit['families'])} × widths), one pass over up to "
        f"{s['max_structures']:,} training structures of `{' '.join(s['data'])}`, batch {s['batch_size']}, "
        f"{s['optimizer']} AdamW at the registry's transferred rates × {s['lr_scale']:g} "
        f"(warm-up {s['warmup_steps']} steps), {s['force_mode']} forces, {s['loss']} loss, {s['dtype']}. "
        f"Fitted on `{fit['metric']}` at D ≥ {fit['min_structures']:,} structures; {pct}% bootstrap intervals "
        f"({fit['bootstrap']} resamples of the evaluation points).",
        "",
        "| family | runs | N | D | α (ours) | α (paper) | β (ours) | β (paper) | γ (ours) | γ (paper) "
        "| a = β/(α+β) | κ (ours, C≈3κND) | κ (paper) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for family, f in fit["families"].items():
        nd, c = f["L(N,D)"], f["L(C)"]
        n, d = f["ranges"]["N"], f["ranges"]["D"]
        u = set(f.get("undetermined", []))
        lines.append(
            f"| {family} | {len(f['runs'])} | {n[0]:.3g}–{n[1]:.3g} | {d[0]:.3g}–{d[1]:.3g} "
            f"| {_ci(nd, 'alpha', 'alpha' in u)} | {_paper(family, 'alpha')} | {_ci(nd, 'beta', 'beta' in u)} "
            f"| {_paper(family, 'beta')} | {_ci(c, 'gamma', 'gamma' in u)} | {_paper(family, 'gamma')} "
            f"| {_ci(f['a'], undetermined=bool(u & {'alpha', 'beta'}))} "
            f"| {f['kappa_paper_convention']:.3g} | {_paper(family, 'kappa')} |"
        )
    notes = [f"- {fam}: {f['L(C)_error']}" for fam, f in fit["families"].items() if f.get("L(C)_error")]
    if any(f.get("undetermined") for f in fit["families"].values()):
        notes.append("- †: not determined by these points (on a bound of the fit, or its term is below 5% of the "
                     "loss over the whole measured range); a inherits it.")
    notes += [f"- excluded {e['run']}: {e['reason']}" for e in fit["excluded"]]
    unfinished = [r for r in rows if r["state"] != "complete"]
    notes += [f"- {r['run']} stopped at {r['structures']:,} of {s['max_structures']:,} structures (state {r['state']}; "
              "rerunning `forcefields scaling run` resumes it); its evaluations up to there are in the fit" for r in unfinished if r.get("structures")]
    if notes:
        lines += [""] + notes
    lines += ["", "Each run at its last evaluation (validation force MAE on held-out molecules):", "",
              "| run | parameters | structures seen | force MAE (meV/Å) | training FLOPs | wall-clock (s) |",
              "|---|---|---|---|---|---|"]
    for r in rows:
        if r.get("structures"):
            mae = f"{r['last_metric']:.1f}" if r["last_metric"] is not None else "–"
            lines.append(f"| {r['run']} | {r['parameters']:,} | {r['structures']:,} | {mae} | {r['flops']:.3g} "
                         f"| {r['seconds']:.0f} |")
    lines += [
        "",
        f"Compute of the whole grid: {totals['flops']:.3g} FLOPs of training (counted by "
        f"`torch.utils.flop_counter`), {totals['seconds'] / 3600:.2f} h of wall-clock summed over the runs "
        f"({totals['device_hours']:.2f} device-hours), on a 2-core CPU, one thread per run, two runs side by side.",
        "",
        f"![compute frontier]({image_prefix}/compute_frontier.png)",
        "",
        f"![loss against structures seen]({image_prefix}/loss_vs_D.png)",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("grid", type=Path)
    parser.add_argument("--update-readme", type=Path, help="README to rewrite between the scaling markers")
    args = parser.parse_args()
    prefix = (args.grid / "plots").as_posix()
    text = section(args.grid, prefix)
    print(text)
    if args.update_readme:
        readme = args.update_readme.read_text()
        if START not in readme or END not in readme:
            raise SystemExit(f"{args.update_readme} has no {START} ... {END} markers; add them where the section goes.")
        new = re.sub(re.escape(START) + r".*?" + re.escape(END), lambda _: f"{START}\n{text}{END}", readme, flags=re.S)
        args.update_readme.write_text(new)
        print(f"updated: {args.update_readme}")


if __name__ == "__main__":
    main()
