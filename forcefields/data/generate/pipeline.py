"""Generate a corpus: plan, farm work units out to worker processes, resume, finish the manifest.

    generate_corpus("corpus/qm9-xtb", "qm9_smiles.csv", GenerationSettings(molecules=50000), workers=2)
    label_structures("mine/", "my_structures.extxyz", GenerationSettings(method="GFN2-xTB"))

Units whose record exists are skipped, so rerunning the same command after an
interruption finishes the corpus with no geometry labelled twice or lost.
``shard=(k, n)`` takes every n-th unit starting at k-1: n machines of a
cluster job array fill one folder (on a shared file system) together; the
manifest is completed by whichever finishes last.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import DataError
from . import store
from .failures import CAUSES
from .labelers import make_labeler
from .plan import GENERATOR_VERSION, KIND_CODES, SPLIT_CODES, GenerationSettings, plan_molecules
from .smiles import read_smiles_file

__all__ = ["generate_corpus", "label_structures", "parse_shard", "finalize_manifest"]

_LABELER = None
_SPLIT_NAMES = {v: k for k, v in SPLIT_CODES.items()}
_KIND_NAMES = {v: k for k, v in KIND_CODES.items()}


def parse_shard(text: str | None) -> tuple[int, int]:
    """``"2/4"`` -> (2, 4): this process makes the 2nd of 4 shards."""
    if not text:
        return 1, 1
    k, sep, n = str(text).partition("/")
    if not sep or not k.isdigit() or not n.isdigit() or not 1 <= int(k) <= int(n):
        raise ValueError(f"--shard {text!r} must read K/N with 1 <= K <= N (e.g. 2/4, or $SLURM_ARRAY_TASK_ID/N).")
    return int(k), int(n)


# ------------------------------------------------------------------ workers
def _init_worker(method: str, options: dict) -> None:
    global _LABELER
    _LABELER = make_labeler(method, options)


def _run_unit(task: tuple) -> dict:
    from .worker import label_frames_unit, label_smiles_unit

    kind, out, unit, items, settings_dict = task
    settings = GenerationSettings.from_dict(settings_dict)
    t0 = time.perf_counter()
    if kind == "smiles":
        result = label_smiles_unit(items, settings, _LABELER)
    else:
        result = label_frames_unit(items, _LABELER)
    arrays = store.stack_frames(result.frames)
    record = {
        "molecules": len(items) if kind == "smiles" else len({i[1] for i in items}),
        "molecules_labelled": result.molecules_labelled,
        "labels": result.labels,
        "md_steps": result.md_steps,
        "seconds": {k: round(v, 3) for k, v in result.seconds.items()},
        "wall_seconds": round(time.perf_counter() - t0, 3),
        "failure_counts": dict(Counter(f["cause"] for f in result.failures)),
        "failures": result.failures,
    }
    return store.write_unit(Path(out), unit, arrays, record)


def _pool(workers: int, method: str, options: dict):
    # One thread per worker: GFN-xTB's BLAS would otherwise fight the other workers for the cores.
    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", "1")
    ctx = multiprocessing.get_context("spawn")
    return ctx.Pool(workers, initializer=_init_worker, initargs=(method, options))


def _run_units(tasks: list[tuple], workers: int, settings: GenerationSettings, progress: bool,
               weights: list[int], description: str) -> list[dict]:
    """Run tasks in a pool (or in this process with one worker), with a progress bar over molecules."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from ...console import make_console

    records: list[dict] = []
    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
               TimeElapsedColumn(), TimeRemainingColumn()]
    with Progress(*columns, console=make_console(stderr=True), disable=not progress, transient=False) as bar:
        task_id = bar.add_task(description, total=sum(weights), info="")
        geometries = failures = 0

        def done(record: dict, weight: int) -> None:
            nonlocal geometries, failures
            records.append(record)
            geometries += record["geometries"]
            failures += sum(record["failure_counts"].values())
            bar.update(task_id, advance=weight, info=f"{geometries:,} geometries, {failures:,} failures")

        weight_of = {t[2]: w for t, w in zip(tasks, weights)}
        if workers <= 1:
            _init_worker(settings.method, settings.method_options)
            for task in tasks:
                done(_run_unit(task), weight_of[task[2]])
        else:
            pool = _pool(workers, settings.method, settings.method_options)
            try:
                for record in pool.imap_unordered(_run_unit, tasks):
                    done(record, weight_of[record["unit"]])
                pool.close()
            except BaseException:
                pool.terminate()  # finished units are on disk; a rerun resumes after them
                raise
            finally:
                pool.join()
    return records


