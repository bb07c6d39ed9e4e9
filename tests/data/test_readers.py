"""Readers and unit conversion: every layout reads back the eV/Å labels it was written from."""

from __future__ import annotations

import numpy as np
import pytest
from ase import units

from forcefields.data.errors import DataError, DataFileNotFoundError
from forcefields.data.readers import ReaderOptions, read_ase, read_file, read_npz
from forcefields.data.sources import load_source, parse_source

from ._tiny import energies, forces, labelled, rmd17_arrays, write_extxyz, write_md17, write_rmd17_archive


def _assert_matches(fs, frames, tol=1e-12):
    """Same frames; ``tol`` 1e-6 for text formats (extxyz keeps 8 significant digits)."""
    assert fs.num_frames == len(frames)
    np.testing.assert_array_equal(fs.numbers, np.concatenate([a.numbers for a in frames]))
    np.testing.assert_allclose(fs.positions, np.concatenate([a.positions for a in frames]), rtol=0, atol=tol)
    np.testing.assert_allclose(fs.energy, energies(frames), rtol=tol)
    np.testing.assert_allclose(fs.forces, np.concatenate([a.get_forces() for a in frames]), rtol=tol, atol=tol)


def test_kcal_per_mol_is_ase_value():
    from forcefields.data.units import energy_factor, forces_factor

    assert energy_factor("kcal/mol") == pytest.approx(0.0433641, rel=1e-6)
    assert energy_factor("kcal/mol") == units.kcal / units.mol
    assert forces_factor("hartree/bohr") == pytest.approx(units.Hartree / units.Bohr)


def test_rmd17_npz_converts_kcal(tmp_path, ethanol_frames):
    path = tmp_path / "rmd17_ethanol_train_01.npz"
    np.savez(path, **rmd17_arrays(ethanol_frames))
    fs = read_npz(path)
    _assert_matches(fs, ethanol_frames)
    assert fs.units["energy"] == "kcal/mol"
    np.testing.assert_array_equal(fs.ids, np.arange(len(ethanol_frames)))


def test_md17_npz_converts_kcal(tmp_path, ethanol_frames):
    fs = read_npz(write_md17(tmp_path / "md17_ethanol.npz", ethanol_frames))
    _assert_matches(fs, ethanol_frames)


def test_md17_kind_under_root(tmp_path, ethanol_frames):
    write_md17(tmp_path / "md17_ethanol.npz", ethanol_frames)
    fs = load_source("md17:ethanol", root=tmp_path)
    assert fs.label == "md17:ethanol"
    _assert_matches(fs, ethanol_frames)


def test_npz_declared_units_override(tmp_path, ethanol_frames):
    path = tmp_path / "ev.npz"
    np.savez(
        path,
        numbers=ethanol_frames[0].numbers,
        positions=np.stack([a.positions for a in ethanol_frames]) / units.Bohr,
        energy=energies(ethanol_frames) / units.Hartree,
        forces=forces(ethanol_frames) / (units.Hartree / units.Bohr),
    )
    fs = read_npz(path, ReaderOptions(units="hartree", length_unit="bohr"))
    _assert_matches(fs, ethanol_frames)


def test_extxyz_default_keys(tmp_path):
    frames = labelled("water", 4) + labelled("ethanol", 3)
    fs = read_ase(write_extxyz(tmp_path / "a.xyz", frames))
    _assert_matches(fs, frames, tol=1e-6)
    np.testing.assert_array_equal(fs.natoms, [3] * 4 + [9] * 3)


def test_extxyz_custom_keys(xyz_file):
    path, frames = xyz_file
    fs = read_file(path, ReaderOptions(energy_key="REF_energy", forces_key="REF_forces"))
    _assert_matches(fs, frames, tol=1e-6)


def test_extxyz_custom_keys_in_kcal(tmp_path):
    frames = labelled("methane", 3)
    scaled = []
    for a in frames:
        b = a.copy()
        b.info["E"] = a.get_potential_energy() / (units.kcal / units.mol)
        b.arrays["F"] = a.get_forces() / (units.kcal / units.mol)
        scaled.append(b)
    import ase.io

    ase.io.write(tmp_path / "k.xyz", scaled, format="extxyz")
    fs = load_source({"path": str(tmp_path / "k.xyz"), "energy_key": "E", "forces_key": "F", "units": "kcal/mol"})
    _assert_matches(fs, frames, tol=1e-6)


def test_ase_db(tmp_path):
    from ase.db import connect

    frames = labelled("water", 3) + labelled("methane", 2)
    with connect(str(tmp_path / "x.db")) as db:
        for a in frames:
            db.write(a)
    fs = read_file(tmp_path / "x.db")
    _assert_matches(fs, frames)


def test_ase_db_custom_keys(tmp_path):
    from ase.db import connect

    frames = labelled("methane", 3)
    with connect(str(tmp_path / "y.db")) as db:
        for a in frames:
            b = a.copy()  # no calculator: labels only under the custom keys
            db.write(b, REF_energy=a.get_potential_energy(), data={"REF_forces": a.get_forces()})
    with pytest.raises(DataError, match=r"row 0 has no energy under 'energy'.*REF_energy"):
        read_file(tmp_path / "y.db")
    fs = read_file(tmp_path / "y.db", ReaderOptions(energy_key="REF_energy", forces_key="REF_forces"))
    _assert_matches(fs, frames)


