"""tune_malloc: applied once per process on glibc, skipped when opted out, never an error."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

CODE = "from forcefields.allocator import tune_malloc; a = tune_malloc(); b = tune_malloc(); print(a, b)"


def _run(env_extra: dict[str, str]) -> str:
    env = {**os.environ, **env_extra}
    return subprocess.run([sys.executable, "-c", CODE], env=env, capture_output=True, text=True, check=True).stdout.split()


def test_opt_out_leaves_malloc_alone():
    assert _run({"FORCEFIELDS_NO_MALLOPT": "1"}) == ["False", "False"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt is Linux-only")
def test_applied_once_on_glibc():
    import platform

    first, second = _run({"FORCEFIELDS_NO_MALLOPT": ""})
    assert first == second  # the second call reports the first one's outcome
    if platform.libc_ver()[0] == "glibc":
        assert first == "True"
