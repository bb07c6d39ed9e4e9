"""Fixtures of the zoo tests: the toy family and an isolated shipped-checkpoints folder."""

from __future__ import annotations

import pytest

from ._toy import toy_family  # noqa: F401  (a fixture)


@pytest.fixture
def ckpt_dir(tmp_path, monkeypatch):
    """An empty folder of "shipped" checkpoints, in place of the repository's."""
    d = tmp_path / "checkpoints"
    d.mkdir()
    monkeypatch.setenv("FORCEFIELDS_CHECKPOINTS", str(d))
    monkeypatch.setattr("forcefields.zoo.resolve._REPO_CHECKPOINTS", tmp_path / "no-repo-checkpoints")
    monkeypatch.delenv("FORCEFIELDS_HUB_DIR", raising=False)
    return d
