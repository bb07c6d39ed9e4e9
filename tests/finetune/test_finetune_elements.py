"""Elements the parent never saw: refused with their names, or added to the element table."""

from __future__ import annotations

import json

import lightning as L
import numpy as np
import pytest
import torch

import forcefields
from forcefields.training.finetune_elements import element_tables, extend_elements

from . import _tiny


@pytest.fixture(scope="module")
def with_nitrogen(ft_dir):
    frames = _tiny.labelled(("NH3", "CH3OH", "H2O", "CH4", "HCN"), 30, seed=11, offsets=_tiny.OFFSETS)
    return _tiny.write(ft_dir / "with_n.extxyz", frames)


@pytest.mark.parametrize("name", ["mpnn-xs", "esen-l1-xs"])
def test_extended_model_predicts_known_elements_as_before(name):
    parent = _tiny.tiny_parent(name, dtype=torch.float64, hidden=4 if "esen" in name else 16).eval()
    extended, old_rows = extend_elements(parent, [7])
    assert extended.config.elements == (1, 6, 7, 8) and parent.config.elements == (1, 6, 8)
    assert sorted(old_rows) == sorted(element_tables(parent))
    for table, rows in old_rows.items():
        old, new = parent.state_dict()[table], extended.state_dict()[table]
        assert rows.tolist() == [0, 1, 3]  # O moved from row 2 to row 3
        assert torch.equal(new[rows], old)
        assert torch.allclose(new[2], old.mean(0))
    frame = _tiny.labelled(("CH3OH",), 1, seed=4)[0]
    e_parent, f_parent = _tiny.predict(parent, frame)
    e_ext, f_ext = _tiny.predict(extended.eval(), frame)
    assert e_ext == pytest.approx(e_parent, abs=1e-10)
    np.testing.assert_allclose(f_ext, f_parent, atol=1e-10)


def test_new_elements_are_refused_by_name(parent_dir, with_nitrogen):
    with pytest.raises(ValueError, match=r"N \(Z=7\).*never trained on.*--new-elements extend"):
        forcefields.finetune(
            str(parent_dir), str(with_nitrogen), energy_key="REF_energy", forces_key="REF_forces", verbose=False,
        )


def test_new_elements_are_learned_with_extend(parent_dir, with_nitrogen, ft_dir):
    parent = forcefields.load(str(parent_dir))
    before = _tiny.tree_hashes(parent_dir)
    trainer = L.Trainer(  # a Trainer the user set up themselves
        max_epochs=2, inference_mode=False, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, accelerator="cpu",
    )
    out = ft_dir / "ft-nitrogen"
    result = forcefields.finetune(
        str(parent_dir), str(with_nitrogen), out=out, energy_key="REF_energy", forces_key="REF_forces",
        new_elements="extend", freeze=1, split="0.8,0.2", trainer=trainer, verbose=False, print_table=False,
    )
    model = result.model
    assert model.config.elements == (1, 6, 7, 8) and result.metrics["new_elements"] == [7]
    assert result.metrics["before"] is None  # the parent cannot read nitrogen
    assert result.metrics["epochs"] == 2
    # the embedding is frozen (freeze=1) except the new row, which learned from the mean start
    old = parent.embedding.weight.detach()
    new = model.embedding.weight.detach()
    assert torch.equal(new[[0, 1, 3]], old)
    assert not torch.allclose(new[2], old.mean(0))
    # nitrogen's E0 comes from the refit; nothing else in the parent changed
    e0 = result.metrics["reference_energies"]["atomic_energies"]
    assert e0["7"] == pytest.approx(_tiny.OFFSETS[7], abs=5.0)
    assert _tiny.tree_hashes(parent_dir) == before

    loaded = forcefields.load(str(out))
    assert loaded.config.elements == (1, 6, 7, 8)
    frame = _tiny.labelled(("NH3",), 1, seed=9)[0]
    assert _tiny.predict(loaded, frame)[0] == pytest.approx(_tiny.predict(model.cpu(), frame)[0], abs=1e-4)
    config = json.loads((out / "config.json").read_text())
    assert config["training"]["new_elements"] == [7]
