"""`forcefields data info` on tiny data."""

from __future__ import annotations

import pytest

from forcefields.cli import main


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")  # rich would otherwise fold long paths at 80 columns


def test_info_on_rmd17_per_split_files(rmd17_root, capsys):
    assert main(["data", "info", "rmd17:ethanol", "--root", str(rmd17_root), "--cutoff", "5"]) == 0
    out = capsys.readouterr().out
    for text in ("rmd17:ethanol", "frames", "30", "train_01: 20", "test_01: 10", "C×2", "H×6", "O×1",
                 "E0 (eV)", "force RMS", "eV/Å", "neighbours per atom", "8.00", "kcal/mol → eV",
                 "rmd17_ethanol_train_01.npz"):
        assert text in out, text


def test_info_on_extxyz_with_keys(xyz_file, capsys):
    path, _ = xyz_file
    code = main(["data", "info", str(path), "--energy-key", "REF_energy", "--forces-key", "REF_forces",
                 "--cutoff", "1.2"])
    out = capsys.readouterr().out
    assert code == 0
    assert "24" in out and "3–9" in out and "energy eV (as is)" in out


def test_info_reports_mistakes_in_one_line(xyz_file, capsys):
    path, _ = xyz_file
    assert main(["data", "info", str(path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("forcefields: error:") and "REF_energy" in err and "\n" not in err
    assert main(["data", "info", "qm7x:water"]) == 1
    assert "known kinds: rmd17" in capsys.readouterr().err
