"""A corpus on the Hugging Face Hub, as a dataset repo: push it, pull it back.

    push_corpus("corpus/qm9-xtb", "my-org/qm9-xtb")      # verified first: every shard, its sha256
    pull_corpus("my-org/qm9-xtb", "corpus/qm9-xtb")      # then train on xtb:corpus/qm9-xtb

What is uploaded: ``manifest.json``, the shards (``units/*.npz`` and their
records), ``failures.jsonl``, ``runs.jsonl`` and a dataset card (README.md)
written from the manifest. Nothing else in the folder, and no local path: the
manifest names the SMILES file by its name and hash only.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .errors import DataError

__all__ = ["push_corpus", "pull_corpus", "corpus_card", "CorpusPushResult"]

_UPLOADED = ["manifest.json", "failures.jsonl", "runs.jsonl", "plan-failures.jsonl", "units/*.npz", "units/*.json",
             "README.md"]


@dataclass(frozen=True)
class CorpusPushResult:
    repo_id: str
    revision: str
    commit: str | None
    url: str


def corpus_card(manifest: dict, repo_id: str) -> str:
    """A dataset card (Markdown with a YAML header) from a complete corpus's manifest."""
    c = manifest["counts"]
    m = manifest["method"]
    s = manifest["settings"]
    src = manifest["source"]
    splits = ", ".join(f"{k} {v:,}" for k, v in c["geometries_by_split"].items())
    failures = ", ".join(f"{k} {v:,}" for k, v in manifest.get("failures", {}).items()) or "none"
    size = "n<1K" if c["geometries"] < 1000 else ("1K<n<10K" if c["geometries"] < 10_000 else
                                                 ("10K<n<100K" if c["geometries"] < 100_000 else "100K<n<1M"))
    return f"""---
license: cc0-1.0
tags:
- chemistry
- interatomic-potentials
- forcefields
size_categories:
- {size}
---

# {repo_id.split('/')[-1]}

Energies and forces of {c['geometries']:,} geometries of {c['molecules_labelled']:,} small organic molecules,
labelled with **{m['method']}** ({', '.join(f'{k} {v}' for k, v in m['versions'].items() if v)}).
Made by `forcefields data generate` (generator {manifest['generator_version']}) from `{src['file']}`
(sha256 `{src['sha256']}`), seed {s['seed']}.

**These labels are semi-empirical tight binding (GFN-xTB), not DFT.** Potentials trained on them
learn GFN-xTB, errors included.

- Units: positions Å, energies eV (total), forces eV/Å.
- Geometries: RDKit ETKDG conformers (up to {s['max_conformers']} per molecule) relaxed with MMFF94,
  then classical normal-mode samples at {s['temperature_min']:g}–{s['temperature_max']:g} K; for a fraction
  ({s['md_fraction']:g}) of training molecules, snapshots of {m['method']} Langevin MD at {s['md_temperature']:g} K.
- Splits by molecule: {splits}. `test_md500`: frames of 500 K {m['method']} MD of
  {s['md_test_molecules']} test molecules.
- Left out, each logged in `failures.jsonl`: {failures}.
- Layout: `manifest.json` (settings, counts, every shard's sha256), `units/unit-*.npz` (arrays
  `numbers, positions, forces, energy, natoms, molecule, conformer, kind, split, charge, temperature`).

Use it with forcefields: `forcefields data pull {repo_id} --out corpus/` then
`forcefields train --data xtb:corpus/ ...`.
"""


def push_corpus(folder: str | Path, repo_id: str, revision: str | None = None, private: bool = False,
                token: str | None = None) -> CorpusPushResult:
    """Upload a complete corpus folder to a Hub dataset repo (created when missing).

    Raises
    ------
    DataError when the corpus is incomplete or a shard does not match its sha256.
    """
    from .corpus import _check_manifest
    from .generate.store import read_manifest

    folder = Path(folder).expanduser()
    manifest = read_manifest(folder)
    _check_manifest(folder, manifest)  # every shard present and unchanged, manifest completed
    manifest = read_manifest(folder)
    staging = Path(tempfile.mkdtemp(prefix="corpus-push-"))
    try:
        for pattern in _UPLOADED[:-1]:
            for path in folder.glob(pattern):
                target = staging / path.relative_to(folder)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)
        (staging / "README.md").write_text(corpus_card(manifest, repo_id))
        from huggingface_hub import HfApi

        api = HfApi(token=token)
        try:
            api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
            if revision and revision != "main":
                api.create_branch(repo_id, branch=revision, repo_type="dataset", exist_ok=True)
            info = api.upload_folder(repo_id=repo_id, folder_path=str(staging), repo_type="dataset",
                                     revision=revision, commit_message=f"Upload corpus {repo_id.split('/')[-1]}")
        except Exception as err:  # auth, network and server failures
            raise RuntimeError(f"could not push the corpus to the Hub dataset {repo_id} ({type(err).__name__}: {err}); "
                               "check the repo id, your token (HF_TOKEN) and the network.") from err
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return CorpusPushResult(repo_id=repo_id, revision=revision or "main", commit=info.oid, url=str(info.commit_url))


def pull_corpus(repo_id: str, out: str | Path, revision: str | None = None, token: str | None = None) -> Path:
    """Download a corpus dataset repo into ``out`` and check it (every shard's sha256)."""
    from huggingface_hub import snapshot_download

    from .corpus import load_corpus

    out = Path(out).expanduser()
    try:
        snapshot_download(repo_id, repo_type="dataset", revision=revision, local_dir=str(out), token=token)
    except Exception as err:
        raise RuntimeError(f"could not download the Hub dataset {repo_id} ({type(err).__name__}: {err}); check the "
                           "repo id and the network (or HF_HUB_OFFLINE).") from err
    if not (out / "manifest.json").is_file():
        raise DataError(f"the Hub dataset {repo_id} is not a forcefields corpus (no manifest.json).")
    load_corpus(out)
    return out
