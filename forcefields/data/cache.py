"""The on-disk cache: where downloads and built graphs live, and file hashes.

Layout under ``$FORCEFIELDS_CACHE`` (default ``~/.cache/forcefields``)::

    datasets/<kind>/     downloaded datasets (rMD17 archive, MD17 files)
    graphs/<key>.safetensors   built graphs (see forcefields.data.dataset)
    filehashes/<id>.json       SHA-256 of data files, reused while path, size and mtime agree
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from .download import sha256_file

__all__ = ["cache_dir", "file_sha256", "atomic_write_text"]


def cache_dir() -> Path:
    """The cache root: ``$FORCEFIELDS_CACHE`` or ``~/.cache/forcefields``."""
    return Path(os.environ.get("FORCEFIELDS_CACHE") or "~/.cache/forcefields").expanduser()


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's content, remembered by (absolute path, size, mtime).

    Hashing a 100,000-frame archive takes a moment; the remembered digest makes
    the second run start at once. A changed file (new size or mtime) is hashed again.
    """
    path = Path(path).resolve()
    st = path.stat()
    memo = cache_dir() / "filehashes" / (hashlib.sha1(str(path).encode()).hexdigest() + ".json")
    try:
        record = json.loads(memo.read_text())
        if record["path"] == str(path) and record["size"] == st.st_size and record["mtime_ns"] == st.st_mtime_ns:
            return record["sha256"]
    except (OSError, ValueError, KeyError):
        pass
    digest = sha256_file(path)
    try:
        atomic_write_text(
            memo,
            json.dumps({"path": str(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": digest}),
        )
    except OSError:  # a read-only cache is not fatal
        pass
    return digest
