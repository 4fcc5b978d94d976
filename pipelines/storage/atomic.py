"""Durable writes: whole files replaced atomically, new files synced, renames made durable.

Every file partnerscore writes goes through here, so one place decides what "written"
means: the bytes are on disk and the directory entry that names them is too.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path


def write_atomic(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so that readers see the old file or the new one, never half.

    The temporary file lives in the same directory (os.replace is atomic only within
    one file system) and is created with mode 0o666 so the umask applies, as for open().
    """
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if path.exists():
            os.chmod(temporary, path.stat().st_mode & 0o7777)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    fsync_directory(path.parent)


def write_output(path: Path, data: bytes) -> None:
    """`write_atomic` for a file the user named (`--output`, `--out`).

    Raises:
        OutputUnwritable: naming the path (not the temporary file) and why, when its
            directory is missing, it is a directory, or it may not be written.
    """
    from pipelines.errors import OutputUnwritable

    path = Path(path)
    try:
        write_atomic(path, data)
    except OSError as exc:
        raise OutputUnwritable(_unwritable(path, exc.strerror or str(exc))) from None


def check_writable(*paths: Path) -> None:
    """Refuse before anything is written when one of several files the user named cannot be
    written (a missing directory, a directory named as a file, no write permission), so that
    a command writing them together leaves all or none.

    Raises:
        OutputUnwritable: naming the first such path and why.
    """
    from pipelines.errors import OutputUnwritable

    for path in map(Path, paths):
        if not path.parent.is_dir() or path.is_dir():
            raise OutputUnwritable(_unwritable(path, "")) from None
        if not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
            raise OutputUnwritable(_unwritable(path, "permission denied"))


def _unwritable(path: Path, why: str) -> str:
    """Why `path` cannot be written, in the user's terms: 'cannot write 'x.csv': ...'."""
    if path.parent.exists() and not path.parent.is_dir():
        why = f"{str(path.parent)!r} is a file, not a directory"
    elif not path.parent.is_dir():
        why = f"its directory {str(path.parent)!r} does not exist"
    elif path.is_dir():
        why = "it is a directory: name a file"
    return f"cannot write {str(path)!r}: {why}"


def write_synced(path: Path, data: bytes) -> None:
    """Write a file nobody reads yet (a directory still being staged) and sync it."""
    with path.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def fsync_file(path: Path) -> None:
    """Sync a file's contents that were written by someone else (a copy, a database)."""
    with path.open("rb") as handle:
        os.fsync(handle.fileno())


def fsync_directory(directory: Path) -> None:
    """Make a rename or a new entry in `directory` durable; skipped where the OS cannot."""
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
