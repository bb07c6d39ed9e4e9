"""The ASE calculator: physics (forces are -dE/dx), neighbour-list reuse, and refusals."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import forcefields
from forcefields.ase_calculator import ForceFieldCalculator

from zoo._toy import ethanol, make_toy, toy_family  # noqa: F401  (toy_family is a fixture)


def test_forces_are_minus_energy_gradient(toy_family):
    atoms = ethanol(seed=0)
    atoms.calc = forcefields.calculator(make_toy(dtype=torch.float64))
    forces = atoms.get_forces()
    h = 1e-5
    numeric = np.zeros_like(forces)
    for i in range(len(atoms)):
        for k in range(3):
            for sign in (1, -1):
                a = atoms.copy()
                a.calc = atoms.calc
                a.positions[i, k] += sign * h
                numeric[i, k] -= sign * a.get_potential_energy() / (2 * h)
    np.testing.assert_allclose(forces, numeric, atol=1e-6)
    assert np.abs(forces).max() > 1e-3  # the test means something
    assert atoms.calc.results["free_energy"] == atoms.calc.results["energy"]


def test_reused_neighbour_list_equals_fresh(toy_family):
    model = make_toy(dtype=torch.float64)
    reuse = ForceFieldCalculator(model, skin=0.5)
    fresh = ForceFieldCalculator(model, skin=0.0)
    atoms = ethanol(seed=1)
    rng = np.random.default_rng(0)
    for step in range(12):
        atoms.positions += rng.normal(scale=0.03, size=atoms.positions.shape)  # small MD-like moves
        if step == 8:
            atoms.positions[0] += 0.4  # a jump beyond skin/2 forces a rebuild
        reuse.calculate(atoms, ["energy", "forces"])
        fresh.calculate(atoms, ["energy", "forces"])
        assert reuse.results["energy"] == fresh.results["energy"]
        assert np.array_equal(reuse.results["forces"], fresh.results["forces"])
    assert fresh.num_builds == 12
    assert 2 <= reuse.num_builds < 12


def test_calculator_by_name_and_dtype(toy_family, tmp_path, monkeypatch):
    monkeypatch.setenv("FORCEFIELDS_CHECKPOINTS", str(tmp_path))
    model = make_toy(dtype=torch.float32)
    forcefields.save(model, tmp_path / "toyzoo-s.ethanol")
    atoms = ethanol(seed=2)
    atoms.calc = forcefields.calculator("toyzoo-s.ethanol", dtype="float64")
    assert atoms.calc.dtype == torch.float64
    e64 = atoms.get_potential_energy()
    atoms.calc = forcefields.calculator("toyzoo-s.ethanol")
    assert atoms.calc.dtype == torch.float32
    assert atoms.get_potential_energy() == pytest.approx(e64, rel=1e-5)


def test_periodic_atoms_are_refused(toy_family):
    atoms = ethanol()
    atoms.cell = [10, 10, 10]
    atoms.pbc = True
    atoms.calc = forcefields.calculator(make_toy())
    with pytest.raises(ValueError, match="atoms.pbc = False"):
        atoms.get_potential_energy()


def test_nan_positions_are_refused(toy_family):
    atoms = ethanol()
    atoms.positions[3, 1] = np.nan
    atoms.calc = forcefields.calculator(make_toy())
    with pytest.raises(ValueError, match=r"atoms \[3\] have NaN"):
        atoms.get_forces()


def test_unknown_element_is_named(toy_family):
    from ase.build import molecule

    from forcefields.models import UnknownElementError

    atoms = molecule("CH3NO2")  # nitrogen: not in the toy model's H, C, O
    atoms.calc = forcefields.calculator(make_toy())
    with pytest.raises(UnknownElementError, match=r"N \(Z=7\)"):
        atoms.get_potential_energy()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_absent_is_a_clear_error(toy_family):
    with pytest.raises(ValueError, match="no CUDA"):
        forcefields.calculator(make_toy(), device="cuda")


def test_compiled_calculator_matches_eager_as_the_edge_count_changes(toy_family):
    """compile=True runs the same model through torch.compile; the numbers must not change."""
    model = make_toy(dtype=torch.float64)
    eager = ForceFieldCalculator(model, skin=0.0)
    compiled = ForceFieldCalculator(model, skin=0.0, compile=True)
    assert compiled.compiled and compiled.model is eager.model  # attributes stay reachable
    atoms = ethanol(seed=2)
    edges = set()
    for step, stretch in enumerate((1.0, 1.25, 0.9)):  # different edge counts: a dynamic-shape recompile
        probe = atoms.copy()
        probe.positions *= stretch
        eager.calculate(probe, ["energy", "forces"])
        compiled.calculate(probe, ["energy", "forces"])
        edges.add(int(eager.neighbor_list(torch.as_tensor(probe.positions), probe.numbers).shape[1]))
        np.testing.assert_allclose(compiled.results["energy"], eager.results["energy"], rtol=1e-10)
        np.testing.assert_allclose(compiled.results["forces"], eager.results["forces"], rtol=1e-8, atol=1e-10)
    assert len(edges) > 1  # the test covered a change of shape
