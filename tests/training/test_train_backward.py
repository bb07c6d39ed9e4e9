"""The training backward pass reaches the trainable parameters only, with unchanged gradients."""

import pytest
import torch
from torch_geometric.data import Batch

from forcefields.models import create_model
from forcefields.training import ForceFieldModule, TrainConfig, build_trainer
from forcefields.training import module as module_file
from forcefields.training.backward import backward_to_parameters
from train_helpers import CUTOFF, tiny_datamodule, tiny_graphs, tiny_mpnn

SMALL = dict(cutoff=CUTOFF, elements=(1, 6, 7, 8), dtype=torch.float64, seed=0)


def _loss(model, batch):
    out = model(batch, compute_forces=True, create_graph=True)
    return (out["energy"] - batch.energy).square().sum() + (out["forces"] - batch.forces).square().sum()


def _batch():
    batch = Batch.from_data_list(tiny_graphs(3, dtype=torch.float64))
    batch.pos = batch.pos.clone().requires_grad_(True)  # a leaf the plain backward fills
    return batch


@pytest.mark.parametrize("name,size", [("mpnn-xs", {}), ("egnn-xs", {}), ("esen-l1-xs", {}), ("gemnet-xs", dict(hidden=8))])
def test_same_parameter_gradients_and_no_position_gradient(name, size):
    model = create_model(name, **SMALL, **size).train()
    batch = _batch()
    _loss(model, batch).backward()
    plain = [p.grad.clone() for p in model.parameters()]
    assert batch.pos.grad is not None
    model.zero_grad(set_to_none=True)
    batch = _batch()
    backward_to_parameters(_loss(model, batch), model)
    assert batch.pos.grad is None
    for (key, p), g in zip(model.named_parameters(), plain):
        assert torch.equal(p.grad, g), key


def test_frozen_parameters_get_no_gradient():
    model = tiny_mpnn(dtype=torch.float64).train()
    frozen = [p for k, p in model.named_parameters() if k.startswith("embedding")]
    assert frozen
    for p in frozen:
        p.requires_grad_(False)
    backward_to_parameters(_loss(model, _batch()), model)
    assert all(p.grad is None for p in frozen)
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_the_trainer_backward_goes_through_the_module(tmp_path, monkeypatch):
    calls = []
    original = module_file.trainable_parameters

    def counting(module):
        calls.append(module)
        return original(module)

    monkeypatch.setattr(module_file, "trainable_parameters", counting)
    module = ForceFieldModule(tiny_mpnn(hidden=8), lr=1e-3, ema_decay=None, schedule="constant")
    cfg = TrainConfig(model="mpnn-xs", accelerator="cpu", progress_bar=False, max_steps=2, max_epochs=1)
    trainer = build_trainer(cfg, tmp_path, checkpoints=False, loggers=False, enable_model_summary=False,
                            num_sanity_val_steps=0, enable_progress_bar=False, limit_val_batches=0)
    trainer.fit(module, tiny_datamodule(num_train=4, num_val=2, batch_size=2))
    assert len(calls) == 2 and all(c is module for c in calls)
