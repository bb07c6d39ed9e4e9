"""Shared test configuration.

Tests that read the real reference data in ../shared/data carry the
``shared_data`` marker and are skipped when it is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("FORCEFIELDS_SHARED_DATA", REPO.parent / "shared" / "data"))

# Two cores on CI: keep each test process to one intra-op thread.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"reference data not found at {SHARED_DATA}")
    return SHARED_DATA


def pytest_collection_modifyitems(config, items):
    if SHARED_DATA.is_dir():
        return
    skip = pytest.mark.skip(reason=f"reference data not found at {SHARED_DATA}")
    for item in items:
        if "shared_data" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Never touch the user's cache or the network from a test."""
    cache = tmp_path_factory.mktemp("ffcache")
    monkeypatch.setenv("FORCEFIELDS_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", os.environ.get("HF_HUB_OFFLINE", "1"))
    monkeypatch.setenv("HF_HOME", str(cache / "hf"))
