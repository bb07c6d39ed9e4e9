"""Push checkpoints to, and pull them from, the Hugging Face Hub (or a folder standing in for it).

Both go through the real ``huggingface_hub`` client: ``push`` is
``create_repo(exist_ok=True)`` + ``upload_folder``; a pull is
``snapshot_download`` at a resolved commit into a temporary folder of the
cache, checked (format, weights against config.json, every file against the
index when the index describes that revision) and only then moved into place,
so an interrupted or altered download never looks complete.

With ``FORCEFIELDS_HUB_DIR=/path`` set, ``/path/<repo_id>/`` folders play the
Hub's part (clusters without internet): push copies there, pull copies from
there, with the same checks.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .errors import HubUnreachableError, PretrainedNotFoundError
from .format import WEIGHTS_FILE, _replace_dir, is_checkpoint, read_config, verify_files
from .index import PretrainedEntry
from .resolve import SOURCE_FILE, cache_root, hub_dir, index_entries, is_offline, locate, not_found, repo_id_for

__all__ = ["PushResult", "push", "pull", "download", "verify_checkpoint"]

# Hidden files (the client's .cache/, .gitattributes, our .source.json) never travel.
_IGNORE = [".*", "*/.*"]


@dataclass(frozen=True)
class PushResult:
    """Where a push went.

    Attributes
    ----------
    repo_id : Hub repo id (or folder under FORCEFIELDS_HUB_DIR)
    revision : branch written
    commit : commit sha on the Hub (None for a folder hub): pin it as the
        index entry's ``revision``
    url : commit URL, or the folder written
    """

    repo_id: str
    revision: str
    commit: str | None
    url: str


def verify_checkpoint(folder: Path, entry: PretrainedEntry | None = None) -> dict:
    """Check a checkpoint folder: config, weights against config.json, files against ``entry``.

    Returns the config. Raises the errors of :func:`read_config` and :func:`verify_files`.
    """
    config = read_config(folder)
    weights = config["weights"]
    verify_files(folder, {weights.get("file", WEIGHTS_FILE): weights}, what=f"{folder.name}/config.json")
    if entry is not None and entry.files:
        verify_files(folder, entry.files, what=f"the index entry of {entry.name}")
    return config


def _endpoint() -> str:
    from huggingface_hub import constants

    return constants.ENDPOINT


def _copy_files(src: Path, dst: Path) -> None:
    for f in src.iterdir():
        if f.is_file() and not f.name.startswith("."):
            shutil.copy2(f, dst / f.name)


def _hub_error(action: str, repo_id: str, err: Exception) -> HubUnreachableError:
    first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    reason = f"{type(err).__name__}: {first}"
    return HubUnreachableError(
        f"could not {action} {repo_id} at {_endpoint()} ({reason}); check the "
        "connection and token (HF_TOKEN), or work offline with HF_HUB_OFFLINE=1 and FORCEFIELDS_CHECKPOINTS "
        "or FORCEFIELDS_HUB_DIR.",
        reason=f"{reason} at {_endpoint()}",
    )


def _snapshot(repo_id: str, revision: str | None, dest: Path, token: str | None) -> str | None:
    """Download a Hub repo's files into ``dest``; the commit sha, or None when the repo or revision is absent."""
    from huggingface_hub import HfApi, snapshot_download
    from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

    try:
        # Resolve the revision once, so every file comes from the same commit.
        commit = HfApi(token=token).model_info(repo_id, revision=revision).sha
        snapshot_download(repo_id, revision=commit, local_dir=dest, token=token, ignore_patterns=_IGNORE)
    except (RepositoryNotFoundError, RevisionNotFoundError):
        return None
    except Exception as err:  # network and server failures, whatever the HTTP stack calls them
        raise _hub_error("download", repo_id, err) from err
    shutil.rmtree(dest / ".cache", ignore_errors=True)
    return commit


