"""Progress bars on stderr, driven by the SDK's ``on_progress`` callbacks, or nothing at all."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)


class Bar:
    """One progress bar; call it with a count of finished items (an ``on_progress`` callback)."""

    def __init__(self, progress: Progress | None, task: TaskID | None) -> None:
        self._progress = progress
        self._task = task
        self.count = 0

    def __call__(self, done: int) -> None:
        self.count += done
        if self._progress is not None and self._task is not None:
            self._progress.advance(self._task, done)

    def finish(self, total: int | None = None) -> None:
        """Mark the bar complete (at *total*, when the total was not known up front)."""
        if self._progress is not None and self._task is not None:
            total = self.count if total is None else total
            self._progress.update(self._task, total=total, completed=total)


class Bars:
    """A set of progress bars on *console*, shown only while used as a context manager.

    Without a console (stderr is no terminal and ``--progress`` was not given) every bar
    is a plain counter, so the code that reports progress need not care.
    """

    def __init__(self, console: Console | None) -> None:
        self._progress = (
            None
            if console is None
            else Progress(
                SpinnerColumn(),
                TextColumn("{task.description:<22}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
            )
        )

    def bar(self, description: str, total: int | None) -> Bar:
        """Add a bar for *total* items (None: unknown, the bar pulses) and return it."""
        if self._progress is None:
            return Bar(None, None)
        return Bar(self._progress, self._progress.add_task(description, total=total))

    def __enter__(self) -> Bars:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()
