"""Reading and writing result files without ever losing complete results.

Layout: ``<out>/<device_label>/<stem>.json`` (complete results, validated),
``<stem>.csv`` (the same records, flat) and ``<stem>.partial.json`` (a run in
progress or one that stopped early). Stems: ``speed-<dtype>``,
``accuracy`` and ``stability``.

A run writes only its partial file while it goes. When it completes, its
records are merged into the complete file: records of earlier runs for the
same point (same model, dtype, compile mode, regime, system and size) are
replaced, all others kept; except that a point this run skipped (status
``skipped``: out of time, over the call cap) keeps an earlier measurement of
it, since a skip measured nothing. The merged document is validated, written to a
temporary file and renamed over the old one, and the partial file is removed.
"""

from __future__ import annotations

import csv
import datetime as _dt
import json
import os
import tempfile
import uuid
from pathlib import Path

from ..local_paths import scrub
from .schema import SCHEMAS, SchemaError, validate

__all__ = ["new_run_id", "now_iso", "result_paths", "ResultWriter", "load_results", "record_key", "merge_results"]


def new_run_id() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def result_paths(out: str | Path, device_label: str, stem: str) -> dict[str, Path]:
    folder = Path(out) / device_label
    return {
        "json": folder / f"{stem}.json",
        "csv": folder / f"{stem}.csv",
        "partial": folder / f"{stem}.partial.json",
    }


def record_key(kind: str, r: dict) -> tuple:
    """The point a record measures; a newer record of the same point replaces it."""
    if kind == "speed":
        return (r["source"], r["model"], r["dtype"], r["compile"], r["regime"], r["system"], r["n_atoms"], r["n_molecules"])
    if kind == "stability":
        return (r["model"], r["structure"], float(r["temperature_k"]), r["seed"], float(r["target_ps"]),
                float(r["timestep_fs"]), r["criterion"], r.get("integrator", "ase-langevin"))
    return (r["model"], r["dataset"], r["split"], r["dtype"])


def _atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _dump(doc: dict) -> str:
    return json.dumps(doc, indent=1, sort_keys=False) + "\n"


def load_results(path: str | Path) -> dict:
    """Read and validate one result file.

    Raises
    ------
    FileNotFoundError, SchemaError (ValueError) with the file named.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"result file {path} does not exist; run `forcefields bench speed` or `bench accuracy` first.")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise SchemaError(f"{path} is not valid JSON ({err.msg} at line {err.lineno}); delete or repair it.") from None
    try:
        validate(doc)
    except SchemaError as err:
        raise SchemaError(f"{path} does not follow the result schema: {err}") from None
    return doc


class ResultWriter:
    """Collects one run's records; writes partial files as it goes and merges on completion.

    Parameters
    ----------
    out : results root (e.g. ``benchmarks/results``)
    kind : "speed" or "accuracy"
    device_label : sub-folder, from :func:`forcefields.bench.machine.device_label`
    stem : file stem (``speed-float32``, ``accuracy``)
    run : the run header (run_id, created, machine, settings, peers)
    """

    def __init__(self, out: str | Path, kind: str, device_label: str, stem: str, run: dict):
        self.kind = kind
        self.device_label = device_label
        self.paths = result_paths(out, device_label, stem)
        # Result files are committed and shared: absolute paths in the settings become names.
        self.run = scrub(dict(run, complete=False))
        self.records: list[dict] = []

    def _doc(self, runs: list[dict], records: list[dict], complete: bool) -> dict:
        return {
            "schema": SCHEMAS[self.kind],
            "kind": self.kind,
            "device_label": self.device_label,
            "complete": complete,
            "runs": runs,
            "records": records,
        }

    def add(self, records: list[dict]) -> None:
        """Append records (absolute paths in them reduced to names) and rewrite the partial file."""
        self.records.extend(scrub(records))
        self.save_partial()

    def save_partial(self) -> Path:
        doc = self._doc([self.run], self.records, complete=False)
        validate(doc)
        _atomic_write_text(self.paths["partial"], _dump(doc))
        return self.paths["partial"]

    def commit(self) -> Path:
        """Merge this run into the complete file (atomically) and drop the partial file.

        Raises
        ------
        SchemaError : the existing complete file is broken (it is left untouched)
        """
        run = dict(self.run, complete=True)
        runs: list[dict] = []
        kept: list[dict] = []
        new = self.records
        if self.paths["json"].exists():
            old = load_results(self.paths["json"])
            measured = {record_key(self.kind, r) for r in old["records"] if r.get("status") == "ok"}
            new = [r for r in new if not (r.get("status") == "skipped" and record_key(self.kind, r) in measured)]
            new_keys = {record_key(self.kind, r) for r in new}
            kept = [r for r in old["records"] if record_key(self.kind, r) not in new_keys]
            used = {r["run_id"] for r in kept}
            runs = [r for r in old["runs"] if r["run_id"] in used]
        doc = self._doc(runs + [run], kept + new, complete=True)
        validate(doc)
        _atomic_write_text(self.paths["json"], _dump(doc))
        self._write_csv(doc["records"])
        if self.paths["partial"].exists():
            self.paths["partial"].unlink()
        self.run = run
        return self.paths["json"]

    def _write_csv(self, records: list[dict]) -> None:
        if not records:
            return
        columns: list[str] = []
        for r in records:
            for k in r:
                if k not in columns:
                    columns.append(k)
        path = self.paths["csv"]
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=columns)
            w.writeheader()
            for r in records:
                w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in columns})
        os.replace(tmp, path)


def merge_results(source: str | Path, out: str | Path) -> Path:
    """Merge one complete result file into the results root ``out``, as if its runs had written there.

    For results taken by separate processes or machines side by side (two commands must
    not share one results folder while they run: they would share its partial file).
    Records replace those of the same point, as a finished run's do; files the records
    name (``last_frames`` of stability runs, relative to the result file) are copied along.

    Parameters
    ----------
    source : a ``<stem>.json`` result file (speed-float32.json, accuracy.json, stability.json)
    out : results root (e.g. ``benchmarks/results``); the device folder comes from the file

    Returns
    -------
    Path of the merged result file.
    """
    import shutil

    source = Path(source)
    doc = load_results(source)
    if not doc.get("complete"):
        raise ValueError(f"{source} is a partial result file; finish (resume) its run before merging it.")
    path = None
    for run in doc["runs"]:
        records = [r for r in doc["records"] if r.get("run_id") == run["run_id"]]
        writer = ResultWriter(out, doc["kind"], doc["device_label"], source.stem, run)
        for r in records:
            name = r.get("last_frames")
            if name:
                target = writer.paths["json"].parent / name
                origin = source.parent / name
                if not origin.exists():
                    if target.exists():
                        continue  # a record the results root already holds, frames and all
                    raise FileNotFoundError(
                        f"{source} names the failure frames {name}, which are neither beside it nor in {out}; "
                        f"copy that file next to {source.name} (same relative path) and merge again."
                    )
                target.parent.mkdir(parents=True, exist_ok=True)
                if origin.resolve() != target.resolve():
                    shutil.copy(origin, target)
        writer.records = list(records)
        path = writer.commit()
    if path is None:
        raise ValueError(f"{source} holds no run to merge.")
    return path

