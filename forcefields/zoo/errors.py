"""Errors of the pretrained zoo.

Each one is a subclass of the builtin the CLI already turns into a one-line
message (ValueError, KeyError, FileNotFoundError), so a user's mistake never
ends in a traceback.
"""

from __future__ import annotations

__all__ = [
    "CheckpointError",
    "ChecksumError",
    "FormatVersionError",
    "PretrainedNotFoundError",
    "HubUnreachableError",
]


class CheckpointError(ValueError):
    """A checkpoint folder is malformed (missing file or key, bad units, wrong weights)."""


class ChecksumError(CheckpointError):
    """A file's sha256 differs from the one recorded for it (truncated or altered)."""


class FormatVersionError(CheckpointError):
    """A checkpoint was written in a format this version of forcefields cannot read."""


class PretrainedNotFoundError(FileNotFoundError):
    """No checkpoint of that name in any place the zoo looks."""

    def __str__(self) -> str:  # FileNotFoundError would prefix an errno otherwise
        return str(self.args[0]) if self.args else ""


class HubUnreachableError(RuntimeError):
    """The Hub (or its network) did not answer: no connection, DNS failure, server error.

    Attributes
    ----------
    reason : str, one line: the error type and its first line, e.g.
        "ConnectError: [Errno 111] Connection refused"
    """

    def __init__(self, message: str, reason: str = ""):
        super().__init__(message)
        self.reason = reason
