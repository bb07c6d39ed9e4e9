"""Result files: the schema validator and never losing complete results."""

from __future__ import annotations

import copy
import json

import pytest

from forcefields.bench.schema import SchemaError, validate
from forcefields.bench.store import ResultWriter, load_results


def _run(run_id="r1"):
    return {
        "run_id": run_id,
        "created": "2025-01-01T00:00:00+00:00",
        "complete": True,
        "machine": {"device": "cpu", "device_label": "cpu-test", "cpu_model": "Test CPU", "cpu_count": 2,
                    "torch_num_threads": 1, "gpu_name": None, "versions": {"torch": "x"}},
        "settings": {},
        "peers": [],
    }


def _record(run_id="r1", model="m", median=0.01, **kw):
    r = {"run_id": run_id, "model": model, "family": "mpnn", "source": "registry", "params": 10, "dtype": "float32",
         "device": "cpu", "compile": False, "compile_status": "off", "regime": "md", "system": "ethanol",
         "n_atoms": 9, "n_molecules": 1, "status": "ok", "reason": None, "median_s": median, "p10_s": median * 0.9,
         "p90_s": median * 1.1, "repeats": 5, "molecules_per_s": 1 / median, "atoms_per_s": 9 / median,
         "us_per_atom": 1e6 * median / 9, "peak_mem_mb": 1.0, "mem_method": "rss_hwm"}
    r.update(kw)
    return r


def _doc(records=None):
    return {"schema": "forcefields.bench/speed-v1", "kind": "speed", "device_label": "cpu-test", "complete": True,
            "runs": [_run()], "records": records if records is not None else [_record()]}


def test_valid_document_passes():
    assert validate(_doc()) == "speed"


@pytest.mark.parametrize(
    "breakage, message",
    [
        (lambda d: d["records"][0].pop("median_s"), "median_s"),
        (lambda d: d["records"][0].update(median_s=float("nan")), "NaN"),
        (lambda d: d["records"][0].update(median_s=None), "positive number"),
        (lambda d: d["records"][0].update(p10_s=1.0), "p10_s <= median_s"),
        (lambda d: d["records"][0].update(regime="huge"), "regime"),
        (lambda d: d["records"][0].update(status="failed"), "no reason"),
        (lambda d: d["records"][0].update(n_atoms="9"), "n_atoms must be int"),
        (lambda d: d["records"][0].update(compile=1), "compile must be bool"),
        (lambda d: d["records"][0].update(run_id="other"), "names no run"),
        (lambda d: d["runs"][0]["machine"].pop("torch_num_threads"), "torch_num_threads"),
        (lambda d: d.update(schema="forcefields.bench/speed-v0"), "schema"),
        (lambda d: d.update(kind="speedy"), "kind"),
    ],
)
def test_broken_documents_fail(breakage, message):
    doc = copy.deepcopy(_doc())
    breakage(doc)
    with pytest.raises(SchemaError, match=message):
        validate(doc)


def test_failed_point_needs_only_a_reason():
    rec = _record(status="failed", reason="torch.compile failed: no compiler", median_s=None, p10_s=None, p90_s=None,
                  molecules_per_s=None, atoms_per_s=None, us_per_atom=None, peak_mem_mb=None, mem_method=None, repeats=0)
    validate(_doc([rec]))


def test_commit_merges_and_partial_never_overwrites(tmp_path):
    w1 = ResultWriter(tmp_path, "speed", "cpu-test", "speed-float32", _run("r1"))
    w1.add([_record("r1", "a", 0.01), _record("r1", "b", 0.02)])
    assert w1.paths["partial"].exists() and not w1.paths["json"].exists()
    path = w1.commit()
    assert not w1.paths["partial"].exists() and w1.paths["csv"].exists()
    complete = path.read_bytes()

    # A second run that stops early leaves the complete file untouched.
    w2 = ResultWriter(tmp_path, "speed", "cpu-test", "speed-float32", _run("r2"))
    w2.add([_record("r2", "a", 0.5)])
    assert path.read_bytes() == complete
    partial = json.loads(w2.paths["partial"].read_text())
    assert partial["complete"] is False and validate(partial) == "speed"

    # When it completes, its point replaces the old one; the other model stays.
    w2.commit()
    doc = load_results(path)
    by_model = {r["model"]: r for r in doc["records"]}
    assert by_model["a"]["run_id"] == "r2" and by_model["a"]["median_s"] == 0.5
    assert by_model["b"]["run_id"] == "r1"
    assert {r["run_id"] for r in doc["runs"]} == {"r1", "r2"}


def test_commit_refuses_to_replace_a_broken_file(tmp_path):
    w = ResultWriter(tmp_path, "speed", "cpu-test", "speed-float32", _run("r1"))
    w.paths["json"].parent.mkdir(parents=True)
    w.paths["json"].write_text('{"kind": "speed"}')
    w.add([_record()])
    with pytest.raises(SchemaError, match="does not follow the result schema"):
        w.commit()
    assert w.paths["json"].read_text() == '{"kind": "speed"}' and w.paths["partial"].exists()


def test_a_skip_keeps_an_earlier_measurement_but_a_failure_replaces_it(tmp_path):
    def skipped(run_id, model, status="skipped"):
        return _record(run_id, model, status=status, reason="time budget exhausted", median_s=None, p10_s=None,
                       p90_s=None, molecules_per_s=None, atoms_per_s=None, us_per_atom=None, peak_mem_mb=None,
                       mem_method=None, repeats=0)

    w1 = ResultWriter(tmp_path, "speed", "cpu-test", "speed-float32", _run("r1"))
    w1.add([_record("r1", "a", 0.01), _record("r1", "b", 0.02), skipped("r1", "c")])
    w1.commit()
    w2 = ResultWriter(tmp_path, "speed", "cpu-test", "speed-float32", _run("r2"))
    w2.add([skipped("r2", "a"), skipped("r2", "b", status="failed"), skipped("r2", "c"), _record("r2", "d", 0.03)])
    path = w2.commit()
    by_model = {r["model"]: r for r in load_results(path)["records"]}
    assert (by_model["a"]["run_id"], by_model["a"]["status"]) == ("r1", "ok")  # a skip measured nothing
    assert (by_model["b"]["run_id"], by_model["b"]["status"]) == ("r2", "failed")  # a failure is news
    assert (by_model["c"]["run_id"], by_model["d"]["run_id"]) == ("r2", "r2")  # a skip still replaces a skip
    assert len(w2.records) == 4  # the run's own records are all kept
