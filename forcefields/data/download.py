"""Fetching files: streamed with a progress bar, verified, never left half-written.

A download goes to ``<dest>.part`` and is renamed to ``<dest>`` only after its
size and SHA-256 check out, so a file under its final name is always complete.
Archives are extracted into a temporary folder that is renamed into place at
the end, for the same reason.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import urllib.error
import urllib.request
from pathlib import Path

from .errors import DataError

__all__ = ["DownloadError", "fetch", "extract_tar", "sha256_file"]


class DownloadError(DataError):
    """A download failed (offline, server error) or did not match its checksum."""


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """SHA-256 hex digest of a file's content."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def _progress(enabled: bool):
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        disable=not enabled,
        transient=True,
    )


def fetch(
    url: str,
    dest: str | Path,
    *,
    sha256: str | None = None,
    size: int | None = None,
    progress: bool = True,
    hint: str = "",
    timeout: float = 60.0,
) -> Path:
    """Download ``url`` to ``dest`` unless a complete copy is already there.

    Parameters
    ----------
    url : http(s) or file:// address
    dest : final path of the file
    sha256 : expected SHA-256 hex digest; None: not checked, but the digest of
        the first download is written next to the file (``<dest>.sha256``)
    size : expected size in bytes, or None
    progress : show a rich progress bar
    hint : what the user can do instead (appended to error messages)

    Returns
    -------
    Path of the verified file.
    """
    dest = Path(dest)
    if dest.is_file() and (size is None or dest.stat().st_size == size):
        return dest
    part = dest.with_name(dest.name + ".part")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        with urllib.request.urlopen(url, timeout=timeout) as response, open(part, "wb") as out:
            total = response.headers.get("Content-Length")
            total = int(total) if total else size
            h = hashlib.sha256()
            with _progress(progress) as bar:
                task = bar.add_task(f"downloading {dest.name}", total=total)
                for block in iter(lambda: response.read(1 << 20), b""):
                    out.write(block)
                    h.update(block)
                    bar.advance(task, len(block))
    except (urllib.error.URLError, OSError, ValueError) as err:
        part.unlink(missing_ok=True)
        reason = getattr(err, "reason", err)
        raise DownloadError(f"could not download {url} ({reason}){'; ' + hint if hint else '.'}") from err
    got_size = part.stat().st_size
    if size is not None and got_size != size:
        part.unlink(missing_ok=True)
        raise DownloadError(
            f"download of {url} stopped at {got_size} of {size} bytes; run again to retry"
            f"{'; ' + hint if hint else '.'}"
        )
    digest = h.hexdigest()
    if sha256 is not None and digest != sha256.lower():
        part.unlink(missing_ok=True)
        raise DownloadError(
            f"download of {url} has SHA-256 {digest}, expected {sha256}: the file is corrupt or "
            f"was changed upstream; run again to retry{'; ' + hint if hint else '.'}"
        )
    os.replace(part, dest)
    if sha256 is None:  # trust on first use: keep the digest for later checks
        dest.with_name(dest.name + ".sha256").write_text(digest + "\n")
    return dest


def extract_tar(archive: str | Path, dest: str | Path, member_root: str, progress: bool = True) -> Path:
    """Extract the folder ``member_root`` of a tar archive to ``dest``, atomically.

    The archive is unpacked into a hidden temporary folder next to ``dest``;
    ``<tmp>/<member_root>`` is then renamed to ``dest``. ``dest`` therefore
    either does not exist or is complete.

    Returns
    -------
    ``dest``.
    """
    archive, dest = Path(archive), Path(dest)
    if dest.is_dir():
        return dest
    tmp = dest.with_name(f".{dest.name}.extracting-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        from rich.progress import Progress, SpinnerColumn, TextColumn

        found = 0
        # Stream members in order: a bz2 archive cannot seek back cheaply.
        with tarfile.open(archive) as tar, Progress(
            SpinnerColumn(), TextColumn("{task.description}"), disable=not progress, transient=True
        ) as bar:
            task = bar.add_task(f"extracting {archive.name}")
            for member in tar:
                name = member.name[2:] if member.name.startswith("./") else member.name
                if name == member_root or name.startswith(member_root + "/"):
                    tar.extract(member, tmp, filter="data")
                    found += 1
                    bar.update(task, description=f"extracting {archive.name}: {member.name}")
        if not found:
            raise DataError(
                f"{archive} has no folder {member_root!r}; delete it so that it is downloaded again."
            )
        os.replace(tmp / member_root, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest
