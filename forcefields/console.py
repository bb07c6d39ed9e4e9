"""One rich Console factory, so tables stay readable when output is not a terminal.

Rich falls back to 80 columns when stdout is a pipe or a CI log, which folds
every table column; there we use a wider page instead.
"""

from __future__ import annotations

import sys

from rich.console import Console

__all__ = ["make_console"]

PIPE_WIDTH = 140


def make_console(stderr: bool = False, **kwargs) -> Console:
    """A Console: the terminal's width on a terminal, ``PIPE_WIDTH`` columns otherwise."""
    stream = sys.stderr if stderr else sys.stdout
    if "width" not in kwargs and not stream.isatty():
        kwargs["width"] = PIPE_WIDTH
    return Console(stderr=stderr, **kwargs)
