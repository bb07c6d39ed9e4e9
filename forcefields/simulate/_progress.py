"""A rich progress bar on stderr for step loops (MD, relaxation), cheap enough for millisecond steps."""

from __future__ import annotations

__all__ = ["StepProgress"]


class StepProgress:
    """A rich progress bar on stderr (or nothing), advanced one step at a time."""

    def __init__(self, enabled: bool, total: int, description: str, start: int = 0):
        self.enabled, self.total, self.description = enabled, total, description
        self._progress = None
        self._task = None
        self._n = self._start = int(start)  # a resumed run starts part-way

    def __enter__(self) -> "StepProgress":
        if self.enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

            from ..console import make_console

            self._progress = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[status]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                console=make_console(stderr=True), transient=False,
            )
            self._progress.__enter__()
            self._task = self._progress.add_task(self.description, total=self.total, completed=self._start, status="")
        return self

    def advance(self, temperature: float | None = None, status: str | None = None) -> None:
        if self._progress is None:
            return
        self._n += 1
        # a refresh every step costs more than a small molecule's step: update in chunks
        if self._n % 10 == 0 or self._n == self.total:
            if status is None and temperature is not None:
                status = f"T = {temperature:5.0f} K"
            self._progress.update(self._task, completed=self._n, status=status or "")

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=self._n)
            self._progress.__exit__(*exc)
