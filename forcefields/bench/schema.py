"""The schema of benchmark result files, and a validator (no dependency).

A result file is one JSON document::

    {
      "schema": "forcefields.bench/speed-v1",     # or .../accuracy-v1
      "kind": "speed",                             # or "accuracy"
      "device_label": "cpu-intel-xeon",
      "complete": true,                            # false in *.partial.json
      "runs": [ {"run_id", "created", "complete", "machine", "settings", "peers"} ],
      "records": [ {...}, ... ]                    # one per measured point
    }

Each record names the run it came from (``run_id``), so that ratios against a
peer are taken between records of one run only. Units are in the field names:
``_s`` seconds, ``_mb`` MiB, ``_mev`` meV, ``_mev_a`` meV/Å, ``us_per_atom``
microseconds per atom.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["SchemaError", "validate", "SPEED_SCHEMA", "ACCURACY_SCHEMA", "STABILITY_SCHEMA", "SPEED_RECORD",
           "ACCURACY_RECORD", "STABILITY_RECORD", "RUN"]

SPEED_SCHEMA = "forcefields.bench/speed-v1"
ACCURACY_SCHEMA = "forcefields.bench/accuracy-v1"
STABILITY_SCHEMA = "forcefields.bench/stability-v1"
SCHEMAS = {"speed": SPEED_SCHEMA, "accuracy": ACCURACY_SCHEMA, "stability": STABILITY_SCHEMA}

STATUSES = ("ok", "failed", "skipped", "oom")
REGIMES = ("md", "batch", "large", "train")

_NUM = (int, float)
_OPT_NUM = (int, float, type(None))
_OPT_STR = (str, type(None))

# field -> (allowed types, required)
RUN: dict[str, tuple[tuple[type, ...], bool]] = {
    "run_id": ((str,), True),
    "created": ((str,), True),
    "complete": ((bool,), True),
    "machine": ((dict,), True),
    "settings": ((dict,), True),
    "peers": ((list,), False),
}

MACHINE = {
    "device": ((str,), True),
    "device_label": ((str,), True),
    "cpu_model": ((str,), True),
    "cpu_count": ((int,), True),
    "torch_num_threads": ((int,), True),
    "gpu_name": (_OPT_STR, True),
    "versions": ((dict,), True),
}

SPEED_RECORD = {
    "run_id": ((str,), True),
    "model": ((str,), True),
    "family": ((str,), True),
    "source": ((str,), True),  # "registry", "pretrained" or "peer"
    "params": ((int,), True),
    "dtype": ((str,), True),
    "device": ((str,), True),
    "compile": ((bool,), True),
    "compile_status": ((str,), True),  # "off", "ok" or "failed"
    "regime": ((str,), True),
    "system": ((str,), True),
    "n_atoms": ((int,), True),
    "n_molecules": ((int,), True),
    "status": ((str,), True),
    "reason": (_OPT_STR, True),
    "median_s": (_OPT_NUM, True),
    "p10_s": (_OPT_NUM, True),
    "p90_s": (_OPT_NUM, True),
    "mean_s": (_OPT_NUM, False),
    "std_s": (_OPT_NUM, False),
    "repeats": ((int,), True),
    "warmup": ((int,), False),
    "first_call_s": (_OPT_NUM, False),
    "molecules_per_s": (_OPT_NUM, True),
    "atoms_per_s": (_OPT_NUM, True),
    "us_per_atom": (_OPT_NUM, True),
    "peak_mem_mb": (_OPT_NUM, True),
    "mem_method": (_OPT_STR, True),
    "n_edges": ((int, type(None)), False),
}

ACCURACY_RECORD = {
    "run_id": ((str,), True),
    "model": ((str,), True),
    "arch": ((str,), True),
    "family": ((str,), True),
    "params": ((int,), True),
    "dataset": ((str,), True),
    "split": ((str,), True),
    "n_frames": ((int,), True),
    "dtype": ((str,), True),
    "device": ((str,), True),
    "status": ((str,), True),
    "reason": (_OPT_STR, True),
    "energy_mae_mev": (_OPT_NUM, True),
    "energy_rmse_mev": (_OPT_NUM, False),
    "force_mae_mev_a": (_OPT_NUM, True),
    "force_rmse_mev_a": (_OPT_NUM, True),
}


# One MD run of `bench stability`: a model, a start structure, a temperature and a seed.
STABILITY_RECORD = {
    "run_id": ((str,), True),
    "model": ((str,), True),
    "family": ((str,), True),
    "structure": ((str,), True),  # "rmd17:aspirin#3" (start frame 3) or "<file>#k"
    "n_atoms": ((int,), True),
    "temperature_k": (_NUM, True),
    "seed": ((int,), True),
    "timestep_fs": (_NUM, True),
    "target_ps": (_NUM, True),
    "criterion": ((str,), True),  # the failure criterion in words
    "status": ((str,), True),  # "survived", "failed" (the criterion tripped) or "error"
    "reason": (_OPT_STR, True),
    "survived_ps": (_OPT_NUM, True),  # simulated time before failure (= target_ps when survived)
    "nve_ps": (_OPT_NUM, False),
    "nve_drift_mev_atom_ps": (_OPT_NUM, False),  # NVE total-energy drift, meV/atom/ps
    "ms_per_step": (_OPT_NUM, True),
    "ns_per_day": (_OPT_NUM, False),
    "last_frames": (_OPT_STR, False),  # file of the last frames before failure, relative to the result file
    "compiled": ((bool,), False),  # the model ran under torch.compile (absent in older records: eager)
    "compile_s": (_OPT_NUM, False),  # s of the untimed warm-up calls that compiled it
    "integrator": ((str,), False),  # "ase-langevin" (absent in older records) or "baoab-batched"
    "replicas": ((int,), False),  # trajectories in the batch ("baoab-batched")
}
STABILITY_STATUSES = ("survived", "failed", "error")


class SchemaError(ValueError):
    """A result document does not follow the schema."""


def _check_fields(obj: Any, spec: dict, where: str) -> None:
    if not isinstance(obj, dict):
        raise SchemaError(f"{where} must be an object, got {type(obj).__name__}.")
    for key, (types, required) in spec.items():
        if key not in obj:
            if required:
                raise SchemaError(f"{where} lacks the required field {key!r}.")
            continue
        value = obj[key]
        # bool is an int in Python; refuse it where a number is meant.
        if isinstance(value, bool) and bool not in types:
            raise SchemaError(f"{where}.{key} must be {_names(types)}, got a boolean.")
        if not isinstance(value, types):
            raise SchemaError(f"{where}.{key} must be {_names(types)}, got {type(value).__name__}.")
        if isinstance(value, float) and not math.isfinite(value):
            raise SchemaError(f"{where}.{key} is {value}; store null for a missing number, never NaN or inf.")


def _names(types: tuple[type, ...]) -> str:
    return " or ".join("null" if t is type(None) else t.__name__ for t in types)


def _check_speed_record(r: dict, where: str) -> None:
    _check_fields(r, SPEED_RECORD, where)
    if r["regime"] not in REGIMES:
        raise SchemaError(f"{where}.regime is {r['regime']!r}; expected one of {REGIMES}.")
    if r["status"] not in STATUSES:
        raise SchemaError(f"{where}.status is {r['status']!r}; expected one of {STATUSES}.")
    if r["compile_status"] not in ("off", "ok", "failed"):
        raise SchemaError(f"{where}.compile_status is {r['compile_status']!r}; expected off, ok or failed.")
    if r["n_atoms"] < 1 or r["n_molecules"] < 1:
        raise SchemaError(f"{where}: n_atoms and n_molecules must be positive.")
    if r["status"] == "ok":
        for key in ("median_s", "p10_s", "p90_s", "atoms_per_s", "molecules_per_s", "us_per_atom"):
            if r[key] is None or r[key] <= 0:
                raise SchemaError(f"{where}.{key} must be a positive number for a point with status ok.")
        if r["repeats"] < 1:
            raise SchemaError(f"{where}.repeats must be at least 1 for a point with status ok.")
        if not r["p10_s"] <= r["median_s"] <= r["p90_s"]:
            raise SchemaError(f"{where}: p10_s <= median_s <= p90_s does not hold.")
    elif not r["reason"]:
        raise SchemaError(f"{where} has status {r['status']!r} but no reason.")


def _check_accuracy_record(r: dict, where: str) -> None:
    _check_fields(r, ACCURACY_RECORD, where)
    if r["status"] not in STATUSES:
        raise SchemaError(f"{where}.status is {r['status']!r}; expected one of {STATUSES}.")
    if r["status"] == "ok":
        for key in ("energy_mae_mev", "force_mae_mev_a", "force_rmse_mev_a"):
            if r[key] is None or r[key] < 0:
                raise SchemaError(f"{where}.{key} must be a non-negative number for a record with status ok.")
        if r["n_frames"] < 1:
            raise SchemaError(f"{where}.n_frames must be at least 1.")
    elif not r["reason"]:
        raise SchemaError(f"{where} has status {r['status']!r} but no reason.")


def _check_stability_record(r: dict, where: str) -> None:
    _check_fields(r, STABILITY_RECORD, where)
    if r["status"] not in STABILITY_STATUSES:
        raise SchemaError(f"{where}.status is {r['status']!r}; expected one of {STABILITY_STATUSES}.")
    if r["status"] != "error" and (r["survived_ps"] is None or r["survived_ps"] < 0):
        raise SchemaError(f"{where}.survived_ps must be a non-negative number for a run that ran.")
    if r["status"] != "survived" and not r["reason"]:
        raise SchemaError(f"{where} has status {r['status']!r} but no reason.")


def validate(doc: Any) -> str:
    """Check a result document; return its kind ("speed", "accuracy" or "stability").

    Raises
    ------
    SchemaError (a ValueError) naming the first offending field.
    """
    if not isinstance(doc, dict):
        raise SchemaError("a result document must be a JSON object.")
    kind = doc.get("kind")
    expected = SCHEMAS
    if kind not in expected:
        raise SchemaError(f"kind is {kind!r}; expected 'speed', 'accuracy' or 'stability'.")
    if doc.get("schema") != expected[kind]:
        raise SchemaError(f"schema is {doc.get('schema')!r}; this version reads {expected[kind]!r}.")
    _check_fields(
        doc,
        {"device_label": ((str,), True), "complete": ((bool,), True), "runs": ((list,), True), "records": ((list,), True)},
        "document",
    )
    run_ids = set()
    for i, run in enumerate(doc["runs"]):
        _check_fields(run, RUN, f"runs[{i}]")
        _check_fields(run["machine"], MACHINE, f"runs[{i}].machine")
        run_ids.add(run["run_id"])
    check = {"speed": _check_speed_record, "accuracy": _check_accuracy_record, "stability": _check_stability_record}[kind]
    for i, rec in enumerate(doc["records"]):
        check(rec, f"records[{i}]")
        if rec["run_id"] not in run_ids:
            raise SchemaError(f"records[{i}].run_id {rec['run_id']!r} names no run in the document.")
    return kind
