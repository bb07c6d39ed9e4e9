"""What the project publishes holds no absolute path: the scrubber, and the committed folders."""

from __future__ import annotations

from pathlib import Path

import pytest

from forcefields.local_paths import find_local_paths, interpreter_name, public_path, scrub

REPO = Path(__file__).resolve().parents[1]
TEXT = (".json", ".md", ".csv", ".extxyz", ".txt", ".yaml", ".yml")


def test_scrub_reduces_absolute_paths_to_names_and_keeps_the_rest():
    value = {
        "command": "forcefields finetune --out /home/ada/runs/ft --data ~/d/eth.extxyz",
        "paths": ["/work/x/model", "runs/a/b", "../shared/data/rmd17", r"C:\Users\ada\f.xyz"],
        "units": "eV/Å, meV/Å, 1/fs", "url": "https://huggingface.co/lab/x", "n": 3,
    }
    out = scrub(value)
    assert out["command"] == "forcefields finetune --out ft --data eth.extxyz"
    assert out["paths"] == ["model", "runs/a/b", "../shared/data/rmd17", "f.xyz"]
    assert out["units"] == value["units"] and out["url"] == value["url"] and out["n"] == 3
    assert public_path("/a/b/c.json") == "c.json" and interpreter_name("/work/peers/mace/bin/python") == "mace/bin/python"


@pytest.mark.parametrize("folder", ["benchmarks/results", "checkpoints"])
def test_committed_results_and_checkpoints_hold_no_absolute_path(folder):
    files = [p for p in (REPO / folder).rglob("*") if p.is_file() and p.suffix in TEXT]
    assert files, f"nothing to check under {folder}"
    found = {str(p.relative_to(REPO)): find_local_paths(p.read_text(encoding="utf-8", errors="replace")) for p in files}
    assert {k: v for k, v in found.items() if v} == {}
