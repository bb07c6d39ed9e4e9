"""The real revised-MD17 aspirin files in ../shared/data (per-split layout), rmd17:1 protocol."""

from __future__ import annotations

import pytest
import torch

from forcefields.data import MolecularDataModule


@pytest.mark.shared_data
def test_rmd17_aspirin_protocol(shared_data):
    dm = MolecularDataModule(["rmd17:aspirin"], root=shared_data / "rmd17", split="rmd17:1", batch_size=50,
                             verbose=False)
    dm.prepare_data()
    dm.setup()
    s = dm.splits["rmd17:aspirin"]
    assert (len(s["train"]), len(s["val"]), len(s["test"])) == (950, 50, 1000)
    assert not set(s["train"]) & set(s["test"]) and not set(s["train"]) & set(s["val"])
    batch = next(iter(dm.test_dataloader()))
    assert batch.num_graphs == 50 and batch.natoms.tolist() == [21] * 50
    assert batch.z.shape == (50 * 21,)
    # converted to eV: aspirin's PBE total energy is about -406,000 kcal/mol = -17,600 eV
    assert -17700 < float(batch.energy.mean()) < -17500
    assert dm.statistics.elements == [1, 6, 8] and dm.statistics.num_frames == 950
    assert 0.5 < dm.statistics.force_rms < 3.0
    assert torch.isfinite(batch.forces).all()
