"""Where a pretrained name is found.

Order, first hit wins:

1. shipped checkpoints: ``<dir>/<name>/`` for each dir of ``FORCEFIELDS_CHECKPOINTS``
   (os.pathsep-separated), then the repository's ``checkpoints/``;
2. the local cache, ``$FORCEFIELDS_CACHE/models/<name>/`` (default
   ``~/.cache/forcefields``), filled by earlier downloads;
3. a download: from ``$FORCEFIELDS_HUB_DIR/<repo_id>/`` when that variable is
   set (a plain folder serving as the hub, for clusters without internet),
   otherwise from the Hugging Face Hub at the revision the index pins,
   skipped when ``HF_HUB_OFFLINE=1``;
4. a :class:`PretrainedNotFoundError` naming the places looked at.

The Hub repo of a name is the index entry's ``hub_repo``, or
``$FORCEFIELDS_HUB_ORG/<name>`` (org "forcefields" by default).
"""

from __future__ import annotations

import difflib
import json
import os
from pathlib import Path
from typing import NoReturn

from .errors import HubUnreachableError, PretrainedNotFoundError
from .format import CONFIG_FILE, is_checkpoint
from .index import INDEX_FILE, PretrainedEntry, read_index

__all__ = [
    "SOURCE_FILE",
    "checkpoint_dirs",
    "cache_root",
    "hub_dir",
    "hub_org",
    "is_offline",
    "repo_id_for",
    "index_entries",
    "known_names",
    "locate",
    "not_found",
    "source_record",
]

# Written by a download next to the files (hidden, so never pushed or indexed).
SOURCE_FILE = ".source.json"
_REPO_CHECKPOINTS = Path(__file__).resolve().parents[2] / "checkpoints"
_TRUE = {"1", "true", "yes", "on"}


def checkpoint_dirs() -> list[Path]:
    """Folders of shipped checkpoints, in search order."""
    dirs = [Path(p).expanduser() for p in os.environ.get("FORCEFIELDS_CHECKPOINTS", "").split(os.pathsep) if p]
    if _REPO_CHECKPOINTS.is_dir():
        dirs.append(_REPO_CHECKPOINTS)
    return dirs


def cache_root() -> Path:
    """Folder of downloaded checkpoints, one sub-folder per name."""
    base = os.environ.get("FORCEFIELDS_CACHE")
    if not base:
        base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "forcefields"
    return Path(base).expanduser() / "models"


def hub_dir() -> Path | None:
    """The folder standing in for the Hub (FORCEFIELDS_HUB_DIR), or None."""
    value = os.environ.get("FORCEFIELDS_HUB_DIR")
    return Path(value).expanduser() if value else None


def hub_org() -> str:
    return os.environ.get("FORCEFIELDS_HUB_ORG") or "forcefields"


