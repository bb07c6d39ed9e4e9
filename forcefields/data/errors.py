"""Exceptions for a user's data mistakes: one clear sentence, never a deep traceback."""

from __future__ import annotations

__all__ = ["DataError", "DataFileNotFoundError"]


class DataError(ValueError):
    """Bad input data: a missing key, mismatched shapes, NaN labels, overlapping atoms, ...

    Attributes
    ----------
    path : str or None
        The file the problem was found in.
    frame : int or None
        The frame (0-based, within ``path``) the problem was found in.
    """

    def __init__(self, message: str, path: str | None = None, frame: int | None = None):
        super().__init__(message)
        self.path = None if path is None else str(path)
        self.frame = frame


class DataFileNotFoundError(DataError, FileNotFoundError):
    """A data file or dataset folder that was asked for does not exist."""
