"""Labels: GFN2-xTB forces are the negative gradient of its energy; ASE calculators by import path."""

from __future__ import annotations

import numpy as np
import pytest

from forcefields.data.generate.conformers import embed_conformers, parse_smiles
from forcefields.data.generate.failures import GenerationFailure
from forcefields.data.generate.labelers import make_labeler
from forcefields.data.generate.sampling import is_sane, normal_modes, sample_normal_modes


def test_gfn2_forces_match_finite_differences_of_its_energy():
    labeler = make_labeler("GFN2-xTB", {"accuracy": 0.01})
    conf = embed_conformers(parse_smiles("CCO"), 1, seed=3)
    pos = sample_normal_modes(conf.positions[0], conf.hessians[0], conf.masses, conf.bonds, 500.0,
                              np.random.default_rng(0))
    energy, forces = labeler.label(conf.numbers, pos)
    h = 1e-4
    for atom, axis in [(0, 0), (2, 1), (5, 2)]:
        plus, minus = pos.copy(), pos.copy()
        plus[atom, axis] += h
        minus[atom, axis] -= h
        fd = -(labeler.label(conf.numbers, plus)[0] - labeler.label(conf.numbers, minus)[0]) / (2 * h)
        assert abs(fd - forces[atom, axis]) < 2e-3, (atom, axis, fd, forces[atom, axis])
    assert np.isfinite(energy) and energy < 0


def test_gfn1_and_an_ase_calculator_by_import_path():
    conf = embed_conformers(parse_smiles("CO"), 1, seed=0)
    e1, f1 = make_labeler("GFN1-xTB").label(conf.numbers, conf.positions[0])
    e2, f2 = make_labeler("GFN2-xTB").label(conf.numbers, conf.positions[0])
    assert abs(e1 - e2) > 1e-3  # two different methods
    emt = make_labeler("ase.calculators.emt.EMT")
    e, f = emt.label(conf.numbers, conf.positions[0])
    assert f.shape == (6, 3) and np.isfinite(e)
    assert emt.describe()["method"] == "ase.calculators.emt.EMT"


def test_bad_method_names_say_what_to_do():
    with pytest.raises(ValueError, match="cannot import the calculator"):
        make_labeler("nosuchpackage.Calc")
    with pytest.raises(ValueError, match="neither GFN2-xTB"):
        make_labeler("GFN3")


def test_missing_tblite_names_the_labels_extra(monkeypatch):
    import builtins

    real = builtins.__import__

    def fake(name, *args, **kwargs):
        if name.startswith("tblite"):
            raise ImportError("no tblite")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake)
    with pytest.raises(ImportError, match=r"forcefields\[labels\]"):
        make_labeler("GFN2-xTB")


def test_normal_modes_match_known_frequencies_and_samples_stay_sane():
    conf = embed_conformers(parse_smiles("O"), 1, seed=0)
    values, vectors = normal_modes(conf.hessians[0], conf.masses)
    wavenumbers = np.sqrt(values) * 108.5913
    # MMFF94 water: bend ~1600, stretches ~3700-3800 cm^-1
    assert values.shape == (3,) and 1400 < wavenumbers[0] < 1800 and 3500 < wavenumbers[1] < wavenumbers[2] < 4000
    rng = np.random.default_rng(1)
    samples = [sample_normal_modes(conf.positions[0], conf.hessians[0], conf.masses, conf.bonds, 600.0, rng)
               for _ in range(20)]
    assert all(is_sane(s, conf.bonds, conf.positions[0]) for s in samples)
    spread = np.std([np.linalg.norm(s[1] - s[0]) for s in samples])
    assert 0.005 < spread < 0.1  # thermal O-H bond fluctuation at 600 K, Å


def test_unparsable_smiles_is_a_parse_failure():
    with pytest.raises(GenerationFailure) as info:
        parse_smiles("C1CC(")
    assert info.value.cause == "parse"


def test_squeezed_bonds_and_close_nonbonded_atoms_are_not_thermal():
    conf = embed_conformers(parse_smiles("CC#N"), 1, seed=0)
    ref = conf.positions[0]
    assert is_sane(ref, conf.bonds, ref)
    squeezed = ref.copy()
    i, j = conf.bonds[0]
    squeezed[j] = ref[i] + 0.7 * (ref[j] - ref[i])  # bond at 70 % of its length: no thermal motion gets there
    assert not is_sane(squeezed, conf.bonds, ref)
    # the nitrogen pushed to 0.9 Å of a non-bonded hydrogen
    crowded = ref.copy()
    n = int(np.flatnonzero(conf.numbers == 7)[0])
    h = int(np.flatnonzero(conf.numbers == 1)[0])
    crowded[n] = ref[h] + 0.9 * (ref[n] - ref[h]) / np.linalg.norm(ref[n] - ref[h])
    assert not is_sane(crowded, conf.bonds, ref)
