"""Tiny benchmark settings shared by the harness tests (one thread, tiny model, tiny sizes)."""

from __future__ import annotations

import pytest

TINY_MODEL = "mpnn-xs"
TINY_OVERRIDES = {"hidden": 8, "num_layers": 1}


@pytest.fixture
def tiny_settings(tmp_path):
    from forcefields.bench.speed import SpeedSettings

    def make(**kw):
        base = dict(
            models=TINY_MODEL,
            overrides=dict(TINY_OVERRIDES),
            device="cpu",
            regimes=("md", "batch", "large"),
            md_molecules=("ethanol",),
            batch_sizes=(1, 2),
            large_sizes=(30, 60),
            warmup=1,
            repeats=2,
            min_repeats=1,
            max_time_per_point_s=1.0,
            out=str(tmp_path / "results"),
            progress=False,
        )
        base.update(kw)
        return SpeedSettings(**base)

    return make
