"""`forcefields md` / `relax` and their functions end to end on a tiny model; coincident atoms refused everywhere."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import molecule
from ase.calculators.calculator import Calculator, all_changes
from ase.io import read, write

import forcefields
from forcefields.cli import main
from forcefields.simulate import load_structure, relax, run_md

ELEMENTS = (1, 6, 7, 8)
E0 = {"1": -13.6, "6": -1029.8, "7": -1485.3, "8": -2041.3}


@pytest.fixture(scope="module")
def model():
    """An untrained mpnn-xs on H, C, N, O, float64; energy scale 10 eV for forces of ~0.05 eV/Å."""
    m = forcefields.create_model("mpnn-xs", elements=ELEMENTS, atomic_energies=E0, energy_scale=10.0,
                                 dtype=torch.float64, seed=0)
    return m.eval()


@pytest.fixture(scope="module")
def folder(model, tmp_path_factory):
    return forcefields.save(model, tmp_path_factory.mktemp("ckpt") / "mpnn-xs.tiny")


@pytest.fixture
def ethanol_file(tmp_path):
    atoms = molecule("CH3CH2OH")
    atoms.pbc = False
    path = tmp_path / "ethanol.xyz"
    write(path, atoms)
    return path


def frames(path):
    return read(path, index=":")


# ------------------------------------------------------------------ md
def test_md_from_a_file_writes_every_interval(model, ethanol_file, tmp_path):
    atoms = load_structure(ethanol_file)
    out = tmp_path / "md.extxyz"
    s = run_md(atoms, model, temperature_K=300, steps=20, interval=5, seed=1, out=out, progress=False)
    assert (s.steps, s.steps_requested, s.natoms, s.blew_up, s.thermostat) == (20, 20, 9, False, "langevin")
    assert s.simulated_ps == pytest.approx(0.01) and s.frames_written == 5
    assert 30 < s.temperature_mean < 1500 and s.temperature_std >= 0
    assert np.isfinite(s.energy_drift) and s.ms_per_step > 0 and s.wall_time_s > 0
    traj = frames(out)
    assert len(traj) == 5 and [f.info["step"] for f in traj] == [0, 5, 10, 15, 20]
    assert traj[-1].get_forces().shape == (9, 3) and np.isfinite(traj[-1].get_potential_energy())
    np.testing.assert_allclose(traj[-1].positions, atoms.positions, atol=1e-6)


def test_md_is_reproducible_and_nve_conserves_energy(model, ethanol_file):
    runs = []
    for _ in range(2):
        atoms = load_structure(ethanol_file)
        s = run_md(atoms, model, temperature_K=200, steps=30, timestep_fs=0.25, thermostat="nve", seed=3,
                   progress=False)
        runs.append((atoms.positions.copy(), s))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    assert abs(runs[0][1].energy_drift) < 1e-2  # eV/atom/ps, float64, 0.25 fs: tiny


class Collapse(Calculator):
    """A broken potential pulling atoms 0 and 1 together with a huge constant force."""

    implemented_properties = ["energy", "forces"]

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        d = self.atoms.positions[1] - self.atoms.positions[0]
        u = d / np.linalg.norm(d)
        f = np.zeros((len(self.atoms), 3))
        f[0], f[1] = 50 * u, -50 * u
        self.results = {"energy": 50 * float(np.linalg.norm(d)), "forces": f}


def test_md_stops_when_it_blows_up_and_keeps_the_last_frames(tmp_path):
    atoms = molecule("CH3CH2OH")
    out = tmp_path / "bad.extxyz"
    s = run_md(atoms, Collapse(), temperature_K=10, steps=500, interval=100, out=out, progress=False)
    assert s.blew_up and s.steps < 500 and "closer than 0.5 Å" in s.reason
    last = frames(s.last_frames)
    assert 1 <= len(last) <= 10 and last[-1].get_distance(0, 1) < 0.5
    assert len(frames(out)) == s.frames_written == 1  # step 0 only


def test_md_refuses_bad_settings(model):
    with pytest.raises(ValueError, match="thermostat 'nvt' is not known"):
        run_md(molecule("H2O"), model, thermostat="nvt", progress=False)


# --------------------------------------------------------------- relax
def test_relax_from_a_file(model, ethanol_file, tmp_path):
    atoms = load_structure(ethanol_file)
    atoms.rattle(0.05, seed=0)
    out = tmp_path / "relaxed.xyz"
    s = relax(atoms, model, fmax=0.02, steps=200, optimizer="LBFGS", out=out, progress=False)
    assert s.natoms == 9 and s.optimizer == "LBFGS" and 0 < s.steps <= 200
    assert s.final_energy <= s.initial_energy and s.final_fmax <= s.initial_fmax
    assert s.converged == (s.final_fmax < 0.02)
    (final,) = frames(out)
    np.testing.assert_allclose(final.positions, atoms.positions, atol=1e-6)
    assert final.get_potential_energy() == pytest.approx(s.final_energy)


def test_relax_refuses_an_unknown_optimizer(model):
    with pytest.raises(ValueError, match="use one of BFGS, FIRE, LBFGS"):
        relax(molecule("H2O"), model, optimizer="CG", progress=False)


# ---------------------------------------------------------- molecules
def test_atoms_from_smiles_is_deterministic_with_hydrogens():
    pytest.importorskip("rdkit")
    a = forcefields.atoms_from_smiles("CCO", seed=0)
    b = forcefields.atoms_from_smiles("CCO", seed=0)
    assert a.get_chemical_formula() == "C2H6O" and not a.pbc.any()
    np.testing.assert_array_equal(a.positions, b.positions)
    assert a.info["conformer_method"] == "ETKDGv3+MMFF94" and a.info["charge"] == 0
    d = a.get_all_distances()[np.triu_indices(len(a), 1)]
    assert d.min() > 0.9  # a sensible geometry


def test_a_charged_molecule_is_built_with_a_warning():
    pytest.importorskip("rdkit")
    with pytest.warns(UserWarning, match="net formal charge of -1"):
        a = forcefields.atoms_from_smiles("CC(=O)[O-]")
    assert a.info["charge"] == -1


def test_a_bad_smiles_is_one_sentence():
    pytest.importorskip("rdkit")
    with pytest.raises(ValueError, match=r"^RDKit cannot parse the SMILES 'C1CC\(';") as err:
        forcefields.atoms_from_smiles("C1CC(")
    assert str(err.value).count(". ") == 0 and "--structure" in str(err.value)


def test_a_smiles_that_does_not_embed_is_one_sentence(monkeypatch):
    pytest.importorskip("rdkit")
    from rdkit.Chem import AllChem

    monkeypatch.setattr(AllChem, "EmbedMolecule", lambda *a, **k: -1)
    with pytest.raises(ValueError, match="RDKit cannot embed the SMILES 'CCO' in 3D.*try another --seed"):
        forcefields.atoms_from_smiles("CCO")


def test_missing_rdkit_names_the_labels_extra(monkeypatch, folder, capsys):
    monkeypatch.setitem(sys.modules, "rdkit", None)
    with pytest.raises(ImportError, match=r"pip install 'forcefields\[labels\]'"):
        forcefields.atoms_from_smiles("CCO")
    assert main(["relax", "--model", str(folder), "--smiles", "CCO"]) == 1
    assert "forcefields[labels]" in capsys.readouterr().err


def test_load_structure_reads_files_and_names_missing_ones(ethanol_file, tmp_path):
    assert load_structure(ethanol_file).get_chemical_formula() == "C2H6O"
    with pytest.raises(FileNotFoundError, match="no structure file .*nothere.xyz"):
        load_structure(tmp_path / "nothere.xyz")


# ------------------------------------------------------------------ CLI
def test_cli_md_from_smiles(folder, tmp_path, capsys):
    pytest.importorskip("rdkit")
    out = tmp_path / "aspirin-md.extxyz"
    rc = main(["md", "--model", str(folder), "--smiles", "CC(=O)Oc1ccccc1C(=O)O", "--temperature", "300",
               "--steps", "20", "--interval", "10", "--out", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    for words in ("C9H8O4", "energy drift", "meV/atom/ps", "ms/step", "3 frames"):
        assert words in text, words
    assert len(frames(out)) == 3 and len(frames(out)[0]) == 21


def test_cli_md_nve_from_a_file(folder, ethanol_file, tmp_path, capsys):
    out = tmp_path / "md.extxyz"
    rc = main(["md", "--model", str(folder), "--structure", str(ethanol_file), "--thermostat", "nve",
               "--timestep", "0.25", "--steps", "10", "--interval", "5", "--dtype", "float64", "--seed", "2",
               "--out", str(out), "--no-progress"])
    assert rc == 0 and len(frames(out)) == 3
    assert "NVE" in capsys.readouterr().out


def test_cli_relax_from_a_file(folder, ethanol_file, tmp_path, capsys):
    out = tmp_path / "relaxed.xyz"
    rc = main(["relax", "--model", str(folder), "--structure", str(ethanol_file), "--fmax", "0.05",
               "--optimizer", "FIRE", "--steps", "300", "--out", str(out)])
    text = capsys.readouterr().out
    for words in ("converged", "largest force", "eV/Å", "FIRE", str(out)):
        assert words in text, words
    assert rc == (0 if "yes (fmax" in text else 1)
    assert len(frames(out)) == 1


def test_cli_relax_from_smiles(folder, tmp_path, capsys):
    pytest.importorskip("rdkit")
    out = tmp_path / "caffeine.xyz"
    rc = main(["relax", "--model", str(folder), "--smiles", "CN1C=NC2=C1C(=O)N(C(=O)N2C)C",
               "--fmax", "0.05", "--steps", "5", "--out", str(out)])
    assert rc in (0, 1) and "Relaxation of C8H10N4O2" in capsys.readouterr().out
    assert read(out).get_chemical_formula() == "C8H10N4O2"


def test_cli_bad_input_is_one_sentence(folder, tmp_path, capsys):
    sulfur = tmp_path / "h2s.xyz"
    write(sulfur, Atoms("SH2", positions=[[0, 0, 0], [1.34, 0, 0], [-0.03, 1.34, 0]]))
    assert main(["md", "--model", str(folder), "--structure", str(sulfur), "--steps", "2"]) == 1
    err = capsys.readouterr().err
    assert "not trained on S (Z=16)" in err and "Traceback" not in err
    assert main(["relax", "--model", str(folder), "--structure", str(tmp_path / "missing.xyz")]) == 1
    assert "no structure file" in capsys.readouterr().err


def test_cli_bad_smiles_is_one_sentence(folder, capsys):
    pytest.importorskip("rdkit")
    assert main(["md", "--model", str(folder), "--smiles", "C1CC("]) == 1
    assert "RDKit cannot parse the SMILES 'C1CC('" in capsys.readouterr().err


# ---------------------------------------------------- coincident atoms
def water_with_a_duplicate():
    atoms = molecule("H2O")
    return Atoms(list(atoms.numbers) + [1], positions=np.vstack([atoms.positions, atoms.positions[1]]))


def test_coincident_atoms_refused_by_the_calculator(model):
    atoms = water_with_a_duplicate()
    atoms.calc = forcefields.calculator(model)
    with pytest.raises(ValueError, match=r"^atoms 1 and 3 are at the same position"):
        atoms.get_potential_energy()


def test_coincident_atoms_refused_by_the_model_in_a_batch(model):
    a, b = molecule("CH4"), water_with_a_duplicate()
    z = torch.tensor(np.concatenate([a.numbers, b.numbers]))
    pos = torch.tensor(np.vstack([a.positions, b.positions]))
    batch = torch.tensor([0] * len(a) + [1] * len(b))
    with pytest.raises(ValueError, match=r"atoms 1 and 3 of molecule 1 in the batch \(batch atoms 6 and 8\)"):
        model(SimpleNamespace(z=z, pos=pos, batch=batch, num_graphs=2))
    ok = model(SimpleNamespace(z=z[:5], pos=pos[:5], batch=batch[:5], num_graphs=1))
    assert torch.isfinite(ok["forces"]).all()


def test_coincident_atoms_refused_by_md_relax_and_cli(model, folder, tmp_path, capsys):
    with pytest.raises(ValueError, match="atoms 1 and 3 are at the same position"):
        run_md(water_with_a_duplicate(), model, steps=5, out=tmp_path / "x.extxyz", progress=False)
    with pytest.raises(ValueError, match="atoms 1 and 3 are at the same position"):
        relax(water_with_a_duplicate(), model, progress=False)
    path = tmp_path / "dup.xyz"
    write(path, water_with_a_duplicate())
    assert main(["md", "--model", str(folder), "--structure", str(path), "--steps", "2"]) == 1
    assert "atoms 1 and 3 are at the same position" in capsys.readouterr().err