def test_archive_layout_reads_splits(tmp_path, ethanol_frames):
    root = write_rmd17_archive(tmp_path / "r", "ethanol", ethanol_frames, {"train_01": [5, 1, 3], "test_01": [0, 2]})
    fs = load_source("rmd17:ethanol", root=root)
    _assert_matches(fs, ethanol_frames)
    np.testing.assert_array_equal(fs.groups["train_01"], [5, 1, 3])
    np.testing.assert_array_equal(fs.groups["test_01"], [0, 2])
    np.savetxt(root / "splits" / "index_test_02.csv", [1, 30], fmt="%d")
    with pytest.raises(DataError, match=r"index_test_02.csv lists frame 30 but the archive has frames 0..29"):
        load_source("rmd17:ethanol", root=root)


def test_per_split_layout_dedupes(tmp_path, ethanol_frames):
    from ._tiny import write_rmd17_per_split

    root = write_rmd17_per_split(
        tmp_path, "ethanol", ethanol_frames, {"train_01": np.arange(0, 10), "test_01": np.arange(10, 15), "train_02": np.arange(5, 15)}
    )
    fs = load_source("rmd17:ethanol", root=root)
    assert fs.num_frames == 15  # train_02 repeats frames of the other two files
    # groups index frames with the right content
    for name, idx in {"train_01": np.arange(0, 10), "train_02": np.arange(5, 15)}.items():
        np.testing.assert_allclose(fs.energy[fs.groups[name]], energies(ethanol_frames)[idx], rtol=1e-12)


# ---------------------------------------------------------------- mistakes
def test_unknown_npz_key_lists_keys(tmp_path):
    np.savez(tmp_path / "x.npz", numbers=[1, 1], positions=np.zeros((2, 2, 3)), forces=np.zeros((2, 2, 3)), U=[1.0, 2.0])
    with pytest.raises(DataError, match=r"no key 'energy'.*\['U', 'forces', 'numbers', 'positions'\].*energy_key"):
        read_npz(tmp_path / "x.npz")
    fs = read_npz(tmp_path / "x.npz", ReaderOptions(energy_key="U"))
    assert fs.energy.tolist() == [1.0, 2.0]


def test_unknown_extxyz_key_lists_keys(xyz_file):
    path, _ = xyz_file
    with pytest.raises(DataError, match=r"frame 0 has no energy under 'energy'.*REF_energy.*energy_key"):
        read_ase(path)
    with pytest.raises(DataError, match=r"no forces under 'nope'.*REF_forces"):
        read_ase(path, ReaderOptions(energy_key="REF_energy", forces_key="nope"))


def test_mismatched_shapes(tmp_path):
    np.savez(tmp_path / "s.npz", z=[1, 8, 1], R=np.zeros((4, 3, 3)), E=np.zeros(4), F=np.zeros((4, 2, 3)))
    with pytest.raises(DataError, match=r"s\.npz: forces 'F' have shape \(4, 2, 3\) but positions have \(4, 3, 3\)"):
        read_npz(tmp_path / "s.npz")
    np.savez(tmp_path / "e.npz", z=[1, 8, 1], R=np.zeros((4, 3, 3)), E=np.zeros(3), F=np.zeros((4, 3, 3)))
    with pytest.raises(DataError, match=r"energies 'E' have shape \(3,\) but there are 4 frames"):
        read_npz(tmp_path / "e.npz")
    np.savez(tmp_path / "z.npz", z=[1, 8], R=np.zeros((4, 3, 3)), E=np.zeros(4), F=np.zeros((4, 3, 3)))
    with pytest.raises(DataError, match=r"atomic numbers 'z' have shape \(2,\)"):
        read_npz(tmp_path / "z.npz")


def test_missing_file(tmp_path):
    with pytest.raises(DataFileNotFoundError, match=r"no data file at .*nothere\.xyz") as info:
        parse_source(str(tmp_path / "nothere.xyz"))
    assert isinstance(info.value, FileNotFoundError) and isinstance(info.value, ValueError)
    with pytest.raises(FileNotFoundError, match="rMD17 ethanol not found under .*root="):
        load_source("rmd17:ethanol", root=tmp_path)


def test_unknown_kind_and_molecule():
    with pytest.raises(DataError, match=r"unknown dataset kind 'qm7x'.*rmd17.*md17"):
        parse_source("qm7x:water")
    with pytest.raises(DataError, match=r"unknown revised MD17 molecule 'water'.*aspirin.*uracil"):
        parse_source("rmd17:water")
    with pytest.raises(DataError, match=r"unknown original MD17 molecule 'paracetamol'"):
        parse_source("md17:paracetamol")


def test_unknown_unit_and_option(tmp_path, ethanol_frames):
    path = write_md17(tmp_path / "m.npz", ethanol_frames)
    with pytest.raises(DataError, match=r"unknown energy unit 'kcal'.*kcal/mol"):
        read_npz(path, ReaderOptions(units="kcal"))
    with pytest.raises(DataError, match=r"unknown source option\(s\) \['energykey'\]"):
        parse_source({"path": str(path), "energykey": "E"})


def test_periodic_frames_refused(tmp_path):
    from ase.calculators.singlepoint import SinglePointCalculator

    a = labelled("water", 1)[0]
    e, f = a.get_potential_energy(), a.get_forces()
    a.cell, a.pbc = [5, 5, 5], True
    a.calc = SinglePointCalculator(a, energy=e, forces=f)
    write_extxyz(tmp_path / "p.xyz", [a])
    with pytest.raises(DataError, match="p.xyz frame 0 is periodic"):
        read_ase(tmp_path / "p.xyz")
