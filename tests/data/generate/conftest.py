"""A dozen SMILES and small, fast generation settings for the corpus tests."""

from __future__ import annotations

import pytest

pytest.importorskip("rdkit", reason="the labels extra (rdkit) is not installed")
pytest.importorskip("tblite", reason="the labels extra (tblite) is not installed")

from forcefields.data.generate.plan import GenerationSettings  # noqa: E402

# Two are not usable on purpose: one does not parse, one is charged; a line is empty of a SMILES field.
SMILES = [
    "C", "O", "CC", "CO", "C=O", "CC#N", "CCO", "OC=O", "C1CC1", "CC(C)=O",
    "c1ccoc1", "NC=O", "FC(F)F", "C[NH3+]", "C1CC(", '""',
]


@pytest.fixture
def smiles_file(tmp_path):
    path = tmp_path / "dozen.csv"
    path.write_text("smiles\n" + "\n".join(SMILES) + "\n")
    return path


def small_settings(**overrides) -> GenerationSettings:
    base = dict(molecules=12, geometries_per_molecule=2, max_conformers=2, md_fraction=0.25, md_frames=1,
                md_steps=3, val_molecules=2, test_molecules=3, md_test_molecules=1, md_test_frames=2,
                md_test_interval=3, md_test_equilibration=3, unit_size=4, seed=0)
    base.update(overrides)
    return GenerationSettings(**base)