# ------------------------------------------------------------------ manifest
def _header(source: dict, settings: GenerationSettings, labeler_info: dict, plan_info: dict) -> dict:
    from ... import __version__

    return {
        "format": store.FORMAT_VERSION,
        "generator": "forcefields data generate",
        "generator_version": GENERATOR_VERSION,
        "forcefields_version": __version__,
        "source": source,
        "method": labeler_info,
        "settings": settings.to_dict(),
        "plan": plan_info,
        "units": {"total": plan_info["units"]},
        "complete": False,
        "note": "Labels are semi-empirical tight binding (GFN-xTB), not DFT. Energies eV, forces eV/Å, positions Å.",
    }


def _open_manifest(out: Path, header: dict) -> dict:
    """Write the manifest header, or check that an existing corpus was made the same way."""
    path = out / store.MANIFEST
    if not path.is_file():
        store.write_json(path, header)
        return header
    old = store.read_manifest(out)
    if old.get("generator_version") != header["generator_version"]:
        raise DataError(f"{out} was written by generator version {old.get('generator_version')!r}, this is "
                        f"{header['generator_version']!r}; use a new --out folder (the versions make different corpora).")
    problems = []
    for key in ("source", "settings"):
        a, b = old.get(key, {}), header[key]
        problems += [f"{key}.{k}: {b.get(k)!r} asked, {a.get(k)!r} in the corpus" for k in sorted(set(a) | set(b))
                     if a.get(k) != b.get(k)]
    a, b = old.get("method", {}), header["method"]
    problems += [f"method.{k}: {b.get(k)!r} asked, {a.get(k)!r} in the corpus" for k in ("method", "settings")
                 if a.get(k) != b.get(k)]
    if problems:
        raise DataError(f"{out} already holds a corpus made with other settings ({'; '.join(problems)}); rerun with "
                        "the same settings to resume it, or choose a new --out folder.")
    return old


def finalize_manifest(out: Path) -> dict | None:
    """When every unit is complete, add counts, failures, time and shard hashes to the manifest.

    Returns the completed manifest, or None while units are missing.
    """
    out = Path(out)
    manifest = store.read_manifest(out)
    total = int(manifest["units"]["total"])
    records = [store.read_unit_record(out, u) for u in range(total)]
    if any(r is None for r in records):
        return None
    failures = Counter(manifest.get("plan_failure_counts", {}))
    seconds: Counter = Counter()
    labels = md_steps = geometries = molecules = 0
    for r in records:
        failures.update(r["failure_counts"])
        seconds.update(r["seconds"])
        labels += r["labels"]
        md_steps += r["md_steps"]
        geometries += r["geometries"]
        molecules += r["molecules_labelled"]
    by_split: Counter = Counter()
    by_kind: Counter = Counter()
    elements: Counter = Counter()
    atoms = 0
    for r in records:
        with np.load(out / r["file"]) as z:
            by_split.update(_SPLIT_NAMES[int(s)] for s in z["split"])
            by_kind.update(_KIND_NAMES[int(k)] for k in z["kind"])
            elements.update(int(e) for e in z["numbers"])
            atoms += int(z["natoms"].sum())
    with open(out / "failures.jsonl", "w") as f:
        plan_failures = out / "plan-failures.jsonl"
        if plan_failures.is_file():
            f.write(plan_failures.read_text())
        for r in records:
            for item in r["failures"]:
                f.write(json.dumps(item, ensure_ascii=False) + "\n")
    runs = []
    if (out / "runs.jsonl").is_file():
        runs = [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines() if line.strip()]
    manifest.update(
        complete=True,
        counts={
            "molecules_labelled": molecules,
            "geometries": geometries,
            "atoms": atoms,
            "geometries_by_split": dict(by_split),
            "geometries_by_kind": dict(by_kind),
            "elements": {str(k): v for k, v in sorted(elements.items())},
            "single_point_labels": labels,
            "md_steps": md_steps,
        },
        failures={c: int(failures.get(c, 0)) for c in CAUSES if failures.get(c, 0)},
        time={
            "cpu_seconds": {k: round(v, 1) for k, v in seconds.items()},
            "ms_per_label": round(1e3 * seconds.get("label", 0.0) / max(labels, 1), 3),
            "wall_seconds_of_runs": round(sum(r.get("wall_seconds", 0.0) for r in runs), 1),
            "runs": len(runs),
        },
        units={"total": total, "files": [{"file": r["file"], "sha256": r["sha256"], "geometries": r["geometries"]}
                                         for r in records]},
    )
    store.write_json(out / store.MANIFEST, manifest)
    return manifest


