"""``forcefields bench report``: markdown tables and plots from the stored results.

Writes ``<results>/REPORT.md`` and, per device folder, ``throughput.png``,
``memory.png`` and ``pareto.png`` (when accuracy results exist). With
``update_readme`` it also rewrites the section of a README between
``<!-- bench:start -->`` and ``<!-- bench:end -->``.
"""

from __future__ import annotations

import os
from pathlib import Path

from .accuracy import PUBLISHED
from .collect import DeviceResults, collect, ok, peer_ratio
from .plots import md_latency_by_model, plot_memory, plot_pareto, plot_survival, plot_throughput, plot_training

__all__ = ["build_report", "update_readme", "START", "END"]

START = "<!-- bench:start -->"
END = "<!-- bench:end -->"


def _fmt(x: float | None, digits: int = 3) -> str:
    if x is None:
        return "–"
    if x == 0:
        return "0"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.{digits}g}"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _peer_models(records: list[dict]) -> list[str]:
    return sorted({r["model"] for r in records if r["source"] == "peer"})


def _ratio_cells(r: dict, records: list[dict], peers: list[str]) -> list[str]:
    cells = []
    for p in peers:
        x = peer_ratio(r, records, p)
        cells.append("–" if x is None else f"{x:.2f}×")
    return cells


def _order(records: list[dict]) -> list[dict]:
    return sorted(records, key=lambda r: (r["source"] == "peer", r["family"], r["model"], r["dtype"], r["compile"],
                                          r["system"], r["n_atoms"]))


def _machine_lines(dev: DeviceResults) -> list[str]:
    lines = []
    used = {r["run_id"] for r in dev.speed + dev.accuracy + dev.stability}
    for run_id in sorted(used):
        run = dev.runs[run_id]
        m = run["machine"]
        v = m["versions"]
        gpu = f", GPU {m['gpu_name']}" if m.get("gpu_name") else ""
        peers = "; ".join(
            f"peer {p.get('name')} {p.get('package_version') or ''} (torch {p.get('versions', {}).get('torch')}, e3nn {p.get('versions', {}).get('e3nn')})"
            for p in run.get("peers") or []
        )
        lines.append(
            f"- run `{run_id}` ({run['created']}): {m['cpu_model']}, {m['cpu_count']} cores, "
            f"{m['torch_num_threads']} torch threads{gpu}; python {v.get('python')}, torch {v.get('torch')}, "
            f"e3nn {v.get('e3nn')}, forcefields {v.get('forcefields')}" + (f"; {peers}" if peers else "")
        )
    return lines


