"""One real fine-tuning run, end to end: errors go down, the checkpoint loads and records its parent."""

from __future__ import annotations

import json

import numpy as np
import pytest

import forcefields
from forcefields.zoo.format import sha256_file

from . import _tiny


@pytest.fixture(scope="module")
def run(parent_dir, new_data, ft_dir):
    parent_files = _tiny.tree_hashes(parent_dir)
    out = ft_dir / "ft-main"
    result = forcefields.finetune(
        str(parent_dir), str(new_data), out=out, name="mpnn-xs.tiny-ft",
        energy_key="REF_energy", forces_key="REF_forces", split="0.6,0.2,0.2",
        max_epochs=20, batch_size=4, lr=2e-3, warmup_steps=0, forces_weight=10.0, verbose=False, print_table=False,
    )
    return result, parent_files, out


def test_finetuning_lowers_the_error_on_the_new_data(run):
    result, _, _ = run
    m = result.metrics
    assert m["split"] == "test" and m["frames"]["test"] == 8
    # the refit alone fixes the energy zero of the other "code" ...
    assert m["before_refit"]["energy_mae"] < 0.05 * m["before"]["energy_mae"]
    # ... and training then lowers both errors further
    assert m["after"]["forces_mae"] < 0.9 * m["before_refit"]["forces_mae"]
    assert m["after"]["energy_mae"] < m["before_refit"]["energy_mae"]
    assert m["best_epoch"] is not None and m["epochs"] >= 1


def test_parent_checkpoint_is_never_modified(run, parent_dir):
    _, before, _ = run
    assert _tiny.tree_hashes(parent_dir) == before


def test_output_checkpoint_loads_and_records_its_parent(run, parent_dir, new_data):
    result, _, out = run
    loaded = forcefields.load(str(out))
    frame = _tiny.labelled(("CH3OH",), 1, seed=3)[0]
    e_loaded, f_loaded = _tiny.predict(loaded, frame)
    e_result, f_result = _tiny.predict(result.model.cpu(), frame)
    assert e_loaded == pytest.approx(e_result, abs=1e-4)
    np.testing.assert_allclose(f_loaded, f_result, atol=1e-5)

    config = json.loads((out / "config.json").read_text())
    parent_config = json.loads((parent_dir / "config.json").read_text())
    assert config["name"] == "mpnn-xs.tiny-ft" and config["variant"] == "mpnn-xs"
    recorded = config["training"]["finetuned_from"]
    assert recorded["name"] == "mpnn-xs.tiny-parent"
    assert recorded["weights_sha256"] == parent_config["weights"]["sha256"]
    data = config["training"]["data"]
    assert data["sha256"] == sha256_file(new_data)
    assert data["frames"] == 40 and data["split"] == {"train": 24, "val": 8, "test": 8}
    assert config["training"]["metrics_after"] == result.metrics["after"]
    assert config["metrics"]["force_mae"] == pytest.approx(result.metrics["after"]["forces_mae"])
    assert config["metrics"]["parent_force_mae"] == pytest.approx(result.metrics["before"]["forces_mae"])
    card = (out / "README.md").read_text()
    assert "mpnn-xs.tiny-parent" in card and recorded["weights_sha256"] in card
    assert sha256_file(new_data) in card


def test_refitted_e0_is_in_the_saved_model(run):
    result, _, out = run
    config = json.loads((out / "config.json").read_text())
    e0 = result.metrics["reference_energies"]["atomic_energies"]
    assert config["atomic_energies"] == pytest.approx(e0)
    assert config["training"]["reference_energies"]["mode"] == "refit"
    # the parent's E0 (0.1 Z eV) are far from the other code's zero; the saved ones are not
    for z in (1, 6, 8):
        assert abs(e0[str(z)] - 0.1 * z) > 5.0


def test_result_unpacks_as_model_and_metrics(run):
    result, _, _ = run
    model, metrics = result
    assert model is result.model and metrics is result.metrics
    assert isinstance(model, forcefields.ForceField) and not model.training
