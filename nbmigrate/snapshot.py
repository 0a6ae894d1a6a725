"""Read-only answers from a SQLite file through the stdlib sqlite3 module: no event loop.

`status`, and an `up` with nothing to apply (what every application start and CI job
runs), only read the ledger. Answering them here keeps asyncio, aiosqlite and the lock out
of the shell's most frequent commands. Whenever the answer is not certain (no file yet, a
ledger still to adopt, a busy or damaged file, anything to apply) these return None and
the engine runs the command as usual, under the lock.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from . import plan
from .config import Settings
from .ledger import ADDED_COLUMNS, LEDGER, LOG, READ_LEDGER, records_from_rows
from .model import RunReport, StatusReport, version_key
from .source import discover

_BUSY_SECONDS = 1.0  # a writer holding the file: let the engine do the waiting


def _read(path: Path, query: str, *, adopted: bool) -> list[sqlite3.Row] | None:
    """A query's rows from the ledger of the SQLite file at `path`; None when not readable here.

    No ledger table reads as no rows. `adopted`: also None unless both of nbmigrate's
    tables exist with every column, that is, unless `up` would have nothing to create or
    alter.
    """
    if not path.is_file():
        return None  # the engine creates it (or reports the folder is missing)
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=rw", uri=True, timeout=_BUSY_SECONDS)
    except sqlite3.Error:
        return None
    try:
        conn.row_factory = sqlite3.Row
        conn.execute("BEGIN")  # one consistent snapshot for the checks and the rows
        tables = {
            row[0]
            for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN (?, ?)", (LEDGER, LOG)
            )
        }
        if LEDGER not in tables:
            return None if adopted else []
        if adopted:
            columns = {row[1] for row in conn.execute(f"PRAGMA table_info({LEDGER})")}
            if LOG not in tables or not columns.issuperset(ADDED_COLUMNS):
                return None
        return conn.execute(query).fetchall()
    except sqlite3.Error:
        return None
    finally:
        conn.close()


def status(settings: Settings) -> StatusReport | None:
    """What `status` reports, or None to let the engine answer."""
    if settings.url.path is None:
        return None
    rows = _read(settings.url.path, READ_LEDGER, adopted=False)
    if rows is None:
        return None
    migrations = plan.statuses(discover(settings.directory), records_from_rows(rows))
    return StatusReport(settings.url.masked, str(settings.directory), migrations)


def nothing_to_apply(settings: Settings, target: str | None) -> RunReport | None:
    """The report of an `up` that has nothing to do, or None when the engine must run it.

    Every migration file (up to `target`) recorded as applied and no failed row: then
    `plan.to_apply` has nothing to choose. Only versions are compared, so a no-op stays
    cheap on thousands of migrations; anything else (a failed row, a pending file, an
    unknown target, a missing directory) goes to the engine, which says what to do about
    it under the lock.
    """
    if settings.url.path is None:
        return None
    rows = _read(settings.url.path, f"SELECT version, status FROM {LEDGER}", adopted=True)
    if rows is None or any(status != "applied" for _, status in rows):
        return None
    applied = {version_key(version) for version, _ in rows}
    available = {version_key(m.version) for m in discover(settings.directory)}
    if not available and not settings.directory.exists():
        return None
    if target is not None:
        limit = version_key(target)
        if limit not in applied | available:
            return None
        available = {key for key in available if key <= limit}
    if not available.issubset(applied):
        return None
    return RunReport("up", settings.url.masked, message=plan.UP_TO_DATE)
