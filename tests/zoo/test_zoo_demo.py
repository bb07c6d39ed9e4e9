"""The demo runs end to end on a tiny model, and says clearly when nothing is shipped."""

from __future__ import annotations

import forcefields
from forcefields import demo

from ._toy import labelled_frames, make_toy


def test_demo_runs_md_and_reports(toy_family, ckpt_dir, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    folder = forcefields.save(make_toy(), ckpt_dir / "toyzoo-s.ethanol", reference=labelled_frames(3))
    assert demo.main(["--model", str(folder), "--langevin-steps", "10", "--nve-steps", "20"]) == 0
    out = capsys.readouterr().out
    for words in ("NVE energy drift", "meV/atom/ps", "force MAE vs reference (3 frames)", "meV/Å", "C2H6O"):
        assert words in out, words


def test_demo_without_a_shipped_model_says_what_to_do(ckpt_dir, capsys):
    assert demo.main([]) == 1
    out = capsys.readouterr().out
    assert "No shipped aspirin model" in out and "--model" in out


def test_pick_model_prefers_the_lowest_force_error(toy_family, ckpt_dir):
    from forcefields.zoo import build_index

    forcefields.save(make_toy(seed=0), ckpt_dir / "toyzoo-s.rmd17-aspirin", metrics={"force_mae": 30.0})
    forcefields.save(make_toy(seed=1), ckpt_dir / "toyzoo-m.rmd17-aspirin", metrics={"force_mae": 20.0})
    forcefields.save(make_toy(seed=2), ckpt_dir / "toyzoo-l.rmd17-ethanol", metrics={"force_mae": 1.0})
    build_index(ckpt_dir)
    assert demo.pick_model("aspirin") == "toyzoo-m.rmd17-aspirin"
