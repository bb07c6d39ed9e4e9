"""Two DDP steps on 2 CPU processes (run by test_train_ddp.py, relaunched per rank by Lightning)."""

import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
torch.set_num_threads(1)

from torch_geometric.loader import DataLoader  # noqa: E402

from forcefields.training import ForceFieldModule, TrainConfig, build_trainer, errors_of  # noqa: E402
from train_helpers import tiny_datamodule, tiny_mpnn  # noqa: E402

out = Path(sys.argv[1])
dm = tiny_datamodule(num_train=8, num_val=4, batch_size=2)  # 8 / 2 ranks / 2 = 2 steps
module = ForceFieldModule(tiny_mpnn(), lr=5e-3, ema_decay=0.9, schedule="constant")
cfg = TrainConfig(accelerator="cpu", devices=2, strategy="ddp", max_epochs=1, progress_bar=False)
trainer = build_trainer(cfg, out, checkpoints=False, loggers=False, enable_model_summary=False, num_sanity_val_steps=0)
trainer.fit(module, dm)
if trainer.is_global_zero:
    direct = errors_of(module.evaluation_model(), DataLoader(dm.val, batch_size=4))
    result = {
        "world_size": trainer.world_size,
        "steps": trainer.global_step,
        "ema_updates": module.ema.num_updates,
        "logged_forces_mae": float(trainer.callback_metrics["val/forces_mae"]),
        "direct_forces_mae": direct["forces_mae"],
        "logged_energy_mae": float(trainer.callback_metrics["val/energy_mae"]),
        "direct_energy_mae": direct["energy_mae"],
    }
    (out / "result.json").write_text(json.dumps(result))
