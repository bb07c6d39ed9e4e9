"""Checkpoint folders: save -> load round trips and every malformed-checkpoint error."""

from __future__ import annotations

import json

import pytest
import torch

import forcefields
from forcefields.zoo import ChecksumError, CheckpointError, FormatVersionError
from forcefields.zoo.card import card_num_parameters, read_card
from forcefields.zoo.format import FORMAT_VERSION, sha256_file
from forcefields.zoo.reference import compare_reference

from ._toy import ethanol, labelled_frames, make_toy, predict


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("force_mode", ["conservative", "direct"])
def test_round_trip_reproduces_predictions_exactly(toy_family, tmp_path, dtype, force_mode):
    model = make_toy(dtype=dtype, force_mode=force_mode)
    path = forcefields.save(model, tmp_path / "toy.ethanol", metrics={"force_mae": 12.5})
    loaded = forcefields.load(path)
    assert not loaded.training
    assert next(loaded.parameters()).dtype == dtype
    for k, v in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v), k
    atoms = ethanol(seed=7)
    e0, f0 = predict(model, atoms)
    e1, f1 = predict(loaded, atoms)
    assert torch.equal(e0, e1) and torch.equal(f0, f1)


def test_load_casts_to_the_requested_dtype(toy_family, tmp_path):
    path = forcefields.save(make_toy(dtype=torch.float32), tmp_path / "toy.ethanol")
    loaded = forcefields.load(path, dtype="float64")
    assert next(loaded.parameters()).dtype == torch.float64
    assert loaded.atomic_energies.dtype == torch.float64


def test_registered_families_round_trip(tmp_path):
    """Every real family (at a tiny width) survives save -> load bit for bit."""
    from forcefields.models import create_model, list_families, list_models

    atoms = ethanol(seed=3)
    families = [f for f in list_families() if list_models(f)]
    assert families, "no registered model families"
    for family in families:
        model = create_model(list_models(family)[0], dtype=torch.float64, seed=1, hidden=8, num_layers=1).eval()
        path = forcefields.save(model, tmp_path / f"{family}.ethanol")
        loaded = forcefields.load(path)
        e0, f0 = predict(model, atoms)
        e1, f1 = predict(loaded, atoms)
        assert torch.equal(e0, e1) and torch.equal(f0, f1), family


def test_folder_contents(toy_family, tmp_path):
    model = make_toy()
    frames = labelled_frames(2)
    metrics = {"energy_mae": 3.2, "force_mae": 11.0, "split": "toy test frames", "command": "pytest tests/zoo"}
    training = {"dataset": "toy ethanol", "seed": 0, "epochs": 1}
    path = forcefields.save(model, tmp_path / "toyzoo-s.ethanol", metrics=metrics, training=training,
                            reference=frames, card={"limitations": "A toy."})
    assert sorted(p.name for p in path.iterdir()) == [
        "README.md", "config.json", "model.safetensors", "reference.extxyz", "reference_prediction.json"]
    config = json.loads((path / "config.json").read_text())
    assert config["format_version"] == FORMAT_VERSION
    assert (config["name"], config["variant"], config["tag"], config["family"]) == (
        "toyzoo-s.ethanol", "toyzoo-s", "ethanol", "toyzoo")
    assert config["units"] == {"energy": "eV", "length": "Å", "forces": "eV/Å"}
    assert config["dtype"] == "float64" and config["force_mode"] == "conservative"
    assert config["elements"] == [1, 6, 8] and config["atomic_energies"]["6"] == -1029.8
    assert config["library_version"] == forcefields.__version__
    assert config["metrics"] == metrics and config["training"] == training
    assert config["weights"]["sha256"] == sha256_file(path / "model.safetensors")
    n = sum(p.numel() for p in model.parameters())
    assert config["num_parameters"] == n
    meta, body = read_card(path / "README.md")
    assert meta["license"] and "forcefields" in meta["tags"]
    assert meta["model-index"][0]["results"][0]["metrics"][1] == {
        "type": "force_mae", "value": 11.0, "name": "force_mae (meV/Å)"}
    assert card_num_parameters(body) == n
    for words in ("## Training data", "toy ethanol", "## Evaluation", "pytest tests/zoo", "## Intended use",
                  "A toy.", "meV/Å"):
        assert words in body, words
    diff = compare_reference(forcefields.load(path), path)
    assert diff["energy_diff"] == 0 and diff["force_diff"] == 0
    from forcefields.zoo.reference import read_reference_frames

    back = read_reference_frames(path)
    assert len(back) == 2 and back[1].get_potential_energy() == pytest.approx(frames[1].get_potential_energy())