def _log_run(out: Path, record: dict) -> None:
    with open(out / "runs.jsonl", "a") as f:
        f.write(json.dumps(record) + "\n")


def _run_and_finish(out: Path, tasks: list[tuple], weights: list[int], workers: int, settings: GenerationSettings,
                    progress: bool, description: str, shard: tuple[int, int], max_units: int | None) -> dict:
    """Run the pending units, log the run, and return the manifest (completed when every unit is done)."""
    if max_units is not None:
        tasks, weights = tasks[:max_units], weights[:max_units]
    t0 = time.time()
    records = _run_units(tasks, workers, settings, progress, weights, description)
    _log_run(out, {"started": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t0)),
                   "wall_seconds": round(time.time() - t0, 1), "workers": workers,
                   "shard": f"{shard[0]}/{shard[1]}", "units": len(records)})
    return finalize_manifest(out) or store.read_manifest(out)


# ------------------------------------------------------------------ entry points
def _eligible(entries, allow_charged: bool) -> tuple[np.ndarray, list[dict]]:
    """Rows RDKit parses (and, unless allowed, that are neutral); failures of the others."""
    from .rdkit_import import require_rdkit

    Chem, _ = require_rdkit()
    rows, failures = [], []
    for e in entries:
        mol = Chem.MolFromSmiles(e.smiles)
        if mol is None:
            failures.append({"row": e.row, "line": e.line, "smiles": e.smiles, "cause": "parse", "geometry": None,
                             "message": "RDKit cannot parse this SMILES"})
        elif not allow_charged and Chem.GetFormalCharge(mol) != 0:
            failures.append({"row": e.row, "line": e.line, "smiles": e.smiles, "cause": "charged", "geometry": None,
                             "message": f"net charge {Chem.GetFormalCharge(mol):+d}"})
        else:
            rows.append(e.row)
    return np.asarray(rows, dtype=np.int64), failures


def generate_corpus(
    out: str | Path,
    smiles_file: str | Path,
    settings: GenerationSettings | None = None,
    workers: int = 1,
    shard: tuple[int, int] = (1, 1),
    progress: bool = True,
    max_units: int | None = None,
) -> dict:
    """Make (or resume) a corpus from a SMILES file.

    Parameters
    ----------
    out : corpus folder (created; an existing one made with the same settings is resumed)
    smiles_file : one SMILES a line (CSV with a ``smiles`` header, or ``.smi``)
    settings : :class:`GenerationSettings` (method, molecules, geometries per molecule, seed, ...)
    workers : worker processes, one thread each
    shard : (k, n): make the k-th of n interleaved shares of the units (cluster job arrays)
    max_units : stop after this many units (for tests of interruption; None: all)

    Returns
    -------
    The manifest (complete when every unit of every shard is done).
    """
    settings = settings or GenerationSettings()
    settings.check()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    labeler = make_labeler(settings.method, settings.method_options)  # fails early when tblite is missing
    entries, empty = read_smiles_file(smiles_file)
    eligible, plan_failures = _eligible(entries, settings.allow_charged)
    plan_failures += [{"row": None, "line": line, "smiles": text, "cause": "parse", "geometry": None,
                       "message": "the line holds no SMILES field"} for line, text in empty]
    plan = plan_molecules(eligible, settings)
    source = {"kind": "smiles", "file": Path(smiles_file).name, "sha256": store.sha256_of(Path(smiles_file)),
              "entries": len(entries), "lines_without_smiles": [line for line, _ in empty]}
    split_counts = Counter(_SPLIT_NAMES[int(s)] for s in plan.splits)
    plan_info = {"molecules": int(plan.rows.size), "eligible": plan.eligible, "units": len(plan.units),
                 "molecules_by_split": dict(split_counts)}
    header = _header(source, settings, labeler.describe(), plan_info)
    header["plan_failure_counts"] = dict(Counter(f["cause"] for f in plan_failures))
    _open_manifest(out, header)
    if not (out / "plan-failures.jsonl").is_file():
        tmp = out / ".plan-failures.jsonl.tmp"
        tmp.write_text("".join(json.dumps(f, ensure_ascii=False) + "\n" for f in plan_failures))
        os.replace(tmp, out / "plan-failures.jsonl")
    k, n = shard
    by_row = {e.row: e for e in entries}
    tasks, weights = [], []
    for u, (a, b) in enumerate(plan.units):
        if u % n != k - 1 or store.unit_complete(out, u):
            continue
        items = [(int(r), by_row[int(r)].line, by_row[int(r)].smiles, int(s)) for r, s in zip(plan.rows[a:b], plan.splits[a:b])]
        tasks.append(("smiles", str(out), u, items, settings.to_dict()))
        weights.append(b - a)
    description = f"labelling with {settings.method}" + (f" (shard {k}/{n})" if n > 1 else "")
    return _run_and_finish(out, tasks, weights, workers, settings, progress, description, shard, max_units)


