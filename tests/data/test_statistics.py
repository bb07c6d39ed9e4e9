"""Statistics of the training split against a direct numpy computation."""

from __future__ import annotations

import numpy as np
import pytest

from forcefields.data import MolecularDataModule, compute_statistics
from forcefields.data.statistics import DatasetStatistics


def test_statistics_match_numpy(xyz_file):
    path, frames = xyz_file
    cutoff = 2.5
    dm = MolecularDataModule(
        [{"path": str(path), "energy_key": "REF_energy", "forces_key": "REF_forces"}],
        cutoff=cutoff, split={"train": 15, "val": 4, "test": 5, "seed": 0}, dtype="float64", verbose=False,
    )
    dm.setup()
    train = [frames[i] for i in dm.splits[str(path)]["train"]]
    elements = [1, 6, 8]
    counts = np.array([[np.sum(a.numbers == z) for z in elements] for a in train], dtype=float)
    e = np.array([a.get_potential_energy() for a in train])
    e0, *_ = np.linalg.lstsq(counts, e, rcond=None)
    f = np.concatenate([a.get_forces() for a in train])
    neighbours = sum(((a.get_all_distances() < cutoff).sum() - len(a)) for a in train) / sum(len(a) for a in train)
    resid = (e - counts @ e0) / counts.sum(1)

    s = dm.statistics
    assert s.elements == elements
    assert [s.atomic_energies[z] for z in elements] == pytest.approx(e0.tolist(), rel=1e-9, abs=1e-9)
    assert s.force_rms == pytest.approx(np.sqrt(np.mean(f**2)), rel=1e-9)
    assert s.avg_num_neighbors == pytest.approx(neighbours, rel=1e-12)
    assert s.energy_residual_std == pytest.approx(resid.std(), rel=1e-6, abs=1e-12)
    assert s.num_frames == 15 and s.num_atoms == int(counts.sum()) and s.cutoff == cutoff
    # the generic path (an iterable of Data objects) agrees with the fast path
    generic = compute_statistics(list(dm.train_dataset), cutoff=cutoff)
    assert generic.atomic_energies == pytest.approx(s.atomic_energies)
    assert generic.avg_num_neighbors == pytest.approx(s.avg_num_neighbors)
    # round trip through a dict (what checkpoints store)
    assert DatasetStatistics.from_dict(s.to_dict()) == s


def test_statistics_use_training_split_only(rmd17_root):
    dm = MolecularDataModule(["rmd17:ethanol"], root=rmd17_root, split={"train": 5, "val": 5, "test": 20, "seed": 1},
                             verbose=False)
    dm.setup()
    from forcefields.data.sources import load_source

    fs = load_source("rmd17:ethanol", root=rmd17_root)
    train = dm.splits["rmd17:ethanol"]["train"]
    forces = fs.forces.reshape(fs.num_frames, -1, 3)
    assert dm.statistics.force_rms == pytest.approx(np.sqrt(np.mean(forces[train] ** 2)), rel=1e-5)
    assert dm.statistics.force_rms != pytest.approx(np.sqrt(np.mean(forces**2)), rel=1e-5)
    # single molecule: E0 reproduces the mean training energy exactly
    e0 = sum(dm.statistics.atomic_energies[z] * c for z, c in zip([1, 6, 8], [6, 2, 1]))
    assert e0 == pytest.approx(fs.energy[train].mean(), rel=1e-9)
