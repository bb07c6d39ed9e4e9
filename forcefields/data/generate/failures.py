"""Why a molecule or a geometry did not make it into the corpus.

Every failure is counted by cause and logged with its SMILES (or frame) and
line; nothing is dropped silently.
"""

from __future__ import annotations

__all__ = ["GenerationFailure", "CAUSES"]

CAUSES = {
    "parse": "SMILES that RDKit cannot parse",
    "charged": "molecules with a net charge (left out: the potentials are for neutral molecules; --allow-charged keeps them)",
    "embed": "SMILES that RDKit cannot embed in 3D (ETKDG)",
    "forcefield": "no MMFF or UFF parameters for the conformer relaxation and normal modes",
    "geometry": "no sane thermal geometry after repeated sampling (atoms too close or bonds broken)",
    "scf": "SCF that does not converge (or another error of the labelling method)",
    "md": "a GFN-xTB MD run that failed or blew up",
    "frame": "a frame of a user's file that could not be read or labelled",
}


class GenerationFailure(Exception):
    """A molecule or geometry that failed one step, with its cause (a key of :data:`CAUSES`)."""

    def __init__(self, cause: str, message: str):
        if cause not in CAUSES:
            raise ValueError(f"unknown failure cause {cause!r}")
        super().__init__(message)
        self.cause = cause
        self.message = message
