"""Online backups of SQLite database files: taken before changing commands, listed, restored.

A backup is `<database file>.backups/<UTC timestamp>-<command>.db`, written with SQLite's
backup API (a consistent copy even while other connections use the file) into a hidden
partial file that is renamed into place only when complete, so a crash never leaves a
half backup that looks whole (and the next command that takes the lock removes the partial
file). Restoring also goes through the backup API, into the live file, so connections that
have it open stay valid and see the restored content.
The blocking work runs in a thread: the event loop (a notebook's) keeps running.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import re
import sqlite3
from collections.abc import Collection
from contextlib import closing, suppress
from datetime import datetime, timedelta, timezone
from pathlib import Path

from ..errors import BackupError, DatabaseLocked, FileSystemFault, MisuseError, NbMigrateError
from ..files import is_busy, os_fault, sqlite_fault_reason
from ..reports import (
    BackupInfo,
    BackupUsage,
)

__all__ = ["FileBackups", "backup_dir", "find", "list_backups", "prune", "remove_partials", "restore", "take"]

DIR_SUFFIX = ".backups"
_STAMP = "%Y%m%dT%H%M%S.%fZ"  # sorts as text in time order
_NAME_RE = re.compile(r"^(?P<stamp>\d{8}T\d{6}\.\d{6}Z)-(?P<command>[a-z][a-z0-9_]*)\.db\Z")
_PARTIAL = ".partial"
logger = logging.getLogger("nbmigrate")
_BUSY_SECONDS = 30.0
_MAX_WAIT = 2_000_000.0  # SQLite's busy timeout is a C int of milliseconds


class FileBackups:
    """The backups of one SQLite database file, kept in `<file>.backups/` beside it."""

    def __init__(self, db_file: Path) -> None:
        self.file = db_file
        self.folder = backup_dir(db_file)

    def newest_first(self) -> list[BackupInfo]:
        return list_backups(self.file)

    def find(self, which: str | None = None) -> BackupInfo:
        return find(self.file, which)

    def usage(self) -> BackupUsage:
        return usage(self.file)

    def remove_partials(self) -> list[Path]:
        return remove_partials(self.file)

    async def take(self, command: str, keep: int | None, timeout: float) -> BackupInfo:
        return await take(self.file, command, keep, timeout)

    async def restore(self, source: Path, timeout: float) -> None:
        await restore(self.file, source, timeout)

    def prune(self, keep: int, protect: Collection[Path] = ()) -> list[Path]:
        return prune(self.file, keep, protect)


def backup_dir(db_file: Path) -> Path:
    """Where the backups of `db_file` live: next to it, in `<name>.backups/`."""
    return db_file.with_name(db_file.name + DIR_SUFFIX)


def list_backups(db_file: Path) -> list[BackupInfo]:
    """Every complete backup of `db_file`, newest first."""
    folder = backup_dir(db_file)
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        m = _NAME_RE.match(path.name)
        if m is None:
            continue
        try:
            size = path.stat().st_size
        except FileNotFoundError:  # pruned by another run just now
            continue
        taken = datetime.strptime(m["stamp"], _STAMP).replace(tzinfo=timezone.utc)
        found.append(BackupInfo(path, taken, m["command"], size))
    return sorted(found, key=lambda b: b.path.name, reverse=True)


def find(db_file: Path, which: str | None = None) -> BackupInfo:
    """The backup to restore: the newest, or the one named by file name, name prefix or path."""
    backups = list_backups(db_file)
    if which is None:
        if not backups:
            raise BackupError(
                str(db_file), f"no backups of {db_file} yet (they are kept in {backup_dir(db_file)})"
            )
        return backups[0]
    wanted = which.strip()
    matches = [b for b in backups if b.path.name == wanted or str(b.path) == wanted]
    if not matches:
        matches = [b for b in backups if wanted and b.path.name.startswith(wanted)]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        names = ", ".join(b.path.name for b in matches[:3])
        raise BackupError(str(db_file), f"{which!r} matches {len(matches)} backups ({names} ...); be exact")
    path = Path(wanted).expanduser()
    try:
        stat = path.stat() if path.is_file() else None
    except OSError:  # a typed name too long for the file system names no backup either
        stat = None
    if stat is not None:
        return BackupInfo(path, datetime.fromtimestamp(stat.st_mtime, timezone.utc), "file", stat.st_size)
    raise BackupError(
        str(db_file), f"no backup of {db_file} matches {which!r}; the `backups` command lists them"
    )


def usage(db_file: Path) -> BackupUsage:
    """What the backups folder holds on disk: complete backups, partial ones (and journals), the rest."""
    found = {kind: [0, 0] for kind in ("backup", "partial", "other")}  # kind -> [files, bytes]
    for path, size in _files(backup_dir(db_file)):
        kind = "backup" if _NAME_RE.match(path.name) else "partial" if _is_partial(path) else "other"
        found[kind][0] += 1
        found[kind][1] += size
    return BackupUsage(*found["backup"], *found["partial"], *found["other"])


def remove_partials(db_file: Path) -> list[Path]:
    """Remove the partial backups (and their journals) a killed run left; under the lock only.

    A failure to remove one is logged, not raised: the command that called this has its own work.
    """
    folder = backup_dir(db_file)
    removed = []
    for path in folder.glob(f".*{_PARTIAL}*") if folder.is_dir() else ():
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            logger.warning("could not remove the partial backup %s: %s", path, exc)
            continue
        removed.append(path)
    if removed:
        logger.info("removed %d partial backup file(s) from %s", len(removed), folder)
    return removed


async def take(db_file: Path, command: str, keep: int | None, timeout: float = _BUSY_SECONDS) -> BackupInfo:
    """Back up `db_file` now, before `command`; then keep only the newest `keep` (None: all).

    `timeout`: how long to wait for another connection's write lock on `db_file`.
    """
    return await asyncio.to_thread(_take, db_file, command, keep, timeout)


async def restore(db_file: Path, source: Path, timeout: float = _BUSY_SECONDS) -> None:
    """Copy the backup `source` into the live `db_file` through the backup API."""
    await asyncio.to_thread(_restore, db_file, source, timeout)


def prune(db_file: Path, keep: int, protect: Collection[Path] = ()) -> list[Path]:
    """Delete all but the newest `keep` backups (never those in `protect`); return the deleted."""
    doomed = [b.path for b in list_backups(db_file)[max(keep, 1) :] if b.path not in protect]
    for path in doomed:
        path.unlink(missing_ok=True)
    return doomed


def _take(db_file: Path, command: str, keep: int | None, timeout: float) -> BackupInfo:
    if not _NAME_RE.match(f"20000101T000000.000000Z-{command}.db"):
        raise MisuseError(f"not a command name: {command!r}")
    if not db_file.is_file():
        raise BackupError(str(db_file), f"cannot back up {db_file}: no such file")
    folder = backup_dir(db_file)
    moment = datetime.now(timezone.utc)
    final = folder / f"{moment.strftime(_STAMP)}-{command}.db"
    what = f"a backup of {db_file.name} to"
    hint = f"`{command} --no-backup` goes on without one"
    try:
        folder.mkdir(exist_ok=True)
        for stale in folder.glob(f".*{_PARTIAL}*"):  # left by a run killed mid-backup (and its -journal)
            stale.unlink(missing_ok=True)
    except OSError as exc:
        raise os_fault(folder, f"the backups folder of {db_file.name}", exc, hint) from None
    partial = folder / f".{moment.strftime(_STAMP)}-{command}-{os.getpid()}{_PARTIAL}"
    try:
        os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))  # the OS's own reason
        _copy(db_file, partial, timeout)
        while True:  # link, not rename: never replaces a backup taken in the same microsecond
            final = folder / f"{moment.strftime(_STAMP)}-{command}.db"
            try:
                os.link(partial, final)
                break
            except FileExistsError:
                moment += timedelta(microseconds=1)
    except OSError as exc:
        raise os_fault(final, what, exc, hint) from None
    except sqlite3.Error as exc:
        raise _copy_error(exc, final, what, hint, db_file, timeout) from None
    finally:
        _remove_with_journal(partial)
    info = BackupInfo(final, moment, command, final.stat().st_size)
    if keep is not None:
        prune(db_file, keep, protect={final})
    return info


def _restore(db_file: Path, source: Path, timeout: float) -> None:
    try:
        with closing(sqlite3.connect(source, timeout=_BUSY_SECONDS)) as check:
            verdict = check.execute("PRAGMA quick_check").fetchone()[0]
    except sqlite3.Error as exc:
        raise BackupError(str(db_file), f"{source} is not a usable SQLite database: {exc}") from None
    if verdict != "ok":
        raise BackupError(str(db_file), f"{source} is damaged ({verdict}); not restored")
    try:
        _copy(source, db_file, timeout)
    except sqlite3.Error as exc:
        what = f"the restored copy of {source.name} into"
        raise _copy_error(exc, db_file, what, "the database is unchanged", db_file, timeout) from None


def _copy(source: Path, target: Path, timeout: float = _BUSY_SECONDS) -> None:
    """SQLite's online backup, in one step: a consistent snapshot of `source` into `target`."""
    wait = min(timeout, _MAX_WAIT) if math.isfinite(timeout) else _MAX_WAIT
    with closing(sqlite3.connect(source, timeout=wait)) as src:
        with closing(sqlite3.connect(target, timeout=wait)) as dst:
            src.backup(dst)


def _copy_error(
    exc: sqlite3.Error, target: Path, what: str, hint: str, db_file: Path, timeout: float
) -> NbMigrateError:
    """A failed copy as the error that says why: a lock held too long, a file-system fault, or other."""
    if is_busy(exc):
        return DatabaseLocked(str(db_file), timeout)
    reason = sqlite_fault_reason(exc)
    if reason is not None:
        return FileSystemFault(target, what, reason, hint)
    return BackupError(str(db_file), f"could not copy {db_file} to {target}: {exc}")


def _remove_with_journal(partial: Path) -> None:
    for path in (partial, partial.with_name(partial.name + "-journal")):
        with suppress(OSError):  # never hide why the backup failed; the next command retries
            path.unlink(missing_ok=True)


def _files(folder: Path) -> list[tuple[Path, int]]:
    """Every file under `folder` with its size; none when there is no such folder."""
    found = []
    for path in folder.rglob("*") if folder.is_dir() else ():
        try:
            if path.is_file():
                found.append((path, path.stat().st_size))
        except OSError:  # removed by another run just now
            continue
    return found


def _is_partial(path: Path) -> bool:
    return path.name.startswith(".") and _PARTIAL in path.name
