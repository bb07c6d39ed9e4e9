"""The scaling harness's user errors: one sentence naming the thing and what to do."""

from __future__ import annotations

__all__ = ["ScalingError"]


class ScalingError(ValueError):
    """A user's mistake in a scaling study (bad grid, incomparable runs, too few points, ...).

    A ``ValueError``, so the ``forcefields`` command prints its message as one
    sentence instead of a traceback.
    """