def _read_structures(path: Path) -> tuple[list, list]:
    from ase.io import read

    try:
        frames = read(str(path), index=":")
    except Exception as err:
        raise DataError(f"cannot read structures from {path} ({err}); give a file ASE reads (extxyz, xyz, ASE db, ...).",
                        path=str(path)) from err
    ids: dict[Any, int] = {}
    molecules = []
    for i, atoms in enumerate(frames):
        key = atoms.info.get("mol_id", atoms.info.get("molecule", i))
        molecules.append(ids.setdefault(key, len(ids)))
    return frames, molecules


def label_structures(
    out: str | Path,
    path: str | Path,
    settings: GenerationSettings | None = None,
    workers: int = 1,
    shard: tuple[int, int] = (1, 1),
    progress: bool = True,
    max_units: int | None = None,
) -> dict:
    """Label every structure of a user's file (extxyz, xyz, ASE db, ...) into a corpus folder.

    Frames sharing ``info['mol_id']`` (or ``info['molecule']``) are one molecule
    for the split; otherwise each frame is its own. ``info['charge']`` sets the
    net charge (default 0). Held-out molecules: ``settings.val_fraction`` and
    ``test_fraction`` of them, drawn by the seed.
    """
    settings = settings or GenerationSettings()
    out, path = Path(out), Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"no structure file at {path}; give a file ASE reads (extxyz, xyz, ASE db, ...).", path=str(path))
    out.mkdir(parents=True, exist_ok=True)
    labeler = make_labeler(settings.method, settings.method_options)
    frames, molecules = _read_structures(path)
    num_molecules = max(molecules) + 1 if molecules else 0
    rng = np.random.default_rng([settings.seed, 104729])
    order = rng.permutation(num_molecules)
    n_test = int(round(settings.test_fraction * num_molecules))
    n_val = int(round(settings.val_fraction * num_molecules))
    split_of = np.full(num_molecules, SPLIT_CODES["train"])
    split_of[order[:n_test]] = SPLIT_CODES["test"]
    split_of[order[n_test:n_test + n_val]] = SPLIT_CODES["val"]
    units = [(s, min(s + settings.unit_size, len(frames))) for s in range(0, len(frames), settings.unit_size)]
    source = {"kind": "file", "file": path.name, "sha256": store.sha256_of(path), "entries": len(frames)}
    plan_info = {"molecules": num_molecules, "eligible": num_molecules, "units": len(units),
                 "molecules_by_split": dict(Counter(_SPLIT_NAMES[int(s)] for s in split_of))}
    _open_manifest(out, _header(source, settings, labeler.describe(), plan_info))
    k, n = shard
    tasks, weights = [], []
    for u, (a, b) in enumerate(units):
        if u % n != k - 1 or store.unit_complete(out, u):
            continue
        items = [(i, molecules[i], frames[i].numbers.astype(np.int64), frames[i].positions.astype(np.float64),
                  int(frames[i].info.get("charge", 0)), int(split_of[molecules[i]])) for i in range(a, b)]
        tasks.append(("file", str(out), u, items, settings.to_dict()))
        weights.append(b - a)
    return _run_and_finish(out, tasks, weights, workers, settings, progress,
                           f"labelling {path.name} with {settings.method}", shard, max_units)
