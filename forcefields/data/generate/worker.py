"""One work unit: a few hundred molecules (or frames) in, labelled geometries and failures out.

Runs in a worker process with one thread. Each molecule is seeded by the
corpus seed and its row in the SMILES file, so its geometries do not depend
on which unit, worker or shard processes it.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from .conformers import embed_conformers, parse_smiles
from .failures import GenerationFailure
from .md_sampling import md_snapshots
from .plan import KIND_CODES, SPLIT_CODES, GenerationSettings
from .sampling import sample_normal_modes

__all__ = ["UnitResult", "label_smiles_unit", "label_frames_unit"]


@dataclass
class UnitResult:
    """Labelled geometries of one unit, as lists to be stacked by :mod:`.store`.

    ``frames`` holds one dict per geometry: ``numbers`` (n,), ``positions``
    (n, 3) Å, ``energy`` eV, ``forces`` (n, 3) eV/Å, ``molecule`` (row),
    ``conformer``, ``kind``, ``temperature`` K, ``split``, ``charge``.
    """

    frames: list[dict] = field(default_factory=list)
    failures: list[dict] = field(default_factory=list)
    molecules_labelled: int = 0
    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    labels: int = 0  # single-point labels (their time is seconds["label"])
    md_steps: int = 0  # MD force calls (their time is in seconds["md"])


def _frame(numbers, positions, energy, forces, row, conformer, kind, temperature, split, charge) -> dict:
    return dict(numbers=numbers, positions=positions, energy=energy, forces=forces, molecule=row,
                conformer=conformer, kind=KIND_CODES[kind], temperature=temperature, split=split, charge=charge)


def _label(labeler, result: UnitResult, numbers, positions, charge):
    t0 = time.perf_counter()
    try:
        return labeler.label(numbers, positions, charge)
    finally:
        result.seconds["label"] += time.perf_counter() - t0
        result.labels += 1


def _molecule(entry: tuple[int, int, str, int], settings: GenerationSettings, labeler, result: UnitResult) -> None:
    row, line, smiles, split = entry
    # molecules with 500 K test frames are test molecules; only those frames carry test_md500
    frame_split = SPLIT_CODES["test"] if split == SPLIT_CODES["test_md500"] else split
    rng = np.random.default_rng([settings.seed, row, 1])
    embed_seed = int(rng.integers(2**31 - 1))
    use_md = rng.random() < settings.md_fraction and split in (SPLIT_CODES["train"], SPLIT_CODES["val"])
    temperatures = rng.uniform(settings.temperature_min, settings.temperature_max, settings.geometries_per_molecule)

    def fail(cause: str, message: str, geometry: int | None = None) -> None:
        result.failures.append({"row": row, "line": line, "smiles": smiles, "cause": cause,
                                "geometry": geometry, "message": message})

    t0 = time.perf_counter()
    try:
        mol = parse_smiles(smiles)
        conf = embed_conformers(mol, settings.max_conformers, seed=embed_seed)
    except GenerationFailure as err:
        fail(err.cause, err.message)
        return
    finally:
        result.seconds["conformers"] += time.perf_counter() - t0
    numbers = conf.numbers
    k = conf.positions.shape[0]
    geometries: list[tuple[int, str, float, np.ndarray]] = []  # (conformer, kind, T, positions)
    t0 = time.perf_counter()
    for g, temperature in enumerate(temperatures):
        c = g % k
        try:
            pos = sample_normal_modes(conf.positions[c], conf.hessians[c], conf.masses, conf.bonds,
                                      float(temperature), rng)
        except GenerationFailure as err:
            fail(err.cause, err.message, g)
            continue
        geometries.append((c, "normal_modes", float(temperature), pos))
    result.seconds["sampling"] += time.perf_counter() - t0

    labelled = 0
    md_frames: list = []
    if use_md and settings.md_frames > 0 and geometries:
        t0 = time.perf_counter()
        try:
            start = sample_normal_modes(conf.positions[0], conf.hessians[0], conf.masses, conf.bonds,
                                        settings.md_temperature, rng, tries=50)
            md_frames = md_snapshots(labeler, numbers, start, conf.bonds, settings.md_temperature,
                                     equilibration_steps=settings.md_steps, num_frames=settings.md_frames,
                                     interval=settings.md_steps, rng=rng, charge=conf.charge)
            geometries = geometries[: len(geometries) - settings.md_frames]
        except GenerationFailure as err:
            fail(err.cause, f"training MD (normal-mode geometries kept instead): {err.message}")
        result.seconds["md"] += time.perf_counter() - t0
        result.md_steps += settings.md_steps * (settings.md_frames + 1) if md_frames else 0
    for c, kind, temperature, pos in geometries:
        try:
            energy, forces = _label(labeler, result, numbers, pos, conf.charge)
        except GenerationFailure as err:
            fail(err.cause, err.message)
            continue
        result.frames.append(_frame(numbers, pos, energy, forces, row, c, kind, temperature, frame_split, conf.charge))
        labelled += 1
    for pos, energy, forces in md_frames:
        result.frames.append(_frame(numbers, pos, energy, forces, row, 0, "md", settings.md_temperature,
                                    frame_split, conf.charge))
        labelled += 1
    if split == SPLIT_CODES["test_md500"]:
        t0 = time.perf_counter()
        try:
            start = sample_normal_modes(conf.positions[0], conf.hessians[0], conf.masses, conf.bonds, 500.0, rng,
                                        tries=50)
            frames = md_snapshots(labeler, numbers, start, conf.bonds, 500.0,
                                  equilibration_steps=settings.md_test_equilibration,
                                  num_frames=settings.md_test_frames, interval=settings.md_test_interval,
                                  rng=rng, charge=conf.charge)
            for pos, energy, forces in frames:
                result.frames.append(_frame(numbers, pos, energy, forces, row, 0, "md500", 500.0,
                                            SPLIT_CODES["test_md500"], conf.charge))
        except GenerationFailure as err:
            fail(err.cause, f"500 K test MD: {err.message}")
        result.seconds["md"] += time.perf_counter() - t0
        result.md_steps += settings.md_test_equilibration + settings.md_test_frames * settings.md_test_interval
    if labelled:
        result.molecules_labelled += 1


def label_smiles_unit(entries: list[tuple[int, int, str, int]], settings: GenerationSettings, labeler) -> UnitResult:
    """Label every molecule of a unit: ``entries`` are (row, line, smiles, split code)."""
    result = UnitResult()
    for entry in entries:
        _molecule(entry, settings, labeler, result)
    return result


def label_frames_unit(frames: list[tuple[int, int, np.ndarray, np.ndarray, int, int]], labeler) -> UnitResult:
    """Label a user's structures: ``frames`` are (frame index, molecule id, numbers, positions Å, charge, split)."""
    result = UnitResult()
    for index, molecule, numbers, positions, charge, split in frames:
        try:
            energy, forces = _label(labeler, result, numbers, positions, charge)
        except GenerationFailure as err:
            result.failures.append({"row": index, "line": None, "smiles": None, "cause": "scf",
                                    "geometry": index, "message": err.message})
            continue
        result.frames.append(_frame(numbers, positions, energy, forces, molecule, 0, "file", 0.0, split, charge))
        result.molecules_labelled += 1
    return result
