"""The ``xtb:`` source: a corpus written by ``forcefields data generate``, read as one FrameSet.

    dm = MolecularDataModule("xtb:corpus/qm9-xtb")          # the corpus's own split by molecule
    frames = load_corpus("corpus/qm9-xtb")
    frames.groups["test_md500"]                             # frames of 500 K GFN2-xTB MD, held-out molecules

The corpus's molecules are split when it is made (``train``, ``val``,
``test``; ``test_md500`` holds MD frames of 100 of the test molecules), so a
model is always tested on molecules it never saw. Every shard listed by the
manifest must be present and unchanged (sha256); a missing one is named.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import DataError, DataFileNotFoundError
from .readers import FrameSet

__all__ = ["load_corpus", "is_corpus", "CORPUS_GROUPS"]

CORPUS_GROUPS = ("train", "val", "test", "test_md500")
_SUPPORTED_FORMATS = (1,)
_SUPPORTED_GENERATORS = ("1.",)


def is_corpus(path: str | Path) -> bool:
    """Whether ``path`` is a corpus folder (holds a manifest)."""
    return (Path(path) / "manifest.json").is_file()


def _check_manifest(path: Path, manifest: dict) -> list[dict]:
    from .cache import file_sha256

    if manifest.get("format") not in _SUPPORTED_FORMATS:
        raise DataError(f"{path} is a corpus of format {manifest.get('format')!r}, which this forcefields version cannot "
                        f"read (it reads {_SUPPORTED_FORMATS}); upgrade forcefields or regenerate the corpus.",
                        path=str(path))
    version = str(manifest.get("generator_version", ""))
    if not version.startswith(_SUPPORTED_GENERATORS):
        raise DataError(f"{path} was written by generator version {version!r}, which this forcefields version does not "
                        "read; regenerate it with `forcefields data generate` (same settings, new folder).",
                        path=str(path))
    if not manifest.get("complete"):
        from .generate.pipeline import finalize_manifest

        done = finalize_manifest(path)
        if done is None:
            from .generate.store import unit_paths

            total = int(manifest["units"]["total"])
            missing = [u for u in range(total) if not unit_paths(path, u)[1].is_file()]
            shown = ", ".join(unit_paths(path, u)[0].name for u in missing[:5]) + (" ..." if len(missing) > 5 else "")
            raise DataError(f"{path} is incomplete: {len(missing)} of {total} shards are missing ({shown}); rerun the "
                            "same `forcefields data generate` command to finish it (it resumes), or the missing "
                            "`--shard K/N` jobs.", path=str(path))
        manifest = done
    files = manifest["units"]["files"]
    for entry in files:
        shard = path / entry["file"]
        if not shard.is_file():
            raise DataFileNotFoundError(f"{path}: shard {entry['file']} listed in the manifest is missing; rerun the "
                                        "`forcefields data generate` command that made the corpus to restore it.",
                                        path=str(shard))
        if file_sha256(shard) != entry["sha256"]:
            raise DataError(f"{path}: shard {entry['file']} does not match the sha256 in the manifest (changed or "
                            "damaged); delete it and its .json record and rerun `forcefields data generate` to "
                            "relabel it.", path=str(shard))
    return files


def load_corpus(path: str | Path) -> FrameSet:
    """All frames of a corpus folder, in eV and Å, with its split groups.

    Returns
    -------
    FrameSet whose ``groups`` are ``train``, ``val``, ``test`` and
    ``test_md500`` (frame indices), ``molecules`` the (F,) molecule id of each
    frame (its row in the SMILES file) and ``ids`` the frame's index in the
    corpus.
    """
    from .generate.store import read_manifest

    path = Path(path).expanduser()
    if not path.is_dir():
        raise DataFileNotFoundError(f"no corpus folder at {path}; make one with `forcefields data generate --out "
                                    f"{path} ...` or check the path.", path=str(path))
    manifest = read_manifest(path)
    files = _check_manifest(path, manifest)
    parts = []
    for entry in files:
        with np.load(path / entry["file"]) as z:
            parts.append({k: z[k] for k in ("numbers", "positions", "forces", "energy", "natoms", "molecule", "split")})
    natoms = np.concatenate([p["natoms"] for p in parts]).astype(np.int64)
    split = np.concatenate([p["split"] for p in parts]).astype(np.int64)
    file_index = np.concatenate([np.full(p["natoms"].shape[0], i, dtype=np.int64) for i, p in enumerate(parts)])
    frame_in_file = np.concatenate([np.arange(p["natoms"].shape[0], dtype=np.int64) for p in parts])
    frames = FrameSet(
        numbers=np.concatenate([p["numbers"] for p in parts]).astype(np.int64),
        positions=np.concatenate([p["positions"] for p in parts]).astype(np.float64),
        energy=np.concatenate([p["energy"] for p in parts]).astype(np.float64),
        forces=np.concatenate([p["forces"] for p in parts]).astype(np.float64),
        natoms=natoms,
        paths=[str(path / e["file"]) for e in files],
        file_index=file_index,
        frame_in_file=frame_in_file,
        units={"energy": "eV", "length": "Å", "forces": "eV/Å"},
        groups={name: np.flatnonzero(split == code) for code, name in enumerate(CORPUS_GROUPS)},
        label=f"xtb:{path}",
        layout=f"forcefields corpus (format {manifest['format']}, generator {manifest['generator_version']}, "
               f"{manifest.get('method', {}).get('method', '?')})",
        ids=np.arange(natoms.shape[0], dtype=np.int64),
        molecules=np.concatenate([p["molecule"] for p in parts]).astype(np.int64),
    )
    return frames
