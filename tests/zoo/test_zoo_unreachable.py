"""A misspelt name while the Hub cannot be reached: the suggestion, the places looked, and why the Hub failed.

The real huggingface_hub client is pointed at a local port nobody listens on
(its endpoint constant, which it otherwise reads from HF_ENDPOINT at import),
with offline mode off: a real connection attempt, refused, and no real network.
"""

from __future__ import annotations

import socket

import pytest

import forcefields
from forcefields.zoo import PretrainedNotFoundError


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again on leaving: connections are refused


@pytest.fixture
def unreachable_hub(monkeypatch):
    from huggingface_hub import constants

    url = f"http://127.0.0.1:{_closed_port()}"
    monkeypatch.setattr(constants, "ENDPOINT", url)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("FORCEFIELDS_HUB_DIR", raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    return url


def test_misspelt_name_with_unreachable_hub_suggests_and_says_why(unreachable_hub):
    with pytest.raises(PretrainedNotFoundError) as info:
        forcefields.load("egnn-s.rmd17-aspirine")
    message = str(info.value)
    assert "Did you mean egnn-s.rmd17-aspirin" in message
    assert "(shipped)" in message and "(cache)" in message  # the places looked
    assert "the Hub repo forcefields/egnn-s.rmd17-aspirine (unreachable: " in message
    assert unreachable_hub in message  # the network reason names where it tried


def test_pull_of_misspelt_name_with_unreachable_hub_suggests_too(unreachable_hub):
    with pytest.raises(PretrainedNotFoundError, match=r"Did you mean egnn-s\.rmd17-aspirin.*\(unreachable: "):
        forcefields.pull("egnn-s.rmd17-aspirine")
