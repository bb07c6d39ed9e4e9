"""Names: shipped folders, the index, the cache, a folder hub, and the errors on the way."""

from __future__ import annotations

import json

import pytest
import torch

import forcefields
from forcefields.zoo import ChecksumError, PretrainedNotFoundError, build_index
from forcefields.zoo.index import main as index_main
from forcefields.zoo.index import read_index
from forcefields.zoo.resolve import cache_root

from ._toy import ethanol, make_toy, predict

NAME = "toyzoo-s.ethanol"


@pytest.fixture
def shipped(toy_family, ckpt_dir):
    model = make_toy()
    forcefields.save(model, ckpt_dir / NAME, metrics={"force_mae": 9.5, "energy_mae": 2.0})
    build_index(ckpt_dir)
    return model, ckpt_dir


def test_load_by_name_from_shipped_folder(shipped):
    model, _ = shipped
    loaded = forcefields.load(NAME, dtype="float64")
    atoms = ethanol(seed=1)
    assert all(torch.equal(a, b) for a, b in zip(predict(model, atoms), predict(loaded, atoms)))


def test_index_lists_checksums_parameters_and_metrics(shipped):
    model, d = shipped
    (entry,) = read_index(d / "index.json")
    assert entry.name == NAME and entry.data == "ethanol" and entry.family == "toyzoo"
    assert entry.num_parameters == sum(p.numel() for p in model.parameters())
    assert entry.metrics["force_mae"] == 9.5
    assert set(entry.files) >= {"config.json", "model.safetensors", "README.md", "reference_prediction.json"}
    assert all(len(f["sha256"]) == 64 and f["size"] > 0 for f in entry.files.values())
    assert entry.size_bytes == sum(f["size"] for f in entry.files.values())
    listed = {e.name: e for e in forcefields.list_pretrained()}
    assert listed[NAME].source == "shipped" and listed[NAME].metrics["force_mae"] == 9.5


def test_index_rebuild_keeps_hub_pins_until_files_change(shipped, capsys):
    _, d = shipped
    data = json.loads((d / "index.json").read_text())
    data["models"][0].update(hub_repo="someorg/toy", revision="a" * 40)
    (d / "index.json").write_text(json.dumps(data))
    assert index_main([str(d)]) == 0
    assert "1 checkpoint" in capsys.readouterr().out
    (entry,) = read_index(d / "index.json")
    assert (entry.hub_repo, entry.revision) == ("someorg/toy", "a" * 40)
    forcefields.save(make_toy(seed=5), d / NAME)  # retrained: the pinned commit no longer matches
    (entry,) = build_index(d)
    assert (entry.hub_repo, entry.revision) == ("someorg/toy", None)


def test_weights_altered_after_indexing_are_refused(shipped):
    _, d = shipped
    w = d / NAME / "model.safetensors"
    data = bytearray(w.read_bytes())
    data[-1] ^= 0x01
    w.write_bytes(bytes(data))
    with pytest.raises(ChecksumError, match="index"):
        forcefields.load(NAME)


def test_unknown_name_suggests_close_names_and_offline_switches(shipped, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(PretrainedNotFoundError) as err:
        forcefields.load("toyzoo-s.ethanoll")
    msg = str(err.value)
    for words in ("'toyzoo-s.ethanoll'", f"Did you mean {NAME}", "HF_HUB_OFFLINE", "FORCEFIELDS_CHECKPOINTS",
                  "FORCEFIELDS_HUB_DIR", str(cache_root())):
        assert words in msg, words


def test_pretrained_info_shows_the_card(shipped):
    info = forcefields.pretrained_info(NAME)
    assert info.config["name"] == NAME and info.path is not None
    assert "## Evaluation" in info.card and info.card_num_parameters == info.entry.num_parameters


def test_folder_hub_push_then_load_by_name(toy_family, tmp_path, monkeypatch):
    hub = tmp_path / "hub"
    monkeypatch.setenv("FORCEFIELDS_HUB_DIR", str(hub))
    monkeypatch.setenv("FORCEFIELDS_HUB_ORG", "lab")
    model = make_toy()
    src = forcefields.save(model, tmp_path / "work" / NAME)
    result = forcefields.push(src, f"lab/{NAME}")
    assert (hub / "lab" / NAME / "model.safetensors").is_file() and result.commit is None
    loaded = forcefields.load(NAME)  # not shipped, not cached: fetched from the folder hub
    atoms = ethanol(seed=2)
    assert all(torch.equal(a, b) for a, b in zip(predict(model, atoms), predict(loaded, atoms)))
    cached = cache_root() / NAME
    assert (cached / "config.json").is_file() and (cached / ".source.json").is_file()
    assert [p.name for p in cache_root().iterdir()] == [NAME]


def test_bad_download_never_replaces_the_cached_copy(toy_family, tmp_path, monkeypatch):
    hub = tmp_path / "hub"
    monkeypatch.setenv("FORCEFIELDS_HUB_DIR", str(hub))
    monkeypatch.setenv("FORCEFIELDS_HUB_ORG", "lab")
    forcefields.push(forcefields.save(make_toy(), tmp_path / "work" / NAME), f"lab/{NAME}")
    good = forcefields.pull(NAME)
    before = (good / "model.safetensors").read_bytes()
    w = hub / "lab" / NAME / "model.safetensors"
    w.write_bytes(w.read_bytes()[:-100])  # a truncated upload
    with pytest.raises(ChecksumError):
        forcefields.pull(NAME)
    assert (good / "model.safetensors").read_bytes() == before
    assert [p.name for p in cache_root().iterdir()] == [NAME]  # no partial folder left behind
    forcefields.load(NAME)


def test_missing_name_in_folder_hub(tmp_path, monkeypatch):
    monkeypatch.setenv("FORCEFIELDS_HUB_DIR", str(tmp_path / "hub"))
    with pytest.raises(PretrainedNotFoundError, match="FORCEFIELDS_HUB_DIR"):
        forcefields.load("nothing-s.here")
    assert not cache_root().exists() or not any(cache_root().iterdir())


def test_push_refuses_offline(toy_family, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("FORCEFIELDS_HUB_DIR", raising=False)
    src = forcefields.save(make_toy(), tmp_path / NAME)
    with pytest.raises(ValueError, match="HF_HUB_OFFLINE"):
        forcefields.push(src, f"lab/{NAME}")
