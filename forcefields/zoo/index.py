"""The index of shipped checkpoints: ``checkpoints/index.json``.

One entry per checkpoint folder with what a user picks a model by (data,
parameters, metrics, size) and what loading verifies (each file's sha256 and
size), plus where the model lives on the Hub (``hub_repo`` and a pinned
``revision``; null means the default org and ``main``).

Rebuild it from the folders after adding or retraining a checkpoint::

    python -m forcefields.zoo.index checkpoints/

Hub repos and pinned revisions of the old index are kept, except a revision
whose files changed (the pinned commit would no longer match).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from .format import CONFIG_FILE, read_config, sha256_file

__all__ = ["INDEX_FILE", "INDEX_VERSION", "PretrainedEntry", "read_index", "build_index", "entry_from_folder", "main"]

INDEX_FILE = "index.json"
INDEX_VERSION = 1


@dataclass
class PretrainedEntry:
    """One pretrained model.

    Attributes
    ----------
    name : "<variant>.<tag>"
    variant, family : registry variant and family
    data : the tag: what it was trained on, e.g. "rmd17-aspirin"
    num_parameters : int
    metrics : measured test metrics (meV, meV/Å)
    size_bytes : total size of the folder's files
    dtype, force_mode, cutoff (Å), elements : from its config
    license : of the weights
    files : {file name: {"sha256", "size"}}
    hub_repo : Hub repo id, or None for "<FORCEFIELDS_HUB_ORG>/<name>"
    revision : pinned Hub revision (commit sha), or None for "main"
    source : where it is now ("shipped", "cache", "hub"); not stored in the index
    path : its folder when present locally; not stored in the index
    """

    name: str
    variant: str = ""
    family: str = ""
    data: str | None = None
    num_parameters: int = 0
    metrics: dict[str, Any] = field(default_factory=dict)
    size_bytes: int = 0
    dtype: str = "float32"
    force_mode: str = "conservative"
    cutoff: float = 0.0
    elements: list[int] = field(default_factory=list)
    license: str = "mit"
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    hub_repo: str | None = None
    revision: str | None = None
    source: str = "shipped"
    path: str | None = None

    _LOCAL = ("source", "path")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in self._LOCAL:
            d.pop(k)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "PretrainedEntry":
        known = {f.name for f in fields(cls)} - set(cls._LOCAL)
        if "name" not in d:
            raise ValueError(f"an index entry lacks its 'name': {d}; rebuild the index with `python -m forcefields.zoo.index DIR`.")
        return cls(**{k: v for k, v in d.items() if k in known})

    @property
    def expected_files(self) -> dict[str, dict[str, Any]]:
        """The files load() verifies: the config and the weights."""
        return {k: v for k, v in self.files.items() if k in (CONFIG_FILE, "model.safetensors")}


def read_index(path: str | os.PathLike) -> list[PretrainedEntry]:
    """Entries of an index file (a missing file is an empty index)."""
    path = Path(path)
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON ({err}); rebuild it with `python -m forcefields.zoo.index {path.parent}`.") from None
    version = data.get("format_version") if isinstance(data, dict) else None
    if version != INDEX_VERSION:
        raise ValueError(
            f"{path} has index format {version!r}, this forcefields reads format {INDEX_VERSION}; "
            f"upgrade forcefields or rebuild it with `python -m forcefields.zoo.index {path.parent}`."
        )
    entries = [PretrainedEntry.from_dict(d) for d in data.get("models", [])]
    for e in entries:
        e.path = str(path.parent / e.name) if (path.parent / e.name / CONFIG_FILE).is_file() else None
        e.source = "shipped" if e.path else "hub"
    return entries


def entry_from_folder(folder: str | os.PathLike) -> PretrainedEntry:
    """An entry describing a checkpoint folder, with every file's sha256 and size."""
    folder = Path(folder)
    config = read_config(folder)
    files = {
        f.name: {"sha256": sha256_file(f), "size": f.stat().st_size}
        for f in sorted(folder.iterdir())
        if f.is_file() and not f.name.startswith(".")
    }
    return PretrainedEntry(
        name=config.get("name") or folder.name,
        variant=config.get("variant") or "",
        family=config["family"],
        data=config.get("tag"),
        num_parameters=int(config.get("num_parameters", 0)),
        metrics=config.get("metrics") or {},
        size_bytes=sum(v["size"] for v in files.values()),
        dtype=config["dtype"],
        force_mode=config.get("force_mode", "conservative"),
        cutoff=float(config.get("cutoff", 0.0)),
        elements=[int(z) for z in config.get("elements", [])],
        license=config.get("license", "mit"),
        files=files,
        path=str(folder),
    )


def build_index(root: str | os.PathLike, write: bool = True) -> list[PretrainedEntry]:
    """Scan ``root/<name>/`` checkpoint folders and (re)write ``root/index.json``.

    Returns
    -------
    The entries, sorted by name.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a folder; pass the checkpoints directory, e.g. checkpoints/.")
    old = {e.name: e for e in read_index(root / INDEX_FILE)}
    entries = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if not (folder / CONFIG_FILE).is_file():
            continue
        entry = entry_from_folder(folder)
        if entry.name != folder.name:
            raise ValueError(
                f"{folder} holds the checkpoint named {entry.name!r}; rename the folder to {entry.name} "
                "so that the name resolves to it."
            )
        prev = old.get(entry.name)
        if prev is not None:
            entry.hub_repo = prev.hub_repo
            entry.revision = prev.revision if prev.files == entry.files else None
        entries.append(entry)
    if write:
        data = {
            "format_version": INDEX_VERSION,
            "generated_by": "python -m forcefields.zoo.index " + root.name,
            "models": [e.to_dict() for e in entries],
        }
        tmp = root / f".{INDEX_FILE}.tmp-{os.getpid()}"
        tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        os.replace(tmp, root / INDEX_FILE)
    return entries


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m forcefields.zoo.index",
        description="Rebuild index.json (sha256, sizes, parameters, metrics) from checkpoint folders.",
    )
    parser.add_argument("root", nargs="?", default="checkpoints", help="folder holding one sub-folder per checkpoint")
    args = parser.parse_args(argv)
    try:
        entries = build_index(args.root)
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"wrote {Path(args.root) / INDEX_FILE}: {len(entries)} checkpoint(s)")
    for e in entries:
        print(f"  {e.name}  {e.num_parameters:,} parameters  {e.size_bytes / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