def _speed_sections(dev: DeviceResults) -> list[str]:
    recs = dev.speed
    peers = _peer_models(recs)
    vs = [f"vs {p}" for p in peers]
    out = []
    md = _order([r for r in recs if r["regime"] == "md"])
    if md:
        rows = []
        for r in md:
            if r["status"] != "ok":
                continue
            rows.append([r["model"], r["family"], f"{r['params']:,}", r["dtype"], "on" if r["compile"] else "off",
                         f"{r['system']} ({r['n_atoms']})", _fmt(1e3 * r["median_s"]),
                         f"{_fmt(1e3 * r['p10_s'])}–{_fmt(1e3 * r['p90_s'])}", str(r["repeats"])] + _ratio_cells(r, recs, peers))
        out += ["### MD step latency (one molecule, energy + forces, neighbour list included)", "",
                _table(["model", "family", "params", "dtype", "compile", "molecule (atoms)", "median ms", "p10–p90 ms",
                        "calls"] + vs, rows), ""]
    batch = _order([r for r in recs if r["regime"] == "batch" and r["status"] == "ok"])
    if batch:
        rows = [[r["model"], r["dtype"], "on" if r["compile"] else "off", str(r["n_molecules"]), _fmt(r["molecules_per_s"]),
                 _fmt(r["atoms_per_s"]), _fmt(1e3 * r["median_s"])] + _ratio_cells(r, recs, peers) for r in batch]
        out += ["### Batched throughput (aspirin copies in one call)", "",
                _table(["model", "dtype", "compile", "molecules", "molecules/s", "atoms/s", "ms/call"] + vs, rows), ""]
    train = _order([r for r in recs if r["regime"] == "train" and r["status"] == "ok"])
    if train:
        rows = [[r["model"], r["family"], f"{r['params']:,}", r["dtype"], str(r["n_molecules"]), _fmt(1e3 * r["median_s"]),
                 _fmt(1e3 * r["median_s"] / r["n_molecules"]), _fmt(r["peak_mem_mb"])] for r in train]
        out += ["### Training step (aspirin copies: forces, loss, backward to the parameters, AdamW; eager)", "",
                _table(["model", "family", "params", "dtype", "molecules", "ms/step", "ms/structure", "peak MiB"], rows), ""]
    large = _order([r for r in recs if r["regime"] == "large" and r["status"] == "ok"])
    if large:
        rows = [[r["model"], r["dtype"], "on" if r["compile"] else "off", f"{r['n_atoms']:,}",
                 _fmt(1e3 * r["median_s"]), _fmt(r["us_per_atom"]), _fmt(r["peak_mem_mb"]),
                 str(r.get("n_edges") or "–")] + _ratio_cells(r, recs, peers) for r in large]
        out += ["### Large systems (water droplet, one call)", "",
                _table(["model", "dtype", "compile", "atoms", "ms/call", "µs/atom", "peak MiB", "edges"] + vs, rows), ""]
    bad = [r for r in recs if r["status"] != "ok"]
    if bad:
        seen = set()
        rows = []
        for r in _order(bad):
            key = (r["model"], r["compile"], r["regime"], r["status"], r["reason"])
            if key in seen:
                continue
            seen.add(key)
            rows.append([r["model"], "on" if r["compile"] else "off", r["regime"], r["status"], (r["reason"] or "")[:160]])
        out += ["### Points not measured", "", _table(["model", "compile", "regime", "status", "reason"], rows), ""]
    if peers:
        out += ["Ratios are the peer's median time over ours for the same structures in the same run "
                "(> 1: ours is faster); they are never taken across runs. Peer models are untrained, "
                "built to the width and angular order in their names (`mace-32x2`: 32 channels, max_L 2). "
                "Every call includes its own graph construction, as each package's ASE calculator does it "
                "(ours: torch-cluster radius graph; MACE: matscipy neighbour list and one AtomicData per "
                "molecule in Python; NequIP: its neighbour-list transform per structure).", ""]
    return out


def _accuracy_section(dev: DeviceResults) -> list[str]:
    if not dev.accuracy:
        return []
    latency = md_latency_by_model(dev)
    rows = []
    for a in sorted(dev.accuracy, key=lambda r: (r["dataset"], r["force_mae_mev_a"] if r["force_mae_mev_a"] is not None else 1e9)):
        if a["status"] != "ok":
            rows.append([a["model"], a["family"], f"{a['params']:,}", a["dataset"], a["split"], "–", "–", "–", "–", "–",
                         f"{a['status']}: {a['reason']}"[:120]])
            continue
        t = latency.get(a["model"]) or latency.get(a["arch"])
        rows.append([a["model"], a["family"], f"{a['params']:,}", a["dataset"], a["split"], str(a["n_frames"]),
                     _fmt(a["energy_mae_mev"]), _fmt(a["force_mae_mev_a"]), _fmt(a["force_rmse_mev_a"]),
                     _fmt(1e3 * t[0]) if t else "–", ""])
    datasets = {a["dataset"] for a in dev.accuracy}
    for p in PUBLISHED:
        if p["dataset"] in datasets or not datasets:
            rows.append([f"{p['model']} (published)", "–", "–", p["dataset"], p["split"], "–", "–",
                         _fmt(p["force_mae_mev_a"]), "–", "–", p["note"]])
    return ["### Accuracy on the test split", "",
            _table(["model", "family", "params", "dataset", "split", "frames", "energy MAE meV", "force MAE meV/Å",
                    "force RMSE meV/Å", "MD latency ms", "note"], rows), ""]