def is_offline() -> bool:
    """HF_HUB_OFFLINE, read now (huggingface_hub reads it once, at import)."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE


def repo_id_for(name: str, entry: PretrainedEntry | None = None) -> str:
    return entry.hub_repo if entry is not None and entry.hub_repo else f"{hub_org()}/{name}"


def index_entries() -> dict[str, PretrainedEntry]:
    """Entries of every shipped index, first directory first."""
    out: dict[str, PretrainedEntry] = {}
    for d in checkpoint_dirs():
        for e in read_index(d / INDEX_FILE):
            out.setdefault(e.name, e)
    return out


def _dir_entry(d: Path, name: str) -> PretrainedEntry | None:
    for e in read_index(d / INDEX_FILE):
        if e.name == name:
            return e
    return None


def known_names() -> list[str]:
    """Every name that resolves without guessing: indexed, shipped, cached or in the hub folder."""
    names = set(index_entries())
    for d in checkpoint_dirs() + [cache_root()]:
        if d.is_dir():
            names.update(p.name for p in d.iterdir() if (p / CONFIG_FILE).is_file())
    hd = hub_dir()
    if hd is not None and hd.is_dir():
        names.update(p.name for p in hd.glob("*/*") if (p / CONFIG_FILE).is_file())
    return sorted(names)


def source_record(folder: Path) -> dict:
    file = folder / SOURCE_FILE
    try:
        return json.loads(file.read_text(encoding="utf-8")) if file.is_file() else {}
    except json.JSONDecodeError:
        return {}


def _looks_like_path(name: str) -> bool:
    return os.sep in name or "/" in name or name.startswith((".", "~")) or (os.altsep is not None and os.altsep in name)


def locate(name_or_path: str | os.PathLike, *, download: bool = True) -> tuple[Path, PretrainedEntry | None]:
    """The folder of a checkpoint, and the index entry to verify it against (or None).

    Parameters
    ----------
    name_or_path : a pretrained name ("egnn-m.rmd17-aspirin") or a checkpoint folder
    download : fetch into the cache when it is nowhere local

    Raises
    ------
    PretrainedNotFoundError : the name is nowhere (the message lists where it looked)
    """
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        if not is_checkpoint(path):
            raise FileNotFoundError(
                f"{path} is a folder but not a forcefields checkpoint (it has no {CONFIG_FILE}); "
                "point to a folder written by forcefields.save()."
            )
        return path, None
    name = str(name_or_path)
    if isinstance(name_or_path, os.PathLike) or _looks_like_path(name):
        raise FileNotFoundError(f"no checkpoint folder at {path}; check the path or pass a pretrained name.")

    for d in checkpoint_dirs():
        if is_checkpoint(d / name):
            return d / name, _dir_entry(d, name)

    entry = index_entries().get(name)
    cached = cache_root() / name
    if is_checkpoint(cached):
        verified = source_record(cached).get("verified_against_index", False)
        return cached, (entry if verified else None)

    if download:
        from .hub import download as _download

        repo = repo_id_for(name, entry)
        revision = entry.revision if entry else None
        try:
            folder = _download(name, repo, revision, entry, missing_ok=True)
        except HubUnreachableError as err:
            if entry is not None:
                raise  # an indexed name: the network, not the name, is the problem
            # An unknown name may well be a typo: suggest, list the places, and add the network reason.
            not_found(name, repo, revision, unreachable=err.reason)
        if folder is not None:
            return folder, entry
        not_found(name, repo, revision)
    not_found(name, None)


def not_found(name: str, repo: str | None, revision: str | None = None, unreachable: str | None = None) -> NoReturn:
    """Raise the error for a name found nowhere, with close names and the places looked at.

    Parameters
    ----------
    name : the name asked for
    repo, revision : the Hub repo tried (None: the Hub was not tried)
    unreachable : why the Hub could not be asked (one line), when it could not
    """
    close = difflib.get_close_matches(name, known_names(), n=3, cutoff=0.6)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    places = [f"{d} (shipped)" for d in checkpoint_dirs()] + [f"{cache_root()} (cache)"]
    hd = hub_dir()
    if repo is not None:
        at = f" at revision {revision}" if revision else ""
        if hd is not None:
            places.append(f"{hd / repo} (FORCEFIELDS_HUB_DIR)")
        elif is_offline():
            places.append(f"the Hub repo {repo}{at} (skipped: HF_HUB_OFFLINE is set)")
        elif unreachable:
            places.append(f"the Hub repo {repo}{at} (unreachable: {unreachable})")
        else:
            places.append(f"the Hub repo {repo}{at} (not found)")
    raise PretrainedNotFoundError(
        f"no pretrained model named {name!r}.{hint} Looked in {'; '.join(places)}. "
        "`forcefields pretrained` lists the known names; without internet, set "
        "FORCEFIELDS_CHECKPOINTS=/dir/with/<name>/ or FORCEFIELDS_HUB_DIR=/dir/with/<org>/<name>/ "
        "(HF_HUB_OFFLINE=1 skips the Hub), or pass a local checkpoint folder."
    )
