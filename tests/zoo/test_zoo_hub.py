"""Push and pull through the real huggingface_hub client against forcefields.testing_hub.

huggingface_hub reads HF_ENDPOINT when imported, so the client runs in a fresh
process started with the testing hub's URL in its environment.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

import forcefields
from forcefields.testing_hub import serve
from forcefields.zoo import build_index

from ._toy import ethanol, labelled_frames, make_toy, predict

NAME = "toyzoo-s.ethanol"
TOY = Path(__file__).with_name("_toy.py")

# Runs in the child: register the toy family, push with the CLI, pull into an empty
# cache with the API, load, and write predictions and outcomes for the parent.
CHILD = textwrap.dedent(
    """
    import importlib.util, json, sys
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("toy", sys.argv[1])
    toy = importlib.util.module_from_spec(spec); sys.modules["toy"] = toy; spec.loader.exec_module(toy)
    from forcefields.models import registry
    registry.register_family(toy.ToyForceField)

    import forcefields
    from forcefields.cli import main
    from forcefields.zoo import ChecksumError, PretrainedNotFoundError
    from forcefields.zoo.resolve import cache_root
    src, out = Path(sys.argv[2]), Path(sys.argv[3])
    result = {}

    assert main(["push", str(src), "--repo", "lab/toyzoo-s.ethanol"]) == 0
    result["branch_commit"] = forcefields.push(src, "lab/toyzoo-s.ethanol", revision="v1").commit
    folder = forcefields.pull("toyzoo-s.ethanol")          # the index pins lab/<name>, no revision
    model = forcefields.load("toyzoo-s.ethanol")            # from the cache, verified against the index
    energy, forces = toy.predict(model, toy.ethanol(seed=11))
    from safetensors.torch import save_file
    save_file({"energy": energy, "forces": forces}, str(out / "pred.safetensors"))
    result.update(folder=str(folder), files=sorted(p.name for p in folder.iterdir()),
                  source=json.loads((folder / ".source.json").read_text()))

    # A Hub repo whose files differ from what the index records is refused, and nothing is cached.
    other = forcefields.save(toy.make_toy(seed=2), out / "evil" / "toyzoo-s.evil")
    forcefields.push(other, "lab/toyzoo-s.evil")
    try:
        forcefields.load("toyzoo-s.evil")
        result["evil"] = "loaded"
    except ChecksumError as err:
        result["evil"] = str(err)
    result["cache_after_evil"] = sorted(p.name for p in cache_root().iterdir())

    for name, rev in (("toyzoo-s.nothere", None), ("toyzoo-s.ethanol", "no-such-branch")):
        try:
            forcefields.pull(name, revision=rev)
            result[f"missing {name}"] = "pulled"
        except PretrainedNotFoundError as err:
            result[f"missing {name}"] = str(err)
    (out / "result.json").write_text(json.dumps(result))
    """
)


@pytest.mark.timeout(150)
def test_push_pull_round_trip_through_the_real_client(toy_family, tmp_path):
    model = make_toy()
    src = forcefields.save(model, tmp_path / "work" / NAME, reference=labelled_frames(2),
                           metrics={"force_mae": 10.0, "split": "toy"})
    # The "shipped" index lists both names (with the checksums of `model`) but ships no folder:
    # they must come from the Hub.
    shipped = tmp_path / "shipped"
    shutil.copytree(src, shipped / NAME)
    forcefields.save(model, shipped / "toyzoo-s.evil")
    build_index(shipped)
    shutil.rmtree(shipped / NAME)
    shutil.rmtree(shipped / "toyzoo-s.evil")
    out = tmp_path / "out"
    out.mkdir()
    with serve() as hub:
        env = {
            **os.environ,
            "HF_ENDPOINT": hub.url,
            "HF_HUB_OFFLINE": "0",
            "HF_HOME": str(tmp_path / "hf"),
            "HF_HUB_DISABLE_PROGRESS_BARS": "1",
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "FORCEFIELDS_CACHE": str(tmp_path / "cache"),
            "FORCEFIELDS_CHECKPOINTS": str(shipped),
            "FORCEFIELDS_HUB_ORG": "lab",
            "OMP_NUM_THREADS": "1",
            "NO_PROXY": "127.0.0.1,localhost",
        }
        env.pop("FORCEFIELDS_HUB_DIR", None)
        proc = subprocess.run(
            [sys.executable, "-c", CHILD, str(TOY), str(src), str(out)],
            env=env, capture_output=True, text=True, timeout=140,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        on_hub = hub.files(f"lab/{NAME}")
        branch = hub.files(f"lab/{NAME}", "v1")
    # what the hub holds is the folder, byte for byte (and nothing hidden but .gitattributes)
    local = {p.name: p.read_bytes() for p in src.iterdir()}
    assert {k: v for k, v in on_hub.items() if k != ".gitattributes"} == local
    assert {k: v for k, v in branch.items() if k != ".gitattributes"} == local
    result = json.loads((out / "result.json").read_text())
    assert result["files"] == sorted([*local, ".source.json"])
    assert result["source"]["repo_id"] == f"lab/{NAME}" and len(result["source"]["commit"]) == 40
    assert result["source"]["verified_against_index"] is True
    assert len(result["branch_commit"]) == 40
    for fname, data in local.items():
        assert (Path(result["folder"]) / fname).read_bytes() == data
    from safetensors.torch import load_file

    pred = load_file(str(out / "pred.safetensors"))
    energy, forces = predict(model, ethanol(seed=11))
    assert torch.equal(pred["energy"], energy) and torch.equal(pred["forces"], forces)
    assert "index entry of toyzoo-s.evil" in result["evil"]
    assert result["cache_after_evil"] == [NAME]
    assert "the Hub repo lab/toyzoo-s.nothere (not found)" in result["missing toyzoo-s.nothere"]
    assert "at revision no-such-branch" in result["missing toyzoo-s.ethanol"]


def test_cli_pretrained_and_info(toy_family, ckpt_dir, capsys, monkeypatch):
    from forcefields.cli import main

    monkeypatch.setenv("COLUMNS", "200")  # rich wraps to the terminal width
    from forcefields.zoo import build_index

    forcefields.save(make_toy(), ckpt_dir / NAME, metrics={"force_mae": 7.25})
    build_index(ckpt_dir)
    assert main(["pretrained"]) == 0
    out = capsys.readouterr().out
    assert NAME in out and "7.25" in out
    assert main(["info", NAME]) == 0
    out = capsys.readouterr().out
    assert "force_mae: 7.25 meV/Å" in out and "Intended use" in out
    assert main(["info", "toyzoo-s.ethanoll"]) == 1
    err = capsys.readouterr().err
    assert "Did you mean" in err and "\n" == err[-1] and err.count("\n") == 1
