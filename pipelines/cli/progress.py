"""Progress of a training on the terminal: one bar per stage, on standard error.

Shown only to a person watching: when standard output or standard error is a pipe
or a file (scripts, CI logs, `--format json`), nothing is drawn at all.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.progress import Progress as Bars

from model.progress import NO_PROGRESS, Progress


class TerminalProgress:
    """Draws each stage as a bar that fills as its steps complete."""

    def __init__(self, console: Console) -> None:
        self._bars = Bars(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                          MofNCompleteColumn(), TimeElapsedColumn(), console=console)
        self._current: TaskID | None = None

    def stage(self, name: str, total: int) -> None:
        """Close the current bar as complete and open one for the new stage."""
        self._finish()
        self._current = self._bars.add_task(name, total=max(total, 1))

    def advance(self, steps: int = 1) -> None:
        """Move the current bar on."""
        if self._current is not None:
            self._bars.advance(self._current, steps)

    def _finish(self) -> None:
        if self._current is not None:
            task = self._bars.tasks[-1]
            self._bars.update(self._current, completed=task.total)
            self._bars.stop_task(self._current)

    def __enter__(self) -> TerminalProgress:
        self._bars.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self._finish()
        self._bars.stop()


def watched(*streams: IO[str]) -> bool:
    """Whether every stream is an interactive terminal."""
    return all(stream.isatty() for stream in streams)


@contextmanager
def training_progress(*, show: bool = True) -> Iterator[Progress]:
    """Bars on standard error when `show` and a person is watching; otherwise nothing."""
    if not (show and watched(sys.stdout, sys.stderr)):
        yield NO_PROGRESS
        return
    with TerminalProgress(Console(stderr=True)) as progress:
        yield progress
