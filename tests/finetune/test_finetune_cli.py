"""``forcefields finetune`` on the command line: the before/after table, the checkpoint, errors."""

from __future__ import annotations

import json

import forcefields
from forcefields.cli import main


def test_cli_prints_the_table_and_writes_a_loadable_checkpoint(parent_dir, new_data, tmp_path, capsys, monkeypatch):
    out = tmp_path / "mpnn-xs.cli-ft"
    rc = main([
        "finetune", "--from", str(parent_dir), "--data", str(new_data), "--out", str(out),
        "--energy-key", "REF_energy", "--forces-key", "REF_forces", "--max-epochs", "2",
        "--split", "0.8,0.2", "--freeze", "backbone", "--name", "mpnn-xs.cli-ft", "--no-progress-bar",
    ])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "errors on the validation split" in printed and "(8 frames)" in printed
    for row in ("parent mpnn-xs.tiny-parent", "E0 refit", "fine-tuned", "energy MAE (meV)", "force MAE (meV/Å)"):
        assert row in printed
    model = forcefields.load(str(out))
    monkeypatch.setenv("FORCEFIELDS_CHECKPOINTS", str(tmp_path))  # and by name, like a shipped model
    assert forcefields.load("mpnn-xs.cli-ft").config.to_dict() == model.config.to_dict()
    config = json.loads((out / "config.json").read_text())
    assert config["name"] == "mpnn-xs.cli-ft" and model.config.elements == (1, 6, 8)
    command = config["training"]["command"]
    assert command.startswith("forcefields finetune --from ") and "--freeze backbone" in command
    assert command in (out / "README.md").read_text()


def test_cli_error_is_one_line(new_data, tmp_path, capsys):
    rc = main(["finetune", "--from", "mpnn-xs.nowhere", "--data", str(new_data), "--out", str(tmp_path / "x")])
    err = capsys.readouterr().err.strip()
    assert rc == 1 and len(err.splitlines()) == 1
    assert err.startswith("forcefields: error: no pretrained model named 'mpnn-xs.nowhere'")
