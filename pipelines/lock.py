"""One writer at a time per workspace: jobs that change it hold an exclusive file lock."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

from pipelines.settings import Workspace


class WorkspaceBusy(Exception):
    """Another partnerscore job is changing this workspace."""


@contextmanager
def workspace_lock(workspace: Workspace, *, wait_seconds: float = 600.0) -> Iterator[None]:
    """Hold the workspace's lock, waiting up to `wait_seconds` for another job to finish.

    The lock is released by the operating system if the process dies, so a crash
    never leaves the workspace locked.
    """
    workspace.ensure()
    fd = os.open(workspace.lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise WorkspaceBusy(
                        f"another partnerscore job is changing {workspace.root}; "
                        f"waited {wait_seconds:.0f} s") from None
                time.sleep(0.2)
        yield
    finally:
        os.close(fd)
