"""MolecularDataModule: batches per docs/ARCHITECTURE.md, splits per source, dtypes, loaders."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from forcefields.data import MolecularDataModule
from forcefields.data.errors import DataError

from ._tiny import energies


def _dm(sources, root=None, **kw):
    kw.setdefault("split", {"train": 10, "val": 4, "test": 6, "seed": 0})
    kw.setdefault("batch_size", 4)
    kw.setdefault("verbose", False)
    dm = MolecularDataModule(sources, root=root, **kw)
    dm.prepare_data()
    dm.setup()
    return dm


def test_batch_fields(xyz_file):
    path, frames = xyz_file
    dm = _dm([{"path": str(path), "energy_key": "REF_energy", "forces_key": "REF_forces"}], cutoff=3.0)
    batch = next(iter(dm.train_dataloader()))
    B, n = batch.num_graphs, batch.z.shape[0]
    assert B == 4
    assert batch.z.dtype == torch.long and batch.z.shape == (n,)
    assert batch.pos.dtype == torch.float32 and batch.pos.shape == (n, 3)
    assert batch.forces.dtype == torch.float32 and batch.forces.shape == (n, 3)
    assert batch.energy.dtype == torch.float32 and batch.energy.shape == (B,)
    assert batch.natoms.dtype == torch.long and int(batch.natoms.sum()) == n
    assert batch.cell.shape == (B, 3, 3) and not batch.cell.any()
    assert batch.pbc.shape == (B, 3) and batch.pbc.dtype == torch.bool and not batch.pbc.any()
    assert batch.edge_index.dtype == torch.long
    ei = batch.edge_index
    assert torch.equal(batch.batch[ei[0]], batch.batch[ei[1]])
    d = (batch.pos[ei[0]] - batch.pos[ei[1]]).norm(dim=-1)
    assert bool((d < 3.0).all())
    # every pair within the cutoff is an edge
    from forcefields.data.neighbors import radius_graph

    assert torch.equal(radius_graph(batch.pos, 3.0, batch.batch), ei)
    # energies are the EMT energies of the frames (eV), up to float32 rounding
    ref = energies(frames)
    for e in batch.energy.double():
        assert np.min(np.abs(ref - float(e))) < 1e-4 * max(1.0, abs(float(e)))


def test_float64_on_request(rmd17_root):
    dm = _dm(["rmd17:ethanol"], rmd17_root, dtype="float64")
    batch = next(iter(dm.val_dataloader()))
    assert batch.pos.dtype == batch.forces.dtype == batch.energy.dtype == batch.cell.dtype == torch.float64


def test_loaders_and_sizes(rmd17_root):
    dm = _dm(["rmd17:ethanol"], rmd17_root)
    sizes = {k: sum(b.num_graphs for b in getattr(dm, f"{k}_dataloader")()) for k in ("train", "val", "test")}
    assert sizes == {"train": 10, "val": 4, "test": 6}
    predicted = [b.energy for b in dm.predict_dataloader()]
    tested = [b.energy for b in dm.test_dataloader()]
    assert all(torch.equal(a, b) for a, b in zip(predicted, tested))
    assert dm.describe()["rmd17:ethanol"]["train"] == 10


def test_rmd17_protocol_on_tiny_per_split_files(rmd17_root):
    dm = _dm(["rmd17:ethanol"], rmd17_root, split={"protocol": "rmd17:1", "train": 15, "val": 5, "seed": 2})
    s = dm.splits["rmd17:ethanol"]
    assert (len(s["train"]), len(s["val"]), len(s["test"])) == (15, 5, 10)
    assert not set(s["train"]) & set(s["test"])


def test_several_sources_each_in_every_split(rmd17_root):
    dm = _dm(["rmd17:ethanol", "rmd17:benzene"], rmd17_root, split={"train": 0.5, "val": 0.25, "test": 0.25, "seed": 1})
    for name in ("train", "val", "test"):
        natoms = torch.cat([b.natoms for b in getattr(dm, f"{name}_dataloader")()])
        assert set(natoms.tolist()) == {9, 12}  # ethanol and benzene both present
    assert dm.statistics.elements == [1, 6, 8]
    assert dm.statistics.sources == ["rmd17:ethanol", "rmd17:benzene"]


def test_split_is_deterministic(rmd17_root):
    a = _dm(["rmd17:ethanol"], rmd17_root, use_cache=False)
    b = _dm(["rmd17:ethanol"], rmd17_root, use_cache=False)
    c = _dm(["rmd17:ethanol"], rmd17_root, use_cache=False, split={"train": 10, "val": 4, "test": 6, "seed": 9})
    sa, sb, sc = (x.splits["rmd17:ethanol"] for x in (a, b, c))
    assert all(np.array_equal(sa[k], sb[k]) for k in sa)
    assert not np.array_equal(sa["train"], sc["train"])
    # a seed given beside the split applies when the split names none
    d = _dm(["rmd17:ethanol"], rmd17_root, use_cache=False, split={"train": 10, "val": 4, "test": 6}, seed=9)
    assert np.array_equal(d.splits["rmd17:ethanol"]["train"], sc["train"])
    # shuffled training order is reproducible too
    ea = torch.cat([x.energy for x in a.train_dataloader()])
    eb = torch.cat([x.energy for x in b.train_dataloader()])
    assert torch.equal(ea, eb)


def test_empty_split_is_an_error(rmd17_root):
    dm = _dm(["rmd17:ethanol"], rmd17_root, split={"train": 10, "test": 5})
    with pytest.raises(DataError, match=r"the 'val' split is empty.*limit_val_batches=0"):
        dm.val_dataloader()
    with pytest.raises(DataError, match="training split is empty"):
        _dm(["rmd17:ethanol"], rmd17_root, split={"train": 0, "val": 3})


def test_statistics_before_setup_is_an_error(rmd17_root):
    dm = MolecularDataModule(["rmd17:ethanol"], root=rmd17_root, verbose=False)
    with pytest.raises(RuntimeError, match="call dm.setup"):
        dm.statistics


def test_trains_with_lightning(rmd17_root):
    """The loaders feed a Lightning fit loop (one tiny epoch)."""
    import lightning as L

    class Tiny(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(()))

        def training_step(self, batch, _):
            return ((batch.energy - self.w) ** 2).mean()

        def validation_step(self, batch, _):
            self.log("val", ((batch.energy - self.w) ** 2).mean(), batch_size=batch.num_graphs)

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=1e-3)

    dm = MolecularDataModule(["rmd17:ethanol"], root=rmd17_root, split={"train": 8, "val": 4, "test": 4},
                             batch_size=4, verbose=False)
    trainer = L.Trainer(max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, accelerator="cpu")
    trainer.fit(Tiny(), datamodule=dm)
    assert trainer.global_step == 2
