"""Distributed data parallel through Lightning: `train()` on 2 CPU processes, two steps."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("ddp_script.py")


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_ddp_two_processes_two_steps(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), str(tmp_path)], env=env, capture_output=True, text=True, timeout=110
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["world_size"] == 2 and result["steps"] == 2 and result["ema_updates"] == 2
    # validation metrics were summed over both ranks: they equal the whole validation set
    assert result["logged_val_forces_mae"] == pytest.approx(result["direct_val_forces_mae"], rel=1e-4)
    assert result["logged_val_energy_mae"] == pytest.approx(result["direct_val_energy_mae"], rel=1e-4)
    # the reported test error is exact (no padded repeats) and belongs to the exported model
    assert result["reported_test_forces_mae"] == pytest.approx(result["direct_test_forces_mae"], rel=1e-4)
    assert (tmp_path / "run" / "model" / "model.safetensors").is_file()
    # the wall-clock cosine gives both ranks the same rate, so the replicas stay equal
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0]["lr"] == ranks[1]["lr"]
    assert ranks[0]["weights"] == ranks[1]["weights"]
