"""`bench report`: tables and plots from stored results; the README section."""

from __future__ import annotations

import pytest

from forcefields.bench.report import END, START, build_report
from forcefields.bench.store import ResultWriter

from .test_schema_store import _record, _run


def _acc(run_id, model, fmae):
    return {"run_id": run_id, "model": model, "arch": model.split(".")[0], "family": "mpnn", "params": 10,
            "dataset": "rmd17:aspirin", "split": "rmd17:1", "n_frames": 1000, "dtype": "float32", "device": "cpu",
            "status": "ok", "reason": None, "energy_mae_mev": 3.0, "energy_rmse_mev": 4.0, "force_mae_mev_a": fmae,
            "force_rmse_mev_a": fmae * 1.3}


@pytest.fixture
def stored(tmp_path):
    """A speed file (two models, a peer, all regimes) and an accuracy file, written through the store."""
    out = tmp_path / "results"
    recs = []
    for model, fam, src, t in (("mpnn-s", "mpnn", "registry", 0.01), ("egnn-s", "egnn", "registry", 0.03),
                               ("mace-64x1", "mace", "peer", 0.02)):
        recs.append(_record("r1", model, t, family=fam, source=src, system="aspirin", n_atoms=21))
        for b in (1, 4):
            recs.append(_record("r1", model, t * b, family=fam, source=src, regime="batch", system="aspirin",
                                n_atoms=21 * b, n_molecules=b, molecules_per_s=b / (t * b), atoms_per_s=21 / t))
        for n in (100, 1000):
            recs.append(_record("r1", model, t * n / 10, family=fam, source=src, regime="large", system="water-droplet",
                                n_atoms=n, atoms_per_s=10 / t, us_per_atom=1e5 * t, peak_mem_mb=n / 10))
    recs.append(_record("r1", "egnn-s", 1.0, compile=True, compile_status="failed", status="failed",
                        reason="torch.compile failed: RuntimeError: no compiler", median_s=None, p10_s=None,
                        p90_s=None, molecules_per_s=None, atoms_per_s=None, us_per_atom=None, peak_mem_mb=None,
                        mem_method=None, repeats=0))
    w = ResultWriter(out, "speed", "cpu-test", "speed-float32", _run("r1"))
    w.add(recs)
    w.commit()
    run = _run("a1")
    acc = ResultWriter(out, "accuracy", "cpu-test", "accuracy", run)
    acc.add([_acc("a1", "mpnn-s.rmd17-aspirin", 20.0), _acc("a1", "egnn-s.rmd17-aspirin", 9.0)])
    acc.commit()
    return out


def test_report_tables_and_plots(stored):
    out = build_report(stored)
    text = out["report"].read_text()
    assert out["report"] == stored / "REPORT.md"
    # peer time over ours, same run: mace 0.02 s vs mpnn 0.01 s and egnn 0.03 s
    assert "| mpnn-s | mpnn | 10 | float32 | off | aspirin (21) | 10 |" in text and "2.00×" in text
    assert "0.67×" in text
    assert "torch.compile failed: RuntimeError: no compiler" in text
    assert "MACE (published)" in text and "6.6" in text and "Allegro (published)" in text
    names = sorted(p.name for p in out["plots"])
    assert names == ["memory.png", "pareto.png", "throughput.png"]
    for p in out["plots"]:
        assert p.stat().st_size > 5000 and p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"({p.parent.name}/{p.name})" in text


def test_report_ignores_partial_results(stored):
    (stored / "cpu-test" / "speed-float64.partial.json").write_text("{not json")
    build_report(stored)  # a partial file is not read at all


def test_update_readme_between_markers(stored, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# Title\n\nintro\n\n{START}\nold table\n{END}\n\n## After\n")
    build_report(stored, readme=readme)
    text = readme.read_text()
    assert text.startswith("# Title\n\nintro\n\n" + START) and text.endswith(END + "\n\n## After\n")
    assert "old table" not in text and "mpnn-s" in text and "mace-64x1 (peer)" in text
    assert "results/cpu-test/throughput.png" in text

    bare = tmp_path / "BARE.md"
    bare.write_text("# no markers\n")
    with pytest.raises(ValueError, match="bench:start"):
        build_report(stored, readme=bare)


def test_report_without_results(tmp_path):
    with pytest.raises(FileNotFoundError, match="bench speed"):
        build_report(tmp_path / "nothing")


def test_readme_table_shows_the_compiled_md_step_and_its_compile_time(stored, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# Title\n\n{START}\n{END}\n")
    build_report(stored, readme=readme)
    assert "compiled MD step" not in readme.read_text()  # no compiled timing stored: no column

    run = _run("r2")
    w = ResultWriter(stored, "speed", "cpu-test", "speed-float32", run)
    w.add([_record("r2", "mpnn-s", 0.004, compile=True, compile_status="ok", family="mpnn", system="aspirin",
                   n_atoms=21, first_call_s=1.5),
           # compiled first on ethanol: that first call is the compilation
           _record("r2", "mpnn-s", 0.002, compile=True, compile_status="ok", family="mpnn", system="ethanol",
                   n_atoms=9, first_call_s=42.0),
           _record("r2", "mace-64x1", 0.006, compile=True, compile_status="ok", family="mace", source="peer",
                   system="aspirin", n_atoms=21, first_call_s=77.0)])
    w.commit()
    build_report(stored, readme=readme)
    text = readme.read_text()
    assert "| compiled MD step (ms) | compile time (s) |" in text
    row = next(line for line in text.splitlines() if line.startswith("| mpnn-s |"))
    assert "| 4 | 42 |" in row
    egnn = next(line for line in text.splitlines() if line.startswith("| egnn-s |"))
    assert "| – | – |" in egnn  # its compile failed: no figure
    peer = next(line for line in text.splitlines() if line.startswith("| mace-64x1 (peer) |"))
    assert "| 6 | 77 |" in peer  # a compiled peer is shown as ours are
