"""Reading a SMILES file: one SMILES a line, an optional header, comments with '#'."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import DataError, DataFileNotFoundError

__all__ = ["SmilesEntry", "read_smiles_file"]

_HEADERS = {"smiles", "smi", "canonical_smiles", "smiles_string"}


@dataclass(frozen=True)
class SmilesEntry:
    """One molecule of the file.

    Attributes
    ----------
    row : int, 0-based index among the file's SMILES (the molecule id in the corpus)
    line : int, 1-based line number in the file (for logs)
    smiles : str
    """

    row: int
    line: int
    smiles: str


def read_smiles_file(path: str | Path) -> tuple[list[SmilesEntry], list[tuple[int, str]]]:
    """The SMILES of a ``.csv``/``.smi``/``.txt`` file.

    The first column is the SMILES (a CSV's first comma-separated field; a
    ``.smi`` file's first whitespace-separated field). A first line naming the
    column (``smiles``) is skipped; empty lines and ``#`` comments too.

    Returns
    -------
    (entries, empty): the SMILES with their row and line; ``empty`` lists
    ``(line, text)`` of lines that hold no SMILES field (counted, never silent).
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataFileNotFoundError(f"no SMILES file at {path}; give a .csv or .smi file with one SMILES a line.",
                                    path=str(path))
    entries: list[SmilesEntry] = []
    empty: list[tuple[int, str]] = []
    comma = path.suffix.lower() == ".csv"
    with path.open() as f:
        for number, raw in enumerate(f, start=1):
            text = raw.strip()
            if not text or text.startswith("#"):
                continue
            field = text.split(",")[0].strip() if comma else text.split()[0]
            field = field.strip('"')
            if number == 1 and field.lower() in _HEADERS:
                continue
            if not field:
                empty.append((number, text))
                continue
            entries.append(SmilesEntry(row=len(entries), line=number, smiles=field))
    if not entries:
        raise DataError(f"{path} holds no SMILES; put one SMILES a line (a header line 'smiles' is allowed).",
                        path=str(path))
    return entries, empty
