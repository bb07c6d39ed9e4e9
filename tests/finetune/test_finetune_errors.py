"""Bad input gets one clear sentence, and the parent checkpoint is never touched."""

from __future__ import annotations

import lightning as L
import pytest

import forcefields
from forcefields.zoo.errors import PretrainedNotFoundError

from . import _tiny
from .conftest import HCO

KEYS = dict(energy_key="REF_energy", forces_key="REF_forces", verbose=False)


@pytest.fixture(scope="module")
def untouched(parent_dir):
    """Hashes of the parent's files before these tests; checked again at the end of each."""
    return _tiny.tree_hashes(parent_dir)


@pytest.fixture(autouse=True)
def _parent_stays_the_same(untouched, parent_dir):
    yield
    assert _tiny.tree_hashes(parent_dir) == untouched


def test_missing_forces_names_the_key_and_what_exists(parent_dir, tmp_path):
    frames = _tiny.labelled(HCO, 12, seed=1)
    for atoms in frames:
        atoms.arrays["dft_forces"] = atoms.arrays.pop("REF_forces")
    path = _tiny.write(tmp_path / "noforces.extxyz", frames)
    with pytest.raises(ValueError, match=r"no forces under 'REF_forces'.*dft_forces"):
        forcefields.finetune(str(parent_dir), str(path), **KEYS)


def test_missing_energies_names_the_key_and_what_exists(parent_dir, new_data):
    with pytest.raises(ValueError, match=r"no energy under 'energy'.*REF_energy"):
        forcefields.finetune(str(parent_dir), str(new_data), forces_key="REF_forces", verbose=False)


def test_a_declared_unit_that_disagrees_is_refused(parent_dir, tmp_path):
    path = _tiny.write(tmp_path / "kcal.extxyz", _tiny.labelled(HCO, 12, seed=1), energy_unit="kcal/mol")
    with pytest.raises(ValueError, match=r"declares energies in kcal/mol.*--units kcal/mol"):
        forcefields.finetune(str(parent_dir), str(path), **KEYS)
    with pytest.raises(ValueError, match="unknown energy unit 'furlong'"):
        forcefields.finetune(str(parent_dir), str(path), units="furlong", **KEYS)


def test_too_few_frames_for_a_validation_split(parent_dir, tmp_path):
    path = _tiny.write(tmp_path / "five.extxyz", _tiny.labelled(HCO, 5, seed=1))
    with pytest.raises(ValueError, match=r"has 5 frames, too few for a validation split of 0.1 \(it needs at least 10\)"):
        forcefields.finetune(str(parent_dir), str(path), **KEYS)


def test_a_parent_that_does_not_resolve(new_data, tmp_path):
    with pytest.raises(PretrainedNotFoundError, match="no pretrained model named 'mpnn-xs.nowhere'"):
        forcefields.finetune("mpnn-xs.nowhere", str(new_data), **KEYS)
    with pytest.raises(FileNotFoundError, match="not a forcefields checkpoint"):
        forcefields.finetune(str(tmp_path), str(new_data), **KEYS)


def test_output_over_the_parent_or_a_foreign_folder_is_refused(parent_dir, new_data, tmp_path):
    with pytest.raises(ValueError, match="parent checkpoint's folder"):
        forcefields.finetune(str(parent_dir), str(new_data), out=parent_dir, **KEYS)
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not a forcefields checkpoint"):
        forcefields.finetune(str(parent_dir), str(new_data), out=tmp_path, **KEYS)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_bad_options(parent_dir, new_data):
    with pytest.raises(ValueError, match="new_elements='add' is not known"):
        forcefields.finetune(str(parent_dir), str(new_data), new_elements="add", **KEYS)
    with pytest.raises(ValueError, match="split '0.9' needs two"):
        forcefields.finetune(str(parent_dir), str(new_data), split="0.9", **KEYS)
    with pytest.raises(ValueError, match="replay=0.2 needs the parent's training data"):
        forcefields.finetune(str(parent_dir), str(new_data), replay=0.2, **KEYS)
    with pytest.raises(ValueError, match="more interaction blocks than the model has"):
        forcefields.finetune(str(parent_dir), str(new_data), freeze=5, **KEYS)


def test_a_trainer_in_inference_mode_is_refused(parent_dir, new_data):
    trainer = L.Trainer(max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False)
    with pytest.raises(ValueError, match="inference_mode=False"):
        forcefields.finetune(str(parent_dir), str(new_data), trainer=trainer, **KEYS)
