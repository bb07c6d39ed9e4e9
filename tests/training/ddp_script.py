"""Two DDP steps on 2 CPU processes through `train()` (run by test_train_ddp.py).

Lightning relaunches this script once per extra rank; every rank builds the
same data module and model, rank 0 writes the results.
"""

import json
import sys
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
torch.set_num_threads(1)
warnings.filterwarnings("ignore")

from forcefields.data.datamodule import MolecularDataModule  # noqa: E402
from forcefields.training import errors_of, load_exported, train  # noqa: E402
from train_helpers import CUTOFF, write_extxyz  # noqa: E402

out = Path(sys.argv[1])
data = out / "mols.extxyz"
if not data.exists():  # rank 0 writes it before the other rank starts
    write_extxyz(data, 15)
split = {"train": 8, "val": 4, "test": 3, "seed": 0}  # 8 / 2 ranks / batch 2 = 2 steps; 3 test frames do not divide
result = train(
    model="mpnn-xs", model_args={"hidden": 8, "num_layers": 1}, data=[str(data)], split=split, cutoff=CUTOFF,
    batch_size=2, max_epochs=1, warmup_steps=0, lr=5e-3, ema_decay=0.9, accelerator="cpu", devices=2,
    strategy="ddp", out=str(out / "run"), progress_bar=False, verbose=False,
    schedule="cosine", max_time="00:00:10:00",  # the rate follows rank 0's clock on every rank
)
# every rank's training weights and rate, to check the replicas stayed identical
rank = result.trainer.global_rank
weights = torch.cat([p.detach().double().flatten() for p in result.module.model.parameters()])
(out / f"rank{rank}.json").write_text(
    json.dumps({"weights": weights.tolist(), "lr": result.trainer.optimizers[0].param_groups[0]["lr"]})
)
if result.trainer.is_global_zero:
    dm = MolecularDataModule([str(data)], cutoff=CUTOFF, split=split, batch_size=4, verbose=False)
    dm.setup()
    evaluation = result.module.evaluation_model()
    val = errors_of(evaluation, dm.val_dataloader())
    test = errors_of(load_exported(result.model_dir), dm.test_dataloader())
    summary = {
        "world_size": result.trainer.world_size,
        "steps": result.trainer.global_step,
        "ema_updates": result.module.ema.num_updates,
        "logged_val_forces_mae": float(result.trainer.callback_metrics["val/forces_mae"]),
        "direct_val_forces_mae": val["forces_mae"],
        "logged_val_energy_mae": float(result.trainer.callback_metrics["val/energy_mae"]),
        "direct_val_energy_mae": val["energy_mae"],
        "reported_test_forces_mae": result.metrics["test"]["forces_mae"],
        "direct_test_forces_mae": test["forces_mae"],
    }
    (out / "result.json").write_text(json.dumps(summary))
