"""Corpus generation end to end on a dozen SMILES: determinism, resume, shards, failures, the data source."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from forcefields.data.errors import DataError
from forcefields.data.generate.pipeline import generate_corpus, label_structures
from forcefields.data.generate.store import unit_paths

from .conftest import small_settings


def _arrays(folder):
    manifest = json.loads((folder / "manifest.json").read_text())
    out = []
    for entry in manifest["units"]["files"]:
        with np.load(folder / entry["file"]) as z:
            out.append({k: z[k] for k in z.files})
    return manifest, out


def _same(a, b):
    (ma, xa), (mb, xb) = _arrays(a), _arrays(b)
    assert [e["sha256"] for e in ma["units"]["files"]] == [e["sha256"] for e in mb["units"]["files"]]
    for u, v in zip(xa, xb):
        for k in u:
            np.testing.assert_array_equal(u[k], v[k])


@pytest.fixture
def reference(tmp_path, smiles_file):
    """The reference corpus: made in one go by one process."""
    out = tmp_path / "ref"
    manifest = generate_corpus(out, smiles_file, small_settings(), workers=1, progress=False)
    return out, manifest


def test_counts_failures_and_splits(reference):
    out, manifest = reference
    assert manifest["complete"]
    # 16 lines: one SMILES does not parse, one line holds an empty field, one molecule is charged
    assert manifest["plan_failure_counts"] == {"parse": 2, "charged": 1}
    assert manifest["plan"]["molecules"] == 12
    counts = manifest["counts"]
    assert counts["molecules_labelled"] + sum(v for k, v in manifest["failures"].items()
                                              if k in ("embed", "forcefield")) == 12
    assert counts["geometries_by_split"]["test_md500"] == 2  # 1 molecule x 2 frames of 500 K MD
    assert counts["geometries_by_kind"].get("md", 0) >= 1
    failures = [json.loads(line) for line in (out / "failures.jsonl").read_text().splitlines()]
    causes = {f["cause"] for f in failures}
    assert {"parse", "charged"} <= causes
    assert any(f["smiles"] == "C[NH3+]" and f["line"] == 15 for f in failures)
    assert manifest["source"]["file"] == "dozen.csv" and "/" not in manifest["source"]["file"]
    assert manifest["time"]["ms_per_label"] > 0


def test_same_seed_same_corpus_and_workers_do_not_matter(tmp_path, smiles_file, reference):
    out, _ = reference
    again = tmp_path / "again"
    generate_corpus(again, smiles_file, small_settings(), workers=2, progress=False)
    _same(out, again)
    other = tmp_path / "other-seed"
    generate_corpus(other, smiles_file, small_settings(seed=1), workers=1, progress=False)
    with pytest.raises(AssertionError):
        _same(out, other)


def test_interrupted_run_resumes_to_the_identical_corpus(tmp_path, smiles_file, reference):
    out, _ = reference
    part = tmp_path / "part"
    first = generate_corpus(part, smiles_file, small_settings(), workers=1, progress=False, max_units=1)
    assert not first["complete"]
    # a unit cut off mid-write leaves a stray temporary file and no record: it is redone
    (part / "units" / ".unit-00002.123.tmp.npz").write_bytes(b"partial")
    with pytest.raises(DataError, match="incomplete: 2 of 3 shards are missing"):
        from forcefields.data.corpus import load_corpus

        load_corpus(part)
    generate_corpus(part, smiles_file, small_settings(), workers=1, progress=False)
    _same(out, part)


def test_shards_merged_equal_a_one_shot_run(tmp_path, smiles_file, reference):
    out, _ = reference
    merged = tmp_path / "merged"
    m1 = generate_corpus(merged, smiles_file, small_settings(), shard=(1, 2), progress=False)
    assert not m1["complete"]
    m2 = generate_corpus(merged, smiles_file, small_settings(), shard=(2, 2), progress=False)
    assert m2["complete"]
    _same(out, merged)


def test_resume_with_other_settings_is_refused(tmp_path, smiles_file, reference):
    out, _ = reference
    with pytest.raises(DataError, match="geometries_per_molecule: 3 asked, 2 in the corpus"):
        generate_corpus(out, smiles_file, small_settings(geometries_per_molecule=3), progress=False)


def test_the_corpus_is_a_data_source_split_by_molecule(reference):
    from forcefields import MolecularDataModule
    from forcefields.data.corpus import load_corpus

    out, manifest = reference
    dm = MolecularDataModule(f"xtb:{out}", batch_size=4, use_cache=False, verbose=False)
    dm.setup()
    frames = load_corpus(out)
    split = dm.splits[f"xtb:{out}"]
    mols = {k: set(frames.molecules[v]) for k, v in split.items()}
    assert mols["train"] and mols["val"] and mols["test"]
    assert not (mols["train"] & mols["test"]) and not (mols["train"] & mols["val"])
    assert len(split["train"]) + len(split["val"]) + len(split["test"]) + len(frames.groups["test_md500"]) \
        == manifest["counts"]["geometries"]
    batch = next(iter(dm.train_dataloader()))
    assert batch.forces.shape[1] == 3 and set(batch.z.tolist()) <= {1, 6, 7, 8, 9}
    md = MolecularDataModule(f"xtb:{out}", split={"protocol": "corpus", "test": "test_md500"}, batch_size=2,
                             use_cache=False, verbose=False)
    md.setup()
    assert len(md.test_dataset) == 2
    byfrac = MolecularDataModule(str(out), split={"train": 0.5, "val": 0.25, "test": 0.25}, batch_size=2,
                                 use_cache=False, verbose=False)
    byfrac.setup()
    s = byfrac.splits[f"xtb:{out}"]
    assert not set(frames.molecules[s["train"]]) & set(frames.molecules[s["test"]])


def test_missing_or_changed_shard_is_named(tmp_path, reference):
    from forcefields.data.corpus import load_corpus

    out, _ = reference
    broken = tmp_path / "broken"
    shutil.copytree(out, broken)
    npz, _ = unit_paths(broken, 1)
    npz.unlink()
    with pytest.raises(DataError, match="unit-00001.npz"):
        load_corpus(broken)
    changed = tmp_path / "changed"
    shutil.copytree(out, changed)
    npz, _ = unit_paths(changed, 0)
    data = dict(np.load(npz))
    data["energy"] = data["energy"] + 1.0
    np.savez(npz, **data)
    with pytest.raises(DataError, match="does not match the sha256"):
        load_corpus(changed)


def test_another_generator_version_is_refused(tmp_path, reference):
    from forcefields.data.corpus import load_corpus

    out, _ = reference
    old = tmp_path / "old"
    shutil.copytree(out, old)
    manifest = json.loads((old / "manifest.json").read_text())
    manifest["generator_version"] = "0.1"
    (old / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(DataError, match="generator version '0.1'"):
        load_corpus(old)


def test_label_a_users_structures(tmp_path):
    from ase import Atoms
    from ase.io import write

    rng = np.random.default_rng(0)
    frames = []
    for k in range(6):
        atoms = Atoms("CH4", positions=[[0, 0, 0], [0.63, 0.63, 0.63], [-0.63, -0.63, 0.63], [-0.63, 0.63, -0.63],
                                        [0.63, -0.63, -0.63]])
        atoms.positions += rng.normal(scale=0.03, size=(5, 3))
        atoms.info["mol_id"] = k // 2
        frames.append(atoms)
    path = tmp_path / "mine.extxyz"
    write(path, frames)
    settings = small_settings(method="GFN2-xTB", unit_size=4, val_fraction=0.0, test_fraction=0.34)
    manifest = label_structures(tmp_path / "mine", path, settings, progress=False)
    assert manifest["complete"] and manifest["counts"]["geometries"] == 6
    assert manifest["counts"]["geometries_by_split"] == {"train": 4, "test": 2}
    from forcefields.data.corpus import load_corpus

    corpus = load_corpus(tmp_path / "mine")
    assert corpus.molecules.tolist() == [0, 0, 1, 1, 2, 2]
    with pytest.raises(DataError, match="no structure file"):
        label_structures(tmp_path / "x", tmp_path / "missing.extxyz", settings, progress=False)


def test_cli_generate_and_info(tmp_path, smiles_file, capsys):
    from forcefields.cli import main

    out = tmp_path / "cli"
    rc = main(["data", "generate", "--smiles", str(smiles_file), "--molecules", "6", "--geometries-per-molecule", "1",
               "--val-molecules", "1", "--test-molecules", "1", "--md-test-molecules", "0", "--md-fraction", "0",
               "--out", str(out), "--no-progress"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "complete" in text and "charged 1" in text and "parse 2" in text
    assert main(["data", "info", f"xtb:{out}"]) == 0
    assert "geometries" in capsys.readouterr().out
    assert main(["data", "generate", "--smiles", str(smiles_file), "--out", str(out), "--shard", "3/2"]) == 1
    assert "--shard '3/2'" in capsys.readouterr().err


def test_max_force_leaves_out_frames_and_counts_them(reference):
    from forcefields import MolecularDataModule
    from forcefields.data.corpus import load_corpus

    out, _ = reference
    frames = load_corpus(out)
    largest = frames.largest_force()
    limit = float(np.median(largest))
    dm = MolecularDataModule(f"xtb:{out}", batch_size=4, use_cache=False, verbose=False, max_force=limit)
    dm.setup()
    split = dm.splits[f"xtb:{out}"]
    kept = np.concatenate([split[k] for k in ("train", "val", "test")])
    assert np.all(largest[kept] <= limit)
    expected = int((largest[np.concatenate([frames.groups[k] for k in ("train", "val", "test")])] > limit).sum())
    assert dm.above_max_force[f"xtb:{out}"] == int((largest > limit).sum()) and dm.num_skipped >= expected > 0
    with pytest.raises(ValueError, match="max_force"):
        MolecularDataModule(f"xtb:{out}", max_force=0.0)
