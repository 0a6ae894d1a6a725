"""Files written whole or not at all; file-system faults (disk full, read-only, permissions) as one line."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import FileSystemFault

if TYPE_CHECKING:
    import sqlite3

__all__ = ["is_busy", "os_fault", "sqlite_fault_reason", "write_atomically"]

_OS_REASONS = {
    errno.ENOSPC: "the disk is full",
    getattr(errno, "EDQUOT", -1): "the disk quota is used up",  # not on Windows
    errno.EFBIG: "the file size limit was reached",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
}

# SQLite's primary result codes for a file it cannot write, and its messages for Python < 3.11.
_SQLITE_REASONS = {
    3: ("permission denied", "access permission denied"),
    8: ("the file is read-only", "attempt to write a readonly database"),
    10: ("an I/O error", "disk I/O error"),
    13: ("the disk is full", "database or disk is full"),
    14: ("the file or its journal cannot be created", "unable to open database file"),
}
_SQLITE_BUSY = 5


def os_fault(path: Path | str, what: str, exc: OSError, hint: str = "") -> FileSystemFault:
    """The one-line error for an OSError met while writing `what` at `path`."""
    code = exc.errno or 0
    name = errno.errorcode.get(code, str(code))
    reason = _OS_REASONS.get(code, exc.strerror or str(exc))
    return FileSystemFault(path, what, f"{reason} ({name})", hint)


def _sqlite_code(exc: sqlite3.Error) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)  # Python 3.11+
    if isinstance(code, int):
        return code & 0xFF
    text = str(exc)
    if text.startswith("database is locked"):
        return _SQLITE_BUSY
    return next((c for c, (_, message) in _SQLITE_REASONS.items() if text.startswith(message)), None)


def sqlite_fault_reason(exc: sqlite3.Error) -> str | None:
    """Why SQLite could not write a file (with its own words), or None for any other error."""
    found = _SQLITE_REASONS.get(_sqlite_code(exc) or 0)
    return f"{found[0]} (SQLite: {exc})" if found else None


def is_busy(exc: sqlite3.Error) -> bool:
    """SQLITE_BUSY: another connection held a lock past the busy timeout."""
    return _sqlite_code(exc) == _SQLITE_BUSY


def write_atomically(path: Path, text: str, what: str) -> None:
    """Write through a temporary file and rename, so a reader never sees half of it.

    Any file-system fault is a FileSystemFault naming `path` and `what`; the temporary file
    is removed whatever happens.
    """
    import tempfile  # only when writing: keeps the CLI's start-up short

    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise os_fault(path, what, exc) from None
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
