"""Read-only answers from a SQLite file through the stdlib sqlite3 module: no event loop.

`status`, and an `up` with nothing to apply (what every application start and CI job
runs), only read the ledger. Answering them here keeps asyncio, aiosqlite and the lock out
of the shell's most frequent commands. Whenever the answer is not certain (no file yet, a
ledger still to adopt, a busy or damaged file, anything to apply) these return None and
the engine runs the command as usual, under the lock. What they read, and `status`'s
output, is remembered in readcache.py under keys that name every input exactly.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path

from . import plan, readcache, render
from .config import Settings
from .ledger import ADDED_COLUMNS, LEDGER, LOG, READ_LEDGER, records_from_rows
from .model import Migration, RunReport, StatusReport, version_key
from .readcache import LedgerRows, LedgerSummary
from .source import FileMigration, discover, migration_file_names

_BUSY_SECONDS = 1.0  # a writer holding the file: let the engine do the waiting


def _ledger(path: Path, *, rows: bool) -> tuple[LedgerSummary, LedgerRows | None] | None:
    """The ledger of the SQLite file at `path` (its rows only if asked); None when not readable here.

    Answered from the cache when the file is in a state seen before; otherwise read with
    sqlite3 and remembered, provided no commit happened while it was read.
    """
    if not path.is_file():
        return None  # the engine creates it (or reports the folder is missing)
    state = readcache.database_state(path)
    if state is not None:
        if rows:
            cached = readcache.load_rows(path, state)
            if cached is not None:
                return cached
        else:
            summary = readcache.load_summary(path, state)
            if summary is not None:
                return summary, None
    read = _read(path)
    if read is None:
        return None
    if state is not None and readcache.database_state(path) == state:
        readcache.store_ledger(path, state, *read)
    return read


def _read(path: Path) -> tuple[LedgerSummary, LedgerRows] | None:
    """nbmigrate's tables in the SQLite file at `path`, read in one transaction; None on any error."""
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=rw", uri=True, timeout=_BUSY_SECONDS)
    except sqlite3.Error:
        return None
    try:
        conn.execute("BEGIN")  # one consistent snapshot for the checks and the rows
        tables = {
            row[0]
            for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN (?, ?)", (LEDGER, LOG)
            )
        }
        if LEDGER not in tables:
            return LedgerSummary(present=False, adopted=False, versions=[]), LedgerRows([], [])
        columns = [row[1] for row in conn.execute(f"PRAGMA table_info({LEDGER})")]
        adopted = LOG in tables and set(columns).issuperset(ADDED_COLUMNS)
        cursor = conn.execute(READ_LEDGER)
        names = [d[0] for d in cursor.description]
        values = [list(row) for row in cursor.fetchall()]
    except sqlite3.Error:
        return None
    finally:
        conn.close()
    version = names.index("version")
    status = names.index("status") if "status" in names else None
    versions = [(str(r[version]), (r[status] if status is not None else None) or "applied") for r in values]
    return LedgerSummary(present=True, adopted=adopted, versions=versions), LedgerRows(names, values)


def status(settings: Settings) -> StatusReport | None:
    """What `status` reports, or None to let the engine answer."""
    if settings.url.path is None:
        return None
    ledger = _ledger(settings.url.path, rows=True)
    if ledger is None or ledger[1] is None:
        return None
    available = discover(settings.directory)
    _recall_checksums(settings.directory, available)
    migrations = plan.statuses(available, records_from_rows(ledger[1].as_mappings()))
    return StatusReport(settings.url.masked, str(settings.directory), migrations)


def status_output(settings: Settings, *, as_json: bool) -> str | None:
    """`status` as printed, or None to let the engine answer.

    The output is a function of the ledger, the migration files, the settings and the code;
    when none of them changed since it was last computed (readcache.py names each one
    exactly), it is printed again without being recomputed.
    """
    path = settings.url.path
    if path is None:
        return None
    kind = "status-json" if as_json else "status-text"
    key = _status_key(path, settings, kind)
    if key is not None and (output := readcache.load_output(path, kind, key)) is not None:
        return output
    report = status(settings)
    if report is None:
        return None
    output = render.to_json(report) if as_json else render.to_text(report)
    if key is not None and _status_key(path, settings, kind) == key:  # nothing changed while computing
        readcache.store_output(path, kind, key, output)
    return output


def _status_key(path: Path, settings: Settings, kind: str) -> str | None:
    """What names every input of `status`'s output; None when one cannot be named (or no cache)."""
    if readcache.cache_directory() is None:
        return None
    database = readcache.database_state(path)
    files = None if database is None else readcache.listing_state(settings.directory)
    if database is None or files is None:
        return None
    parts = (kind, settings.url.masked, str(settings.directory), database, files, readcache.code_state())
    return hashlib.sha256("\n".join(parts).encode("utf-8", "surrogateescape")).hexdigest()


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
    ledger = _ledger(settings.url.path, rows=False)
    if ledger is None:
        return None
    summary = ledger[0]
    if not summary.adopted or any(status != "applied" for _, status in summary.versions):
        return None
    applied = {version_key(version) for version, _ in summary.versions}
    available = {version_key(f.version) for f in migration_file_names(settings.directory)}
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


def _recall_checksums(directory: Path, migrations: list[Migration]) -> None:
    """Give each file its cached checksum where its stat is unchanged; remember the ones computed."""
    cache = readcache.Checksums(directory)
    if not cache.enabled:
        return  # each file is read when its checksum is asked for, as before
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        for m in migrations:
            if not isinstance(m, FileMigration):
                continue
            try:
                st = os.stat(m.filename, dir_fd=fd)
            except OSError:
                continue  # gone since the listing: reading it reports that
            known = cache.get(m.filename, st)
            if known is not None:
                m.recall_checksum(known)
            else:
                try:
                    cache.put(m.filename, st, m.checksum)
                except OSError:
                    continue
    finally:
        os.close(fd)
    cache.save({m.filename for m in migrations if isinstance(m, FileMigration)})
