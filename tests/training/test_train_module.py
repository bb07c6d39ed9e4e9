"""ForceFieldModule with a Lightning Trainer: learning, evaluation weights, resume."""

import pytest
import torch
from torch_geometric.loader import DataLoader

from forcefields.training import ForceFieldModule, TrainConfig, build_trainer, errors_of
from train_helpers import tiny_datamodule, tiny_mpnn

QUIET = dict(enable_model_summary=False, num_sanity_val_steps=0, enable_progress_bar=False)


def _trainer(tmp_path, checkpoints=False, trainer_kwargs=None, **cfg):
    cfg = TrainConfig(model="mpnn-xs", accelerator="cpu", progress_bar=False, **cfg)
    return build_trainer(cfg, tmp_path, checkpoints=checkpoints, loggers=False, **QUIET, **(trainer_kwargs or {}))


def test_a_few_steps_lower_the_loss(tmp_path):
    dm = tiny_datamodule(num_train=4, num_val=2, batch_size=2)
    model = tiny_mpnn(hidden=16)
    module = ForceFieldModule(model, lr=1e-2, ema_decay=None, schedule="constant")
    loader = DataLoader(dm.train, batch_size=4)
    before = errors_of(model, loader)
    _trainer(tmp_path, max_epochs=15).fit(module, dm)
    after = errors_of(model, loader)
    assert after["forces_mae"] < 0.7 * before["forces_mae"]


@pytest.mark.parametrize("optimizer,ema", [("adamw", 0.9), ("schedulefree", None)])
def test_validation_uses_the_evaluation_weights(tmp_path, optimizer, ema):
    dm = tiny_datamodule(num_train=4, num_val=2, batch_size=2)
    module = ForceFieldModule(tiny_mpnn(), lr=5e-3, optimizer=optimizer, ema_decay=ema, warmup_steps=1)
    trainer = _trainer(tmp_path, max_epochs=2)
    trainer.fit(module, dm)
    val = DataLoader(dm.val, batch_size=2)
    logged = float(trainer.callback_metrics["val/forces_mae"])
    evaluation = errors_of(module.evaluation_model(), val)["forces_mae"]
    training = errors_of(module.model, val)["forces_mae"]
    assert logged == pytest.approx(evaluation, rel=1e-4)
    assert abs(training - evaluation) > 1e-6 * evaluation  # averaged weights differ from the last iterate
    # the training weights are back in place after validation
    assert module._stash is None


def test_augmentation_and_symmetry_loss_train(tmp_path):
    dm = tiny_datamodule(num_train=2, num_val=2, batch_size=2)
    module = ForceFieldModule(tiny_mpnn(), lr=1e-3, augment_rotations=True, symmetry_rotations=3)
    trainer = _trainer(tmp_path, max_epochs=1)
    trainer.fit(module, dm)
    assert torch.isfinite(trainer.callback_metrics["train/symmetry_loss"])
    assert float(trainer.callback_metrics["train/symmetry_loss"]) > 0


def test_inference_mode_is_refused(tmp_path):
    import lightning as L

    with pytest.raises(ValueError, match="inference_mode"):
        build_trainer(TrainConfig(), tmp_path, inference_mode=True)
    # a hand-made Trainer in inference mode gets one sentence naming the fix
    dm = tiny_datamodule(num_train=2, num_val=2, batch_size=2)
    trainer = L.Trainer(accelerator="cpu", logger=False, inference_mode=True, **QUIET)
    with pytest.raises(RuntimeError, match="inference_mode=False"):
        trainer.validate(ForceFieldModule(tiny_mpnn()), dm)


