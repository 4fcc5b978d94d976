"""One writer at a time per workspace: jobs that change it hold an exclusive file lock.

Whoever holds the lock also removes what a killed writer left behind: temporary
files of interrupted atomic writes (`.NAME.*.tmp`), which no reader ever opens.
"""

from __future__ import annotations

import fcntl
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pipelines.settings import Workspace

WAIT_ENV = "PARTNERSCORE_LOCK_WAIT_SECONDS"
# Temporary names of pipelines.storage.atomic.write_atomic, bundle.activate and tracking._create_database.
_TEMPORARY = re.compile(r"^\..+\.tmp(-journal)?$")
# In the workspace root only the names partnerscore writes there under the lock (a user
# may point `predict --output` at the root, whose temporary file must not be touched).
_ROOT_PREFIXES = (".mlflow.db.", ".champion.", ".last_training.json.")
_OWNER = re.compile(r"\.(\d{1,7})\.tmp(-journal)?$")


class WorkspaceBusy(Exception):
    """Another partnerscore job is changing this workspace."""


def default_wait() -> float:
    """Seconds to wait for the lock: $PARTNERSCORE_LOCK_WAIT_SECONDS, else 600."""
    try:
        return max(0.0, float(os.environ.get(WAIT_ENV, "600")))
    except ValueError:
        return 600.0


@contextmanager
def workspace_lock(workspace: Workspace, *, wait_seconds: float | None = None) -> Iterator[None]:
    """Hold the workspace's lock, waiting up to `wait_seconds` for another job to finish.

    The lock is released by the operating system if the process dies, so a crash
    never leaves the workspace locked.

    Raises:
        WorkspaceBusy: when the wait runs out (exit status 75).
    """
    wait = default_wait() if wait_seconds is None else wait_seconds
    workspace.ensure()
    fd = os.open(workspace.lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise WorkspaceBusy(
                        f"another partnerscore job is changing {workspace.root}; "
                        f"waited {wait:.0f} s (set {WAIT_ENV} to wait longer)") from None
                time.sleep(0.2)
        remove_leftovers(workspace)
        yield
    finally:
        os.close(fd)


def remove_leftovers(workspace: Workspace) -> list[Path]:
    """Delete temporary files left by killed writers; returns them. Call under the lock.

    A name carrying a process id (`.mlflow.db.PID.tmp`, `.champion.PID.tmp`) is kept
    while that process lives: the database is created by commands that do not take
    the lock. Real files (the SQLite `-journal` beside mlflow.db) are never touched. The
    kept weak-signal report is written without the lock: a writer whose temporary file
    goes here simply keeps nothing (`pipelines.jobs.surprises.keep_weak_signals`).
    """
    removed = []
    for directory in (workspace.root, workspace.store, workspace.store / "periods",
                      workspace.weak_signals.parent):
        if not directory.is_dir():
            continue
        for path in directory.iterdir():
            if not _TEMPORARY.match(path.name) or (path.is_dir() and not path.is_symlink()):
                continue
            if directory == workspace.root and not path.name.startswith(_ROOT_PREFIXES):
                continue
            owner = _OWNER.search(path.name)
            if owner and int(owner.group(1)) != os.getpid() and _alive(int(owner.group(1))):
                continue
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        return False
    except PermissionError:
        return True
    return True
