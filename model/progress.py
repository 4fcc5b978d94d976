"""How long-running steps report their progress, without knowing who is watching.

Training announces each stage with the number of steps it will take, then advances
one step at a time. The default reporter does nothing; the command line renders
the stages as progress bars when a person is watching a terminal.
"""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """Receives the stages of a long-running job and their completed steps."""

    def stage(self, name: str, total: int) -> None:
        """A new stage begins, with `total` steps to come; the previous one is over."""

    def advance(self, steps: int = 1) -> None:
        """`steps` more steps of the current stage are done."""


class NoProgress:
    """Reports nothing: the default wherever nobody is watching."""

    def stage(self, name: str, total: int) -> None:
        """Ignore the stage."""

    def advance(self, steps: int = 1) -> None:
        """Ignore the step."""


NO_PROGRESS: Progress = NoProgress()
