"""Source specifications: what a user names, resolved to frames.

A source is one of

- ``"rmd17:<molecule>"``: revised MD17 (see :mod:`forcefields.data.rmd17`);
- ``"md17:<molecule>"``: original MD17 (see :mod:`forcefields.data.md17`);
- ``"xtb:<folder>"``: a corpus made by ``forcefields data generate`` (see
  :mod:`forcefields.data.corpus`), split by molecule;
- a path: any ``.npz`` archive or file ASE reads (extxyz, ASE ``.db``, ...);
- a dict with ``source`` (one of the above) or ``path``, plus reader options
  (``energy_key``, ``forces_key``, ``units``, ``length_unit``,
  ``forces_unit``, ...; see :class:`~forcefields.data.readers.ReaderOptions`)
  and optionally its own ``root``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

from . import corpus, md17, rmd17
from .errors import DataError, DataFileNotFoundError
from .readers import FrameSet, ReaderOptions, read_file

__all__ = ["Source", "SourceLike", "parse_source", "load_source", "prepare_source", "KINDS"]

KINDS = {"rmd17": "revised MD17", "md17": "original MD17", "xtb": "a corpus folder made by `forcefields data generate`"}
SourceLike = Union[str, Path, dict, "Source"]


@dataclass(frozen=True)
class Source:
    """A parsed source.

    Attributes
    ----------
    label : str, how messages and tables name it (``"rmd17:aspirin"`` or the path)
    kind : ``"rmd17"``, ``"md17"``, ``"xtb"`` (a corpus folder) or ``"file"``
    name : molecule name for dataset kinds, else None
    path : the file for ``kind == "file"``, the folder for ``"xtb"``, else None
    root : folder of a dataset kind (None: the download cache)
    options : ReaderOptions
    """

    label: str
    kind: str
    name: str | None = None
    path: Path | None = None
    root: Path | None = None
    options: ReaderOptions = field(default_factory=ReaderOptions)


def parse_source(spec: SourceLike, root: str | Path | None = None) -> Source:
    """Turn a user's source specification into a :class:`Source`.

    Parameters
    ----------
    spec : ``"kind:name"``, a path, a dict (``source`` or ``path`` plus reader
        options and ``root``) or a Source
    root : default folder for dataset kinds, and a second place to look for
        relative paths
    """
    if isinstance(spec, Source):
        return spec
    options: dict[str, Any] = {}
    if isinstance(spec, dict):
        options = dict(spec)
        root = options.pop("root", root)
        text = options.pop("source", None)
        path = options.pop("path", None)
        if (text is None) == (path is None):
            raise DataError(
                f"a source dict needs exactly one of 'source' (e.g. 'rmd17:aspirin') or 'path'; got {spec!r}."
            )
        spec = Path(path) if path is not None else text
    reader = ReaderOptions.from_dict(options)
    root_path = Path(root).expanduser() if root is not None else None
    if isinstance(spec, Path):
        return _file_source(spec, root_path, reader)
    if not isinstance(spec, str):
        raise DataError(f"a source must be a string, path or dict; got {type(spec).__name__} {spec!r}.")
    kind, sep, name = spec.partition(":")
    if sep and kind.lower() in ("xtb", "corpus"):
        return _corpus_source(Path(name), root_path, reader)
    if sep and kind.lower() in KINDS:
        kind = kind.lower()
        known = rmd17.RMD17_MOLECULES if kind == "rmd17" else tuple(md17.MD17_MOLECULES)
        name = {"salicylic_acid": "salicylic"}.get(name.lower(), name.lower())
        if name not in known:
            raise DataError(f"unknown {KINDS[kind]} molecule {name!r} in {spec!r}; known: {', '.join(known)}.")
        return Source(label=f"{kind}:{name}", kind=kind, name=name, root=root_path, options=reader)
    path = Path(spec).expanduser()
    if sep and len(kind) > 1 and not path.exists() and "/" not in kind and "\\" not in kind:
        raise DataError(
            f"unknown dataset kind {kind!r} in {spec!r}; known kinds: "
            + ", ".join(f"{k} ({v})" for k, v in KINDS.items())
            + ", or give the path of a data file."
        )
    return _file_source(path, root_path, reader)


def _corpus_source(path: Path, root: Path | None, reader: ReaderOptions) -> Source:
    path = path.expanduser()
    if not path.exists() and not path.is_absolute() and root is not None and (root / path).exists():
        path = root / path
    if not corpus.is_corpus(path):
        raise DataFileNotFoundError(
            f"no corpus at {path} (no manifest.json there); make one with `forcefields data generate --out {path} ...` "
            "or check the path.",
            path=str(path),
        )
    return Source(label=f"xtb:{path}", kind="xtb", path=path, root=root, options=reader)


def _file_source(path: Path, root: Path | None, reader: ReaderOptions) -> Source:
    path = path.expanduser()
    if not path.exists() and not path.is_absolute() and root is not None and (root / path).exists():
        path = root / path
    if corpus.is_corpus(path):
        return Source(label=f"xtb:{path}", kind="xtb", path=path, root=root, options=reader)
    if not path.is_file():
        raise DataFileNotFoundError(
            f"no data file at {path}; check the path, or name a dataset such as 'rmd17:aspirin'.",
            path=str(path),
        )
    return Source(label=str(path), kind="file", path=path, root=root, options=reader)


def needs_download(source: Source) -> bool:
    """Whether the source's files are missing and could be downloaded."""
    if source.kind == "rmd17":
        return rmd17.find_rmd17(source.name, source.root) is None
    if source.kind == "md17":
        return md17.find_md17(source.name, source.root) is None
    return False


def prepare_source(source: Source, download: bool = True, progress: bool = True, into_root: bool = False) -> None:
    """Download a dataset kind's files when they are missing (files: nothing to do).

    Downloads go to the cache (``$FORCEFIELDS_CACHE/datasets/<kind>``). A
    source with its own ``root`` names a local copy: nothing is written there
    unless ``into_root`` (what ``forcefields data download --root`` asks for).
    """
    if not needs_download(source):
        return
    if not download or (source.root is not None and not into_root):
        load_source(source)  # raises the not-found error that says what to do
    if source.kind == "rmd17":
        rmd17.download_rmd17(source.root, progress=progress)
    elif source.kind == "md17":
        md17.download_md17(source.name, source.root, progress=progress)


def load_source(source: SourceLike, root: str | Path | None = None) -> FrameSet:
    """All frames of a source, in eV and Å (no validation, no splitting)."""
    source = parse_source(source, root)
    if source.kind == "rmd17":
        return rmd17.load_rmd17(source.name, source.root, source.options)
    if source.kind == "md17":
        return md17.load_md17(source.name, source.root, source.options)
    if source.kind == "xtb":
        return corpus.load_corpus(source.path)
    frames = read_file(source.path, source.options)
    frames.label = source.label
    return frames
