"""What a corpus is made of, decided before any work: settings, molecules, splits, work units.

Everything here is a pure function of the settings and the SMILES file, so
every worker, every shard of a cluster job and every resumed run agrees on
which molecule goes into which unit and split.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np

from ..errors import DataError

__all__ = ["GENERATOR_VERSION", "GenerationSettings", "Plan", "plan_molecules", "SPLIT_CODES", "KIND_CODES"]

# Bump when a change alters what the same settings produce.
GENERATOR_VERSION = "1.1"  # 1.1: tighter geometry check (no squeezed bonds, non-bonded pairs >= 1 Å)

SPLIT_CODES = {"train": 0, "val": 1, "test": 2, "test_md500": 3}
KIND_CODES = {"normal_modes": 0, "md": 1, "md500": 2, "file": 3}


@dataclass(frozen=True)
class GenerationSettings:
    """Everything that decides the content of a corpus (recorded in its manifest).

    Attributes
    ----------
    method : labelling method: "GFN2-xTB", "GFN1-xTB" or an ASE calculator's import path
    method_options : keyword arguments of the method
    molecules : molecules to draw from the SMILES file (None: all eligible)
    geometries_per_molecule : labelled geometries per molecule
    max_conformers : RDKit conformers per molecule at most
    temperature_min, temperature_max : K, range of the normal-mode sampling temperature
    md_fraction : fraction of training/validation molecules whose last ``md_frames`` geometries
        come from a short GFN-xTB MD instead of normal modes
    md_frames : MD snapshots for those molecules
    md_temperature : K
    md_steps : MD steps between snapshots (0.5 fs each), after as many for equilibration
    val_molecules, test_molecules : held-out molecules (split by molecule, never by geometry)
    md_test_molecules : test molecules that also get ``md_test_frames`` frames of 500 K MD
    md_test_frames : frames per such molecule
    md_test_interval : steps between those frames (after ``md_test_equilibration`` steps)
    allow_charged : keep molecules with a net charge (labelled with that charge)
    val_fraction, test_fraction : held-out fractions of the molecules of a user's file (``--from-file``)
    unit_size : molecules per work unit (one shard file each)
    seed : fixes everything random
    """

    method: str = "GFN2-xTB"
    method_options: dict[str, Any] = field(default_factory=dict)
    molecules: int | None = None
    geometries_per_molecule: int = 6
    max_conformers: int = 3
    temperature_min: float = 300.0
    temperature_max: float = 600.0
    md_fraction: float = 0.02
    md_frames: int = 2
    md_temperature: float = 500.0
    md_steps: int = 40
    val_molecules: int = 500
    test_molecules: int = 1500
    md_test_molecules: int = 100
    md_test_frames: int = 10
    md_test_interval: int = 30
    md_test_equilibration: int = 100
    allow_charged: bool = False
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    unit_size: int = 200
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "GenerationSettings":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    def differences(self, other: "GenerationSettings") -> list[str]:
        """Names and values of the settings that differ (for the resume check)."""
        a, b = self.to_dict(), other.to_dict()
        return [f"{k}: {a[k]!r} here, {b[k]!r} in the corpus" for k in a if a[k] != b[k]]

    def check(self) -> None:
        if self.geometries_per_molecule < 1:
            raise ValueError("--geometries-per-molecule must be at least 1.")
        if not 0 < self.temperature_min <= self.temperature_max:
            raise ValueError("the temperature range must be positive and min <= max.")
        if not 0 <= self.md_fraction <= 1:
            raise ValueError("--md-fraction must lie between 0 and 1.")
        if self.md_fraction > 0 and self.md_frames > self.geometries_per_molecule:
            raise ValueError("--md-frames cannot exceed --geometries-per-molecule.")
        if self.md_test_molecules > self.test_molecules:
            raise ValueError("--md-test-molecules cannot exceed --test-molecules.")
        if self.unit_size < 1:
            raise ValueError("--unit-size must be at least 1.")


@dataclass
class Plan:
    """Molecules chosen, their splits and their work units.

    Attributes
    ----------
    rows : (m,) int64, chosen rows of the SMILES file, in processing order
    splits : (m,) int64, SPLIT_CODES of each (``test_md500`` marks test molecules that also get MD frames)
    units : list of (start, stop) into ``rows``
    eligible : int, molecules that could be chosen
    """

    rows: np.ndarray
    splits: np.ndarray
    units: list[tuple[int, int]]
    eligible: int


def plan_molecules(eligible_rows: np.ndarray, settings: GenerationSettings) -> Plan:
    """Draw ``settings.molecules`` of the eligible rows (seeded) and assign splits and units.

    The first ``test_molecules`` drawn are the test set (the first
    ``md_test_molecules`` of them also get 500 K MD frames), the next
    ``val_molecules`` the validation set, the rest training.
    """
    eligible_rows = np.asarray(eligible_rows, dtype=np.int64)
    rng = np.random.default_rng([settings.seed, 7919])
    order = eligible_rows[rng.permutation(eligible_rows.size)]
    count = order.size if settings.molecules is None else int(settings.molecules)
    if count > order.size:
        raise DataError(f"--molecules {count} asks for more molecules than the file has usable ({order.size}); "
                        "ask for fewer.")
    held_out = settings.test_molecules + settings.val_molecules
    if held_out >= count:
        raise DataError(f"{settings.test_molecules} test + {settings.val_molecules} validation molecules leave none "
                        f"of the {count} for training; lower --test-molecules/--val-molecules or raise --molecules.")
    rows = order[:count]
    splits = np.full(count, SPLIT_CODES["train"], dtype=np.int64)
    splits[: settings.test_molecules] = SPLIT_CODES["test"]
    splits[: settings.md_test_molecules] = SPLIT_CODES["test_md500"]
    splits[settings.test_molecules:held_out] = SPLIT_CODES["val"]
    units = [(s, min(s + settings.unit_size, count)) for s in range(0, count, settings.unit_size)]
    return Plan(rows=rows, splits=splits, units=units, eligible=int(order.size))
