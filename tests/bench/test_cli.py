"""`forcefields bench ...` from the command line: a tiny run, and one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from forcefields.cli import main

REPO = Path(__file__).resolve().parents[2]


def _one_line_error(capsys, argv, expected):
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0, err
    assert err.startswith("forcefields: error: ") and expected in err, err


def test_tiny_config_runs_and_reports(tmp_path, capsys):
    out = tmp_path / "results"
    assert main(["bench", "speed", "--config", str(REPO / "benchmarks" / "configs" / "tiny.json"),
                 "--regimes", "md,large", "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "points measured" in printed and "ethanol" in printed
    files = list(out.glob("cpu-*/speed-float32.json"))
    assert len(files) == 1
    assert main(["bench", "report", "--results", str(out)]) == 0
    assert (out / "REPORT.md").is_file()


def test_unknown_model(tmp_path, capsys):
    _one_line_error(capsys, ["bench", "speed", "--models", "egnn-zz", "--out", str(tmp_path), "--no-progress"],
                    "unknown model 'egnn-zz'")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_gpu(tmp_path, capsys):
    _one_line_error(capsys, ["bench", "speed", "--models", "mpnn-xs", "--device", "cuda", "--out", str(tmp_path)],
                    "CUDA was asked for but torch sees no GPU; use --device cpu")


def test_bad_device_and_missing_peer_python(tmp_path, capsys):
    _one_line_error(capsys, ["bench", "speed", "--models", "mpnn-xs", "--device", "tpu", "--out", str(tmp_path)],
                    "device 'tpu' is not supported")
    _one_line_error(capsys, ["bench", "speed", "--models", "mpnn-xs", "--peer", "mace", "--peer-python",
                             str(tmp_path / "venv" / "bin" / "python"), "--out", str(tmp_path)],
                    "peer interpreter")


def test_report_without_results(tmp_path, capsys):
    _one_line_error(capsys, ["bench", "report", "--results", str(tmp_path / "none")], "does not exist")