def test_resume_continues_optimizer_and_ema(tmp_path):
    dm = tiny_datamodule(num_train=4, num_val=2, batch_size=2)  # 2 steps per epoch
    options = dict(lr=5e-3, ema_decay=0.9, warmup_steps=3)

    # one epoch, then one more from last.ckpt
    first = ForceFieldModule(tiny_mpnn(seed=0), **options)
    _trainer(tmp_path / "run", checkpoints=True, max_epochs=1).fit(first, dm)
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    saved = torch.load(last, map_location="cpu", weights_only=True)
    # the checkpoint holds the training weights (not the EMA swapped in for validation) and the EMA
    for name, p in first.model.named_parameters():
        torch.testing.assert_close(saved["state_dict"][f"model.{name}"], p.detach())
        torch.testing.assert_close(saved["ema"]["shadow"][name], first.ema.shadow[name])
    assert saved["ema"]["num_updates"] == 2

    resumed = ForceFieldModule(tiny_mpnn(seed=123), **options)  # other init: all must come from the file
    trainer = _trainer(tmp_path / "run", checkpoints=True, max_epochs=2)
    trainer.fit(resumed, dm, ckpt_path=str(last))

    # the same two epochs without interruption
    straight = ForceFieldModule(tiny_mpnn(seed=0), **options)
    reference = _trainer(tmp_path / "straight", max_epochs=2)
    reference.fit(straight, dm)

    assert trainer.global_step == reference.global_step == 4
    assert resumed.ema.num_updates == straight.ema.num_updates == 4
    opt_r, opt_s = trainer.optimizers[0], reference.optimizers[0]
    steps_r = [float(s["step"]) for s in opt_r.state.values()]
    assert steps_r and all(s == 4 for s in steps_r)
    for name, p in straight.model.named_parameters():
        torch.testing.assert_close(dict(resumed.model.named_parameters())[name], p, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(resumed.ema.shadow[name], straight.ema.shadow[name], rtol=1e-5, atol=1e-6)
    assert opt_r.param_groups[0]["lr"] == pytest.approx(opt_s.param_groups[0]["lr"])


def test_checkpoint_written_during_validation_keeps_training_weights(tmp_path):
    # val_check_interval as a batch count (not 1) makes ModelCheckpoint save at the end of
    # validation, while the EMA weights are swapped in.
    dm = tiny_datamodule(num_train=4, num_val=2, batch_size=2)
    module = ForceFieldModule(tiny_mpnn(), lr=5e-3, ema_decay=0.9)
    _trainer(tmp_path, checkpoints=True, max_epochs=1, trainer_kwargs={"val_check_interval": 2}).fit(module, dm)
    saved = torch.load(tmp_path / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert saved["global_step"] == 2
    for name, p in module.model.named_parameters():
        torch.testing.assert_close(saved["state_dict"][f"model.{name}"], p.detach())
    # meaningful only because the EMA differs from the training weights
    assert any(not torch.allclose(module.ema.shadow[k], p) for k, p in module.model.named_parameters())


def test_load_from_checkpoint_rebuilds_the_model(tmp_path):
    dm = tiny_datamodule(num_train=2, num_val=2, batch_size=2)
    module = ForceFieldModule(tiny_mpnn(), lr=1e-3, ema_decay=0.9)
    _trainer(tmp_path, checkpoints=True, max_epochs=1).fit(module, dm)
    loaded = ForceFieldModule.load_from_checkpoint(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    for name, p in module.model.named_parameters():
        torch.testing.assert_close(dict(loaded.model.named_parameters())[name], p)
        torch.testing.assert_close(loaded.ema.shadow[name], module.ema.shadow[name])


def test_cosine_decays_over_the_wall_clock_budget(tmp_path):
    # max_epochs is huge, so only the time budget can bring the rate down.
    dm = tiny_datamodule(num_train=4, num_val=2, batch_size=2)
    module = ForceFieldModule(tiny_mpnn(), lr=1e-2, min_lr=1e-4, schedule="cosine", warmup_steps=0)
    trainer = _trainer(tmp_path, max_epochs=100_000, max_time="00:00:00:03")
    trainer.fit(module, dm)
    final = trainer.optimizers[0].param_groups[0]["lr"]
    assert trainer.current_epoch < 100_000  # stopped by the clock
    assert final < 0.2 * 1e-2  # near the end of the cosine, not at its peak
    assert final >= 1e-4 - 1e-12