def _speed_note(compiled: bool, records: list[dict], speed: list[float]) -> str:
    """" (compiled, batched ×R)" after a stability row's ms/step, where it applies."""
    notes = ["compiled"] if compiled else []
    replicas = {r.get("replicas") for r in records if r.get("integrator") == "baoab-batched"}
    if replicas:
        notes.append(f"batched ×{'/'.join(str(k) for k in sorted(replicas))}")
    return f" ({', '.join(notes)})" if notes and speed else ""


def _stability_section(dev: DeviceResults) -> list[str]:
    """One row per model, structure set and temperature: runs surviving, mean survival, drift, speed."""
    if not dev.stability:
        return []
    groups: dict[tuple, list[dict]] = {}
    for r in dev.stability:
        key = (r["model"], r["structure"].split("#")[0], r["temperature_k"], r["target_ps"], bool(r.get("compiled")),
               r.get("integrator", "ase-langevin"))
        groups.setdefault(key, []).append(r)
    rows = []
    for (model, structure, temp, target, compiled, integrator), rs in sorted(groups.items()):
        ran = [r for r in rs if r["status"] != "error"]
        drift = [r["nve_drift_mev_atom_ps"] for r in ran if r.get("nve_drift_mev_atom_ps") is not None]
        speed = [r["ms_per_step"] for r in ran if r["ms_per_step"]]
        rows.append([model, structure, f"{temp:g}", f"{sum(r['status'] == 'survived' for r in ran)}/{len(rs)}",
                     _fmt(sum(r["survived_ps"] for r in ran) / len(ran) if ran else None), f"{target:g}",
                     _fmt(sum(abs(d) for d in drift) / len(drift) if drift else None),
                     _fmt(sum(speed) / len(speed) if speed else None) + _speed_note(compiled, rs, speed)])
    criteria = sorted({r["criterion"] for r in dev.stability})
    return ["### MD stability", "",
            f"Langevin MD from the start frames; a run fails at {'; '.join(criteria)}. "
            "NVE drift: |slope| of the total energy in a separate NVE run. Batched rows ran all of a model's "
            "trajectories as one batch (BAOAB Langevin); their ms/step is per trajectory.", "",
            _table(["model", "structures", "T (K)", "survived", "mean survival (ps)", "target (ps)",
                    "NVE drift (meV/atom/ps)", "ms/step"], rows), ""]


def _device_section(dev: DeviceResults, plots: dict[str, Path], base: Path) -> list[str]:
    out = [f"## {dev.label}", ""] + _machine_lines(dev) + [""]
    out += _speed_sections(dev) + _accuracy_section(dev) + _stability_section(dev)
    for title, p in plots.items():
        out += [f"![{title}]({os.path.relpath(p, base).replace(os.sep, '/')})", ""]
    return out


def build_report(results: str | Path = "benchmarks/results", readme: str | Path | None = None) -> dict:
    """Write REPORT.md and the plots; optionally update a README section.

    Returns
    -------
    dict with ``report`` (path), ``plots`` (list of paths) and ``readme`` (path or None)
    """
    results = Path(results)
    if readme is not None:
        _check_markers(Path(readme))  # fail before any plotting
    devices = collect(results)
    sections = ["# Benchmark report", "",
                "Generated by `forcefields bench report` from the result files next to it. "
                "Timings: median of repeated calls after untimed warm-up, device synchronised around each call; "
                "see benchmarks/README.md for the protocol.", ""]
    all_plots: list[Path] = []
    per_device: dict[str, dict[str, Path]] = {}
    for dev in devices:
        plots = {}
        for title, fn, fname in (("throughput", plot_throughput, "throughput.png"),
                                 ("memory", plot_memory, "memory.png"),
                                 ("training cost per structure", plot_training, "training.png"),
                                 ("accuracy against speed", plot_pareto, "pareto.png"),
                                 ("MD survival time against temperature", plot_survival, "stability.png")):
            p = fn(dev, dev.folder / fname)
            if p is not None:
                plots[title] = p
        per_device[dev.label] = plots
        all_plots += list(plots.values())
        sections += _device_section(dev, plots, results)
    report = results / "REPORT.md"
    report.write_text("\n".join(sections).rstrip() + "\n", encoding="utf-8")
    readme_path = None
    if readme is not None:
        readme_path = update_readme(readme, devices, per_device, report)
    return {"report": report, "plots": all_plots, "readme": readme_path}


