"""Nothing local in what is published: absolute paths become names.

Checkpoint folders (``config.json``, the model card) and benchmark result files
are made to be shared, and ``forcefields push`` uploads them as they are. They
must name things by name, hash and relative path only: an absolute path tells
the world the machine's layout, the home folder and the user name, and means
nothing on another machine. :func:`scrub` rewrites every absolute path in a
value (a string, or the strings of nested dicts and lists) to its last
component; relative paths, URLs and units such as ``eV/Å`` are left alone.
"""

from __future__ import annotations

import re
from pathlib import Path, PureWindowsPath
from typing import Any

__all__ = ["ABSOLUTE_PATH", "public_path", "interpreter_name", "scrub", "find_local_paths"]

# An absolute POSIX path (/a/b, ~/a), or a Windows one (C:\a): not preceded by a word
# character, a dot, a colon or another slash, so "eV/Å", "runs/x", "../x" and
# "https://host/x" are not paths of this kind.
ABSOLUTE_PATH = re.compile(
    r"(?<![\w.:/\\~-])(?:~?/[^\s'\"`,;()\[\]{}<>|*]+|[A-Za-z]:\\[^\s'\"`,;()\[\]{}<>|*]+)"
)


def public_path(path: str | Path) -> str:
    """A path as it may be published: relative paths as given, absolute ones reduced to their name.

    >>> public_path("/home/ada/data/ethanol.extxyz"), public_path("runs/a/model")
    ('ethanol.extxyz', 'runs/a/model')
    """
    text = str(path)
    if "\\" in text and re.match(r"^[A-Za-z]:\\", text):
        return PureWindowsPath(text).name or text
    if text.startswith(("/", "~")):
        name = Path(text.rstrip("/")).name
        return name or text
    return text


def interpreter_name(python: str | Path) -> str:
    """An interpreter named by its environment: ``/work/peers/mace/bin/python`` -> ``mace/bin/python``."""
    p = Path(str(python))
    if p.parent.name in ("bin", "Scripts") and p.parent.parent.name:
        return f"{p.parent.parent.name}/{p.parent.name}/{p.name}"
    return p.name


def _scrub_text(text: str) -> str:
    return ABSOLUTE_PATH.sub(lambda m: public_path(m.group(0)), text)


def scrub(value: Any) -> Any:
    """``value`` with every absolute path inside its strings reduced to a name (see :func:`public_path`).

    Dicts (keys kept), lists and tuples are walked; other values are returned as they are.
    """
    if isinstance(value, str):
        return _scrub_text(value)
    if isinstance(value, dict):
        return {k: scrub(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(scrub(v) for v in value)
    if isinstance(value, Path):
        return public_path(value)
    return value


def find_local_paths(text: str) -> list[str]:
    """The absolute paths written in ``text`` (empty when it is fit to publish)."""
    return ABSOLUTE_PATH.findall(text)
