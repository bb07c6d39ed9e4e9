"""Fixtures of the fine-tuning tests: tiny data files and a saved tiny parent."""

from __future__ import annotations

import pytest

from . import _tiny

HCO = ("H2O", "CH4", "CH3OH", "C2H6")


@pytest.fixture(scope="session")
def ft_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("finetune")


@pytest.fixture(scope="session")
def new_data(ft_dir):
    """40 H/C/O frames, labels under REF_energy / REF_forces, energies offset per element."""
    return _tiny.write(ft_dir / "new.extxyz", _tiny.labelled(HCO, 40, seed=1, offsets=_tiny.OFFSETS))


@pytest.fixture(scope="session")
def replay_data(ft_dir):
    """The parent's "training data": EMT labels without offsets, under the default keys."""
    import ase.io
    from ase.calculators.singlepoint import SinglePointCalculator

    frames = _tiny.labelled(HCO, 16, seed=7)
    for atoms in frames:
        atoms.calc = SinglePointCalculator(atoms, energy=atoms.info.pop("REF_energy"), forces=atoms.arrays.pop("REF_forces"))
    path = ft_dir / "parent_train.extxyz"
    ase.io.write(str(path), frames, format="extxyz")
    return path


@pytest.fixture(scope="session")
def parent_dir(ft_dir):
    """A tiny mpnn saved with the zoo's save (H, C, O)."""
    import forcefields

    return forcefields.save(_tiny.tiny_parent(), ft_dir / "parent", name="mpnn-xs.tiny-parent")
