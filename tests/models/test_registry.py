"""Registered variants of mpnn and egnn, and the `forcefields list` table."""

from __future__ import annotations

import re

import pytest
import torch

from forcefields.cli import main
from forcefields.cli.models import count_parameters, variant_rows
from forcefields.models import build_model, create_model, get_variant, list_models
from forcefields.models.registry import SIZES
from forcefields.testing import evaluate, make_molecules


@pytest.mark.parametrize("family", ["mpnn", "egnn"])
def test_width_only_staircase(family):
    variants = [get_variant(f"{family}-{size}") for size in SIZES]
    configs = [v.build_config() for v in variants]
    widths = [c.hidden for c in configs]
    assert all(b == 2 * a for a, b in zip(widths, widths[1:]))
    assert len({c.num_layers for c in configs}) == 1, "depth must be fixed within a family"
    # lr(w) = lr* w_base / w: lr times width is the same for every size.
    products = [v.lr * c.hidden for v, c in zip(variants, configs)]
    assert max(products) == pytest.approx(min(products), rel=1e-12)
    params = [count_parameters(v.name) for v in variants]
    assert params == sorted(params) and len(set(params)) == len(params)
    assert 5e3 < params[0] < 5e4 and 1e6 < params[-1] < 2e7


@pytest.mark.parametrize("name", ["mpnn-xs", "egnn-xs", "mpnn-s", "egnn-s"])
def test_meta_count_matches_built_model(name):
    assert count_parameters(name) == create_model(name).num_parameters()


@pytest.mark.parametrize("name", ["mpnn-xs", "egnn-xs"])
def test_family_and_config_rebuild_the_model(name):
    model = create_model(name, dtype=torch.float64, seed=2)
    again = build_model(model.family, model.config.to_dict(), dtype=torch.float64)
    again.load_state_dict(model.state_dict())
    batch = make_molecules(2, atoms=4)
    e0, f0 = evaluate(model, batch)
    e1, f1 = evaluate(again, batch)
    assert torch.equal(e0, e1) and torch.equal(f0, f1)


def test_seed_fixes_the_weights():
    a = create_model("egnn-xs", seed=5).state_dict()
    b = create_model("egnn-xs", seed=5).state_dict()
    c = create_model("egnn-xs", seed=6).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def _printed_params(text: str) -> dict[str, int]:
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in re.split(r"[│|┃]", line) if c.strip()]
        if len(cells) >= 3 and re.fullmatch(r"[\d,]+", cells[2]):
            rows[cells[0]] = int(cells[2].replace(",", ""))
    return rows


def test_list_prints_real_parameter_counts(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["list"]) == 0
    printed = _printed_params(capsys.readouterr().out)
    assert set(printed) == set(list_models())
    for name in ["mpnn-xs", "mpnn-s", "egnn-xs", "egnn-s"]:
        assert printed[name] == create_model(name).num_parameters(), name


def test_list_family_filter(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["list", "--family", "egnn"]) == 0
    printed = _printed_params(capsys.readouterr().out)
    assert set(printed) == set(list_models("egnn"))
    rows = {r["name"]: r for r in variant_rows("egnn")}
    assert rows["egnn-s"]["lmax"] == "1" and rows["egnn-s"]["hidden"] == 64
    assert {r["lmax"] for r in variant_rows("mpnn")} == {"-"}


def test_list_unknown_family_is_one_sentence(capsys):
    assert main(["list", "--family", "schnet"]) == 1
    err = capsys.readouterr().err
    assert "unknown model family 'schnet'" in err and "Traceback" not in err


def test_unknown_variant_suggests_a_name():
    with pytest.raises(KeyError, match="mpnn-s"):
        create_model("mpnn-ss")
