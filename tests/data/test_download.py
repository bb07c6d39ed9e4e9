"""Download logic against local file:// URLs: verified, atomic, fetched once; clear offline error."""

from __future__ import annotations

import hashlib
import tarfile

import numpy as np
import pytest

from forcefields.data import MolecularDataModule, rmd17
from forcefields.data.download import DownloadError, extract_tar, fetch

from ._tiny import rmd17_arrays


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_fetch_verifies_and_renames(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(b"x" * 5000)
    dest = fetch(src.as_uri(), tmp_path / "out" / "a.bin", sha256=_sha(src), size=5000, progress=False)
    assert dest.read_bytes() == src.read_bytes()
    assert not list(dest.parent.glob("*.part"))


def test_fetch_refuses_wrong_checksum_and_leaves_nothing(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(b"y" * 100)
    dest = tmp_path / "out" / "a.bin"
    with pytest.raises(DownloadError, match="SHA-256 .* expected 0+"):
        fetch(src.as_uri(), dest, sha256="0" * 64, progress=False)
    with pytest.raises(DownloadError, match="stopped at 100 of 200 bytes"):
        fetch(src.as_uri(), dest, size=200, progress=False)
    assert list(dest.parent.iterdir()) == []


def test_fetch_without_checksum_records_digest(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(b"z" * 10)
    dest = fetch(src.as_uri(), tmp_path / "a.bin", progress=False)
    assert (tmp_path / "a.bin.sha256").read_text().strip() == _sha(src)
    assert dest.is_file()


def test_extract_is_atomic(tmp_path):
    (tmp_path / "pkg" / "inner").mkdir(parents=True)
    (tmp_path / "pkg" / "inner" / "f.txt").write_text("hi")
    archive = tmp_path / "a.tar.bz2"
    with tarfile.open(archive, "w:bz2") as tar:
        tar.add(tmp_path / "pkg", arcname="pkg")
    with pytest.raises(Exception, match="has no folder 'other'"):
        extract_tar(archive, tmp_path / "x", member_root="other", progress=False)
    assert not (tmp_path / "x").exists() and not list(tmp_path.glob(".x.*"))
    out = extract_tar(archive, tmp_path / "y", member_root="pkg", progress=False)
    assert (out / "inner" / "f.txt").read_text() == "hi"


@pytest.fixture
def fake_rmd17(tmp_path, ethanol_frames, monkeypatch):
    """A tiny rmd17.tar.bz2 in the official layout, served from a file:// URL."""
    src = tmp_path / "src" / "rmd17"
    (src / "npz_data").mkdir(parents=True)
    (src / "splits").mkdir()
    np.savez(src / "npz_data" / "rmd17_ethanol.npz", **rmd17_arrays(ethanol_frames))
    np.savetxt(src / "splits" / "index_train_01.csv", np.arange(0, 20), fmt="%d")
    np.savetxt(src / "splits" / "index_test_01.csv", np.arange(20, 30), fmt="%d")
    archive = tmp_path / "rmd17.tar.bz2"
    with tarfile.open(archive, "w:bz2") as tar:
        tar.add(src, arcname="rmd17")
    monkeypatch.setattr(rmd17, "RMD17_URL", archive.as_uri())
    monkeypatch.setattr(rmd17, "RMD17_SHA256", _sha(archive))
    monkeypatch.setattr(rmd17, "RMD17_SIZE", archive.stat().st_size)
    return archive


def test_prepare_data_downloads_once_into_cache(fake_rmd17, monkeypatch):
    split = {"protocol": "rmd17:1", "train": 15, "val": 5}
    dm = MolecularDataModule(["rmd17:ethanol"], split=split, batch_size=4, verbose=False)
    dm.prepare_data()
    root = rmd17.default_rmd17_root()
    assert (root / "rmd17" / "npz_data" / "rmd17_ethanol.npz").is_file()
    assert not (root / "rmd17.tar.bz2").exists()  # archive removed after extraction
    dm.setup()
    assert [len(dm.splits["rmd17:ethanol"][k]) for k in ("train", "val", "test")] == [15, 5, 10]

    def no_network(*a, **k):
        raise AssertionError("downloaded twice")

    monkeypatch.setattr(rmd17, "fetch", no_network)
    MolecularDataModule(["rmd17:ethanol"], verbose=False).prepare_data()


def test_offline_error_says_how_to_use_a_local_copy(tmp_path, monkeypatch):
    monkeypatch.setattr(rmd17, "RMD17_URL", (tmp_path / "no-such-archive.tar.bz2").as_uri())
    dm = MolecularDataModule(["rmd17:aspirin"], verbose=False)
    with pytest.raises(DownloadError, match=r"could not download .*pass root=<the folder holding npz_data/>"):
        dm.prepare_data()
    assert not list(rmd17.default_rmd17_root().rglob("*.part"))


def test_no_download_when_disabled_or_into_a_given_root(tmp_path, fake_rmd17):
    dm = MolecularDataModule(["rmd17:ethanol"], download=False, verbose=False)
    with pytest.raises(FileNotFoundError, match=r"rMD17 ethanol not found under .*root="):
        dm.prepare_data()
    local = tmp_path / "local"
    local.mkdir()
    dm = MolecularDataModule(["rmd17:ethanol"], root=local, verbose=False)
    with pytest.raises(FileNotFoundError, match=r"not found under .*local.*leave root unset"):
        dm.prepare_data()
    assert list(local.iterdir()) == []  # a user's folder is never written to
    assert not rmd17.default_rmd17_root().exists()


def test_md17_download(tmp_path, ethanol_frames, monkeypatch):
    from forcefields.data import md17

    from ._tiny import write_md17

    served = tmp_path / "served"
    served.mkdir()
    write_md17(served / "md17_ethanol.npz", ethanol_frames)
    monkeypatch.setattr(md17, "MD17_BASE_URL", served.as_uri() + "/")
    dm = MolecularDataModule(["md17:ethanol"], split={"train": 20, "val": 5, "test": 5}, verbose=False)
    dm.prepare_data()
    path = md17.default_md17_root() / "md17_ethanol.npz"
    assert path.is_file() and (path.parent / "md17_ethanol.npz.sha256").read_text().strip() == _sha(path)
    dm.setup()
    assert dm.statistics.num_frames == 20
