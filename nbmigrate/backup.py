"""Online backups of SQLite database files: taken before changing commands, listed, restored.

A backup is `<database file>.backups/<UTC timestamp>-<command>.db`, written with SQLite's
backup API (a consistent copy even while other connections use the file) into a hidden
partial file that is renamed into place only when complete, so a crash never leaves a
half backup that looks whole. Restoring also goes through the backup API, into the live
file, so connections that have it open stay valid and see the restored content.
The blocking work runs in a thread: the event loop (a notebook's) keeps running.
"""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
from collections.abc import Collection
from contextlib import closing
from datetime import datetime, timedelta, timezone
from pathlib import Path

from .config import DatabaseURL
from .errors import BackupError
from .model import BackupInfo

__all__ = [
    "backup_dir",
    "database_file",
    "find",
    "list_backups",
    "prune",
    "restore",
    "take",
]

DIR_SUFFIX = ".backups"
_STAMP = "%Y%m%dT%H%M%S.%fZ"  # sorts as text in time order
_NAME_RE = re.compile(r"^(?P<stamp>\d{8}T\d{6}\.\d{6}Z)-(?P<command>[a-z][a-z0-9_]*)\.db\Z")
_PARTIAL = ".partial"
_BUSY_SECONDS = 30.0


def database_file(url: DatabaseURL) -> Path:
    """The file a SQLite URL names; BackupError for in-memory and PostgreSQL databases."""
    if url.scheme == "sqlite" and url.path is not None:
        return url.path
    if url.scheme == "postgresql":
        problem = (
            f"backups apply to SQLite database files only; {url.masked} is PostgreSQL: "
            "use pg_dump to back it up and pg_restore to restore it"
        )
    else:
        problem = f"backups apply to SQLite database files only; {url.masked} is an in-memory database"
    raise BackupError(url.masked, problem)


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


async def take(db_file: Path, command: str, keep: int | None) -> BackupInfo:
    """Back up `db_file` now, before `command`; then keep only the newest `keep` (None: all)."""
    return await asyncio.to_thread(_take, db_file, command, keep)


async def restore(db_file: Path, source: Path) -> None:
    """Copy the backup `source` into the live `db_file` through the backup API."""
    await asyncio.to_thread(_restore, db_file, source)


def prune(db_file: Path, keep: int, protect: Collection[Path] = ()) -> list[Path]:
    """Delete all but the newest `keep` backups (never those in `protect`); return the deleted."""
    doomed = [b.path for b in list_backups(db_file)[max(keep, 1) :] if b.path not in protect]
    for path in doomed:
        path.unlink(missing_ok=True)
    return doomed


def _take(db_file: Path, command: str, keep: int | None) -> BackupInfo:
    if not _NAME_RE.match(f"20000101T000000.000000Z-{command}.db"):
        raise ValueError(f"not a command name: {command!r}")
    if not db_file.is_file():
        raise BackupError(str(db_file), f"cannot back up {db_file}: no such file")
    folder = backup_dir(db_file)
    folder.mkdir(exist_ok=True)
    for stale in folder.glob(f".*{_PARTIAL}*"):  # left by a run killed mid-backup (and its -journal)
        stale.unlink(missing_ok=True)
    moment = datetime.now(timezone.utc)
    partial = folder / f".{moment.strftime(_STAMP)}-{command}-{os.getpid()}{_PARTIAL}"
    try:
        _copy(db_file, partial)
        while True:  # link, not rename: never replaces a backup taken in the same microsecond
            final = folder / f"{moment.strftime(_STAMP)}-{command}.db"
            try:
                os.link(partial, final)
                break
            except FileExistsError:
                moment += timedelta(microseconds=1)
    except sqlite3.Error as exc:
        raise BackupError(str(db_file), f"could not back up {db_file}: {exc}") from None
    finally:
        partial.unlink(missing_ok=True)
    info = BackupInfo(final, moment, command, final.stat().st_size)
    if keep is not None:
        prune(db_file, keep, protect={final})
    return info


def _restore(db_file: Path, source: Path) -> None:
    try:
        with closing(sqlite3.connect(source, timeout=_BUSY_SECONDS)) as check:
            verdict = check.execute("PRAGMA quick_check").fetchone()[0]
    except sqlite3.Error as exc:
        raise BackupError(str(db_file), f"{source} is not a usable SQLite database: {exc}") from None
    if verdict != "ok":
        raise BackupError(str(db_file), f"{source} is damaged ({verdict}); not restored")
    try:
        _copy(source, db_file)
    except sqlite3.Error as exc:
        raise BackupError(str(db_file), f"could not restore {source} into {db_file}: {exc}") from None


def _copy(source: Path, target: Path) -> None:
    """SQLite's online backup, in one step: a consistent snapshot of `source` into `target`."""
    with closing(sqlite3.connect(source, timeout=_BUSY_SECONDS)) as src:
        with closing(sqlite3.connect(target, timeout=_BUSY_SECONDS)) as dst:
            src.backup(dst)