def download(
    name: str,
    repo_id: str,
    revision: str | None,
    entry: PretrainedEntry | None,
    *,
    token: str | None = None,
    missing_ok: bool = False,
) -> Path | None:
    """Fetch ``repo_id`` at ``revision`` into ``<cache>/<name>/``, verified, atomically.

    Parameters
    ----------
    name : the pretrained name (the cache folder's name)
    repo_id, revision : where to fetch from; revision None is "main"
    entry : index entry to verify every file against, or None
    missing_ok : return None instead of raising when the repo is not there

    Returns
    -------
    The cache folder, or None (``missing_ok``) when nothing was found.
    """
    hd = hub_dir()
    if hd is None and is_offline():
        if missing_ok:
            return None
        raise PretrainedNotFoundError(
            f"cannot download {name!r} from the Hub repo {repo_id}: HF_HUB_OFFLINE is set; unset it, "
            "or set FORCEFIELDS_HUB_DIR to a folder holding <org>/<name>/ checkpoints."
        )
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.partial-", dir=root))
    try:
        if hd is not None:
            src = hd / repo_id
            if not is_checkpoint(src):
                if missing_ok:
                    return None
                raise PretrainedNotFoundError(f"no checkpoint at {src} (FORCEFIELDS_HUB_DIR/{repo_id}); copy the folder there or unset FORCEFIELDS_HUB_DIR.")
            _copy_files(src, tmp)
            commit, origin = None, str(src)
        else:
            commit = _snapshot(repo_id, revision, tmp, token)
            if commit is None:
                if missing_ok:
                    return None
                raise PretrainedNotFoundError(
                    f"the Hub at {_endpoint()} has no repo {repo_id}"
                    + (f" at revision {revision}" if revision else "")
                    + "; check the repo id and revision, or push the checkpoint first."
                )
            origin = f"{_endpoint()}/{repo_id}"
        verify_checkpoint(tmp, entry)
        (tmp / SOURCE_FILE).write_text(json.dumps({
            "name": name,
            "repo_id": repo_id,
            "origin": origin,
            "revision": revision,
            "commit": commit,
            "verified_against_index": entry is not None,
            "downloaded": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        }, indent=2) + "\n", encoding="utf-8")
        dest = root / name
        _replace_dir(tmp, dest)
        return dest
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def pull(
    name: str,
    repo_id: str | None = None,
    revision: str | None = None,
    token: str | None = None,
) -> Path:
    """Download a pretrained model into the local cache (replacing a cached copy).

    Parameters
    ----------
    name : pretrained name, e.g. "egnn-m.rmd17-aspirin"
    repo_id : Hub repo; default the index entry's ``hub_repo`` or "<FORCEFIELDS_HUB_ORG>/<name>"
    revision : branch, tag or commit; default the revision the index pins, else "main"
    token : Hub token for private repos (default: the client's own lookup)

    Returns
    -------
    The cache folder, ready for :func:`forcefields.load`.
    """
    entry = index_entries().get(name)
    repo = repo_id or repo_id_for(name, entry)
    pinned = entry.revision if entry is not None else None
    rev = revision if revision is not None else pinned
    # The index's checksums describe one revision of one repo; other choices are checked for
    # self-consistency only.
    same = entry is not None and repo == repo_id_for(name, entry) and (revision is None or revision == pinned)
    try:
        folder = download(name, repo, rev, entry if same else None, token=token, missing_ok=True)
    except HubUnreachableError as err:
        if entry is not None or repo_id is not None:
            raise  # a known name (or an explicit repo): the network is the whole story
        not_found(name, repo, rev, unreachable=err.reason)
    if folder is None:
        not_found(name, repo, rev)
    return folder


def push(
    name_or_path: str | os.PathLike,
    repo_id: str | None = None,
    revision: str | None = None,
    private: bool = False,
    token: str | None = None,
    commit_message: str | None = None,
) -> PushResult:
    """Upload a checkpoint folder to a Hub repo (created when missing).

    Parameters
    ----------
    name_or_path : pretrained name found locally, or a checkpoint folder
    repo_id : "org/name"; default the index entry's ``hub_repo`` or "<FORCEFIELDS_HUB_ORG>/<name>"
    revision : branch to commit to (created from main when missing); default "main"
    private : create the repo private
    token : Hub token with write access (default: the client's own lookup)
    commit_message : default "Upload <name> (forcefields <version>)"

    Returns
    -------
    :class:`PushResult`; pin ``commit`` as the index entry's ``revision``.
    """
    from .. import __version__

    folder, entry = locate(name_or_path, download=False)
    config = verify_checkpoint(folder, entry)
    name = config.get("name") or folder.name
    repo = repo_id or repo_id_for(name, entry)
    message = commit_message or f"Upload {name} (forcefields {__version__})"
    hd = hub_dir()
    if hd is not None:
        dest = hd / repo
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.partial-", dir=dest.parent))
        try:
            _copy_files(folder, tmp)
            verify_checkpoint(tmp)
            _replace_dir(tmp, dest)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return PushResult(repo_id=repo, revision=revision or "main", commit=None, url=str(dest))
    if is_offline():
        raise ValueError(
            f"cannot push {name} to {repo}: HF_HUB_OFFLINE is set; unset it, or set FORCEFIELDS_HUB_DIR "
            "to push into a folder."
        )
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    try:
        api.create_repo(repo, private=private, exist_ok=True, repo_type="model")
        if revision and revision != "main":
            api.create_branch(repo, branch=revision, exist_ok=True)
        info = api.upload_folder(
            repo_id=repo,
            folder_path=str(folder),
            revision=revision,
            commit_message=message,
            ignore_patterns=_IGNORE,
        )
    except Exception as err:  # auth, network and server failures
        raise _hub_error("push to", repo, err) from err
    return PushResult(repo_id=repo, revision=revision or "main", commit=info.oid, url=str(info.commit_url))