def _readme_summary(devices: list[DeviceResults], plots: dict[str, dict[str, Path]], report: Path, base: Path) -> str:
    lines = [f"Full tables: [{os.path.relpath(report, base)}]({os.path.relpath(report, base).replace(os.sep, '/')}).", ""]
    for dev in devices:
        recs = dev.speed
        peers = _peer_models(recs)
        lines += [f"**{dev.label}**", ""]
        rows = []
        compiled_any = any(r.get("median_s") is not None for r in ok([r for r in recs if r["compile"] and r["source"] != "peer"], regime="md"))
        train_any = bool(ok([r for r in recs if r["source"] != "peer"], regime="train"))
        for model in sorted({r["model"] for r in recs if r["source"] != "peer"}):
            mine = [r for r in recs if r["model"] == model and not r["compile"]]
            md = [r for r in ok(mine, regime="md")]
            md_r = next((r for r in md if r["system"] == "aspirin"), md[-1] if md else None)
            compiled = _compiled_md_cells(recs, model, md_r["system"] if md_r else "aspirin") if compiled_any else []
            batch = max(ok(mine, regime="batch"), key=lambda r: r["atoms_per_s"], default=None)
            large = max(ok(mine, regime="large"), key=lambda r: r["n_atoms"], default=None)
            ratio = "–"
            if md_r and peers:
                x = peer_ratio(md_r, recs, peers[0])
                ratio = "–" if x is None else f"{x:.2f}×"
            rows.append([model, _fmt(1e3 * md_r["median_s"]) if md_r else "–",
                         _fmt(batch["atoms_per_s"]) if batch else "–",
                         f"{_fmt(large['us_per_atom'])} @ {large['n_atoms']:,}" if large else "–"]
                        + compiled + ([_train_cell(ok(mine, regime="train"))] if train_any else [])
                        + ([ratio] if peers else []))
        for p in peers:
            md = ok([r for r in recs if r["model"] == p and not r["compile"]], regime="md")
            md_r = next((r for r in md if r["system"] == "aspirin"), md[-1] if md else None)
            batch = max(ok([r for r in recs if r["model"] == p], regime="batch"), key=lambda r: r["atoms_per_s"], default=None)
            large = max(ok([r for r in recs if r["model"] == p and not r["compile"]], regime="large"), key=lambda r: r["n_atoms"], default=None)
            x = peer_ratio(md_r, recs, peers[0], allow_peer=True) if md_r else None
            rows.append([f"{p} (peer)", _fmt(1e3 * md_r["median_s"]) if md_r else "–",
                         _fmt(batch["atoms_per_s"]) if batch else "–",
                         f"{_fmt(large['us_per_atom'])} @ {large['n_atoms']:,}" if large else "–"]
                        + (_compiled_md_cells(recs, p, "aspirin") if compiled_any else []) + (["–"] if train_any else [])
                        + ["–" if x is None else f"{x:.2f}×"])
        if rows:
            header = ["model", "aspirin MD step (ms)", "best batched atoms/s", "µs/atom (largest droplet)"]
            if compiled_any:
                header += ["compiled MD step (ms)", "compile time (s)"]
            if train_any:
                header.append(f"training ms/structure (batch {TRAIN_SUMMARY_BATCH})")
            if peers:
                header.append(f"MD speed vs {peers[0]}")
            lines += [_table(header, rows), ""]
        acc = ok(dev.accuracy)
        if acc:
            arows = [[a["model"], a["dataset"], _fmt(a["energy_mae_mev"]), _fmt(a["force_mae_mev_a"])] for a in acc]
            datasets = {a["dataset"] for a in acc}
            arows += [[f"{p['model']} (published)", p["dataset"], "–", _fmt(p["force_mae_mev_a"])]
                      for p in PUBLISHED if p["dataset"] in datasets]
            lines += [_table(["model", "dataset", "energy MAE (meV)", "force MAE (meV/Å)"], arows), ""]
        lines += _stability_summary(dev)
        for title, p in plots.get(dev.label, {}).items():
            lines += [f"![{title}]({os.path.relpath(p, base).replace(os.sep, '/')})", ""]
    return "\n".join(lines).rstrip()


