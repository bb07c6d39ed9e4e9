"""Corpus generation: SMILES -> RDKit conformers -> thermal geometries -> labels -> shards.

    forcefields data generate --smiles qm9_smiles.csv --method GFN2-xTB \\
        --molecules 50000 --geometries-per-molecule 6 --workers 2 --out corpus/qm9-xtb

Every step is seeded per molecule (by the seed and the molecule's line in the
SMILES file), so a corpus is the same whatever the number of workers, shards
or interruptions. The ``xtb:`` data source (:mod:`forcefields.data.corpus`)
reads what this writes.
"""

from __future__ import annotations

from ..._lazy import lazy_exports

_EXPORTS = {
    "generate_corpus": "pipeline",
    "label_structures": "pipeline",
    "GenerationSettings": "plan",
    "make_labeler": "labelers",
    "Labeler": "labelers",
    "read_smiles_file": "smiles",
    "GENERATOR_VERSION": "plan",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