def test_save_replaces_and_never_leaves_partial_folders(toy_family, tmp_path):
    path = tmp_path / "toy.ethanol"
    forcefields.save(make_toy(seed=0), path)
    with pytest.raises(TypeError):
        forcefields.save(make_toy(seed=1), path, reference="not atoms")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["toy.ethanol"]  # old one intact, no partial
    forcefields.load(path)
    forcefields.save(make_toy(seed=1), path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["toy.ethanol"]


def test_save_never_overwrites_a_folder_of_other_files(toy_family, tmp_path):
    (tmp_path / "notes.txt").write_text("precious")
    with pytest.raises(FileExistsError, match="no checkpoint"):
        forcefields.save(make_toy(), tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "precious"
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_save_refuses_a_name_of_another_family(toy_family, tmp_path):
    from forcefields.models import list_models

    other = list_models()[0]
    with pytest.raises(ValueError, match="pick a name"):
        forcefields.save(make_toy(), tmp_path / "x", name=f"{other}.ethanol")


@pytest.fixture
def saved(toy_family, tmp_path):
    return forcefields.save(make_toy(), tmp_path / "toy.ethanol")


def _edit_config(path, fn):
    cfg = json.loads((path / "config.json").read_text())
    fn(cfg)
    (path / "config.json").write_text(json.dumps(cfg))


def test_newer_format_version_is_refused(saved):
    _edit_config(saved, lambda c: c.update(format_version=FORMAT_VERSION + 1))
    with pytest.raises(FormatVersionError, match="upgrade forcefields"):
        forcefields.load(saved)


def test_missing_format_version_is_refused(saved):
    _edit_config(saved, lambda c: c.pop("format_version"))
    with pytest.raises(FormatVersionError, match="format_version"):
        forcefields.load(saved)


@pytest.mark.parametrize("key", ["family", "model", "weights", "dtype"])
def test_missing_config_key_is_named(saved, key):
    _edit_config(saved, lambda c: c.pop(key))
    with pytest.raises(CheckpointError, match=f"lacks the key\\(s\\) {key}"):
        forcefields.load(saved)


def test_other_units_are_refused(saved):
    _edit_config(saved, lambda c: c["units"].update(energy="kcal/mol"))
    with pytest.raises(CheckpointError, match="units"):
        forcefields.load(saved)


def test_unknown_family_is_refused(saved):
    _edit_config(saved, lambda c: c.update(family="nosuchfamily"))
    with pytest.raises(CheckpointError, match="nosuchfamily"):
        forcefields.load(saved)


def test_truncated_weights_are_refused(saved):
    w = saved / "model.safetensors"
    w.write_bytes(w.read_bytes()[:-10])
    with pytest.raises(ChecksumError, match="truncated"):
        forcefields.load(saved)


def test_altered_weights_are_refused(saved):
    w = saved / "model.safetensors"
    data = bytearray(w.read_bytes())
    data[-3] ^= 0xFF
    w.write_bytes(bytes(data))
    with pytest.raises(ChecksumError, match="sha256"):
        forcefields.load(saved)


def test_weights_of_another_model_are_refused(toy_family, tmp_path):
    a = forcefields.save(make_toy(hidden=8), tmp_path / "a")
    b = forcefields.save(make_toy(hidden=4), tmp_path / "b")
    (a / "model.safetensors").write_bytes((b / "model.safetensors").read_bytes())
    _edit_config(a, lambda c: c.update(weights=json.loads((b / "config.json").read_text())["weights"]))
    with pytest.raises(CheckpointError, match="do not fit"):
        forcefields.load(a)


def test_not_a_checkpoint(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a forcefields checkpoint"):
        forcefields.load(tmp_path)
    with pytest.raises(FileNotFoundError, match="no checkpoint folder"):
        forcefields.load(tmp_path / "missing" / "folder")