TRAIN_SUMMARY_BATCH = 16


def _train_cell(train: list[dict]) -> str:
    """Training cost per structure at the README's batch size, or "–" when that batch was not timed."""
    r = next((r for r in train if r["n_molecules"] == TRAIN_SUMMARY_BATCH), None)
    return _fmt(1e3 * r["median_s"] / r["n_molecules"]) if r else "–"


def _stability_summary(dev: DeviceResults) -> list[str]:
    """README table: per model and (temperature, target time), runs surviving over all its start frames.

    A cell reads ``survived/runs``, with the earliest failure time when a run failed.
    """
    runs = [r for r in dev.stability if r["status"] != "error"]
    if not runs:
        return []
    columns = sorted({(r["target_ps"], r["temperature_k"]) for r in runs})
    rows = []
    for model in sorted({r["model"] for r in runs}):
        row = [model]
        for target, temp in columns:
            cell = [r for r in runs if r["model"] == model and r["target_ps"] == target and r["temperature_k"] == temp]
            if not cell:
                row.append("–")
                continue
            failed = [r["survived_ps"] for r in cell if r["status"] == "failed"]
            text = f"{len(cell) - len(failed)}/{len(cell)}"
            row.append(text + (f" (fails at {_fmt(min(failed))} ps)" if failed else ""))
        rows.append(row)
    header = ["MD stability: runs surviving"] + [f"{temp:g} K, {target:g} ps" for target, temp in columns]
    return [_table(header, rows), ""]


def _compiled_md_cells(recs: list[dict], model: str, system: str) -> list[str]:
    """[steady ms on ``system``, compile s] of the model's compiled MD step, or dashes.

    The compile time is the longest first call over the model's compiled MD
    records: the first molecule pays the compilation, and later molecules of
    other sizes reuse it (dynamic shapes), so their own first calls are short.
    """
    compiled = [r for r in ok([r for r in recs if r["model"] == model and r["compile"]], regime="md")
                if r.get("median_s") is not None]
    on_system = [r for r in compiled if r["system"] == system]
    if not on_system:
        return ["–", "–"]
    first = [r["first_call_s"] for r in compiled if r.get("first_call_s") is not None]
    return [_fmt(1e3 * on_system[-1]["median_s"]), _fmt(max(first)) if first else "–"]


def _check_markers(readme: Path) -> str:
    if not readme.is_file():
        raise FileNotFoundError(f"{readme} does not exist; pass the README to update with --update-readme.")
    text = readme.read_text(encoding="utf-8")
    i, j = text.find(START), text.find(END)
    if i < 0 or j < 0 or j < i:
        raise ValueError(f"{readme} has no '{START}' ... '{END}' pair; add both markers where the benchmark section should go.")
    return text


def update_readme(readme: str | Path, devices: list[DeviceResults], plots: dict[str, dict[str, Path]], report: Path) -> Path:
    """Replace the text between the bench markers of ``readme`` with a summary.

    Raises
    ------
    FileNotFoundError : no such README
    ValueError : the markers are missing or out of order
    """
    readme = Path(readme)
    text = _check_markers(readme)
    i, j = text.find(START), text.find(END)
    summary = _readme_summary(devices, plots, report, readme.resolve().parent)
    new = text[: i + len(START)] + "\n" + summary + "\n" + text[j:]
    readme.write_text(new, encoding="utf-8")
    return readme
