"""A fine-tuned model pushed to the (test) Hub carries no absolute path, home folder or user name.

Everything local is made recognisable: the parent checkpoint and the data live
under a home folder named after a made-up user, HOME and USER say so, and the
paths are given absolute. The fine-tune runs through the CLI (so the recorded
command holds the paths too), the folder is pushed with the real
huggingface_hub client to forcefields.testing_hub, and every uploaded file is
searched.
"""

from __future__ import annotations

import os

import pytest

import forcefields
from forcefields.local_paths import find_local_paths
from forcefields.testing_hub import serve

from . import _tiny

USER = "zq-ada-lovelace-7"


@pytest.fixture
def fake_home(tmp_path, monkeypatch):
    home = tmp_path / "home" / USER
    home.mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("USER", USER)
    monkeypatch.setenv("LOGNAME", USER)
    return home


def test_pushed_finetuned_model_holds_nothing_local(fake_home, new_data, monkeypatch):
    from huggingface_hub import constants

    from forcefields.cli import main

    parent = forcefields.save(_tiny.tiny_parent(min_pair_distance={"1-6": 0.5, "6-8": 1.0}),
                              fake_home / "models" / "parent", name="mpnn-xs.tiny-parent")
    data = fake_home / "data" / "new.extxyz"
    data.parent.mkdir()
    data.write_bytes(new_data.read_bytes())
    out = fake_home / "runs" / "ft"
    code = main(["finetune", "--from", str(parent.resolve()), "--data", str(data.resolve()), "--out", str(out.resolve()),
                 "--name", "mpnn-xs.tiny-ft", "--energy-key", "REF_energy", "--forces-key", "REF_forces",
                 "--split", "0.6,0.2,0.2", "--max-epochs", "2", "--batch-size", "8", "--log-dir", str(fake_home / "logs")])
    assert code == 0
    config = forcefields.zoo.format.read_config(out)
    # the parent's record of shortest distances, lowered where the new data comes closer (H-O: new)
    shortest = config["model"]["min_pair_distance"]
    assert shortest["1-6"] == 0.5 and shortest["6-8"] <= 1.0 and 0.8 < shortest["1-8"] < 1.2

    with serve() as hub:
        monkeypatch.setattr(constants, "ENDPOINT", hub.url)
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        monkeypatch.delenv("FORCEFIELDS_HUB_DIR", raising=False)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
        forcefields.push(out, "lab/mpnn-xs.tiny-ft")
        uploaded = hub.files("lab/mpnn-xs.tiny-ft")

    assert {"config.json", "README.md", "model.safetensors"} <= set(uploaded)
    local = [str(fake_home), USER, str(parent.parent.parent), os.path.expanduser("~")]
    for name, content in uploaded.items():
        text = content.decode("utf-8", errors="replace")
        for word in local:
            assert word not in text, f"{name} holds the local {word!r}"
        if name != "model.safetensors":  # binary weights: only the literal strings above apply
            assert find_local_paths(text) == [], f"{name} holds absolute paths {find_local_paths(text)}"
    # names and hashes stay: the parent by name and weights sha256, the data by its file name
    card = uploaded["README.md"].decode()
    assert "mpnn-xs.tiny-parent" in card and "new.extxyz" in card
