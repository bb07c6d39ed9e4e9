"""A corpus pushed as a Hub dataset and pulled back, through the real huggingface_hub client and the testing hub."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np

from forcefields.data.generate.pipeline import generate_corpus
from forcefields.testing_hub import serve

from .conftest import small_settings

# huggingface_hub reads HF_ENDPOINT at import: the client runs in a fresh process.
CHILD = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from forcefields.cli import main
    from forcefields.data.corpus import load_corpus
    src, out = Path(sys.argv[1]), Path(sys.argv[2])
    assert main(["push", str(src), "--repo", "lab/tiny-xtb"]) == 0
    assert main(["data", "pull", "lab/tiny-xtb", "--out", str(out)]) == 0
    frames = load_corpus(out)
    print(json.dumps({"frames": frames.num_frames, "energy": frames.energy.tolist()}))
    """
)


def test_push_and_pull_a_corpus_as_a_hub_dataset(tmp_path, smiles_file):
    src = tmp_path / "tiny-xtb"
    manifest = generate_corpus(src, smiles_file, small_settings(md_fraction=0.0, md_test_molecules=0), progress=False)
    out = tmp_path / "pulled"
    with serve() as hub:
        env = dict(os.environ, HF_ENDPOINT=hub.url, HF_HUB_OFFLINE="0", HF_TOKEN="test-token",
                   HF_HUB_DISABLE_TELEMETRY="1", HF_HOME=str(tmp_path / "hf"))
        proc = subprocess.run([sys.executable, "-c", CHILD, str(src), str(out)], env=env, capture_output=True,
                              text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
        uploaded = hub.files("lab/tiny-xtb", repo_type="dataset")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["frames"] == manifest["counts"]["geometries"]
    expected = np.concatenate([np.load(src / f["file"])["energy"] for f in manifest["units"]["files"]])
    np.testing.assert_array_equal(result["energy"], expected)
    assert "README.md" in uploaded and "manifest.json" in uploaded
    assert sum(name.endswith(".npz") for name in uploaded) == len(manifest["units"]["files"])
    card = uploaded["README.md"].decode()
    assert "not DFT" in card and "GFN2-xTB" in card
    everything = b"".join(uploaded.values()).decode("latin-1")
    assert str(tmp_path) not in everything  # nothing local in what is published


def test_an_incomplete_corpus_is_not_pushed(tmp_path, smiles_file):
    import pytest

    from forcefields.data.corpus_hub import push_corpus
    from forcefields.data.errors import DataError

    src = tmp_path / "part"
    generate_corpus(src, smiles_file, small_settings(md_fraction=0.0, md_test_molecules=0), progress=False,
                    max_units=1)
    with pytest.raises(DataError, match="incomplete"):
        push_corpus(src, "lab/part")
