"""SQLite through aiosqlite: the embedded default."""

from __future__ import annotations

import asyncio
import logging
import math
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import aiosqlite

from ..errors import (
    ConnectionFailed,
    DatabaseLocked,
    FileSystemFault,
    LockTimeout,
    NbMigrateError,
    NotConnected,
)
from ..files import is_busy, os_fault, sqlite_fault_reason
from ..model import Params
from ..reports import (
    ColumnInfo,
    IndexInfo,
    TableInfo,
)
from ..urls import DatabaseURL
from .base import Backend, Statement, holder_description
from .sqlite_backup import FileBackups

try:  # POSIX; on other systems runs are serialised within one process only
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger("nbmigrate")

_POLL_SECONDS = 0.05
_MAX_BUSY_MS = 2**31 - 1  # PRAGMA busy_timeout is a C int of milliseconds
LOCK_SUFFIX = ".nbmigrate-lock"


class DatabaseFileFault(FileSystemFault, sqlite3.OperationalError):
    """SQLite could not write the database file (disk full, read-only, no journal possible).

    Also a sqlite3 error, so a migration statement that meets it fails that migration with
    its statement shown, while outside a migration it is the one-line FileSystemFault.
    """


class SQLiteBackend(Backend):
    """One aiosqlite connection in autocommit mode; transactions are explicit."""

    dialect = "sqlite"
    begin_sql = "BEGIN IMMEDIATE"  # take the write lock up front: no upgrade deadlocks
    error_types = (sqlite3.Error,)

    def append_only(self, table: str) -> list[str]:
        return [
            f"CREATE TRIGGER IF NOT EXISTS {table}_no_{event.lower()} BEFORE {event} ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
            for event in ("UPDATE", "DELETE")
        ]

    def backups(self) -> FileBackups | None:
        return FileBackups(self.url.path) if self.url.path is not None else None

    def without_backups(self) -> str:
        return f"backups apply to SQLite database files only; {self.url.masked} is an in-memory database"

    def timestamp_value(self, moment: datetime) -> str:
        return moment.strftime("%Y-%m-%d %H:%M:%S.%f")  # the shape of CURRENT_TIMESTAMP

    def __init__(self, url: DatabaseURL, busy_timeout: float = 30.0) -> None:
        super().__init__(url)
        self.busy_timeout = busy_timeout
        self._busy_ms = _busy_ms(busy_timeout)  # what the open connection has
        self._conn: aiosqlite.Connection | None = None
        self._memory_lock = asyncio.Lock()

    @property
    def conn(self) -> aiosqlite.Connection:
        if self._conn is None:
            raise NotConnected
        return self._conn

    async def open(self) -> None:
        path = self.url.path
        target = ":memory:" if path is None else str(path)
        if path is not None and not path.parent.is_dir():
            raise ConnectionFailed(self.url.masked, f"folder {path.parent} does not exist")
        self._busy_ms = _busy_ms(self.busy_timeout)
        pending = aiosqlite.connect(target, isolation_level=None, timeout=self._busy_ms / 1000)
        # A script that fails before `disconnect()` (the seed README's snippets have no
        # try/finally) must still exit; an open transaction is rolled back by SQLite's journal.
        worker = getattr(pending, "_thread", None)
        if worker is not None:
            worker.daemon = True
        try:
            conn = await pending
        except sqlite3.Error as exc:
            raise ConnectionFailed(self.url.masked, str(exc)) from None
        conn.row_factory = sqlite3.Row
        self._conn = conn
        try:  # fail now, not at the first migration, on a file that is not a database
            await conn.execute_fetchall("SELECT count(*) FROM sqlite_master")
        except sqlite3.DatabaseError as exc:
            await self.close()
            raise ConnectionFailed(self.url.masked, str(exc)) from None

    async def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await conn.close()

    async def set_busy_timeout(self, seconds: float) -> None:
        self.busy_timeout = seconds
        ms = _busy_ms(seconds)
        if self._conn is not None and ms != self._busy_ms:
            await self._conn.execute_fetchall(f"PRAGMA busy_timeout = {ms}")
            self._busy_ms = ms

    async def execute(self, sql: str, params: Params = None) -> int:
        conn = self.conn
        before = conn.total_changes
        started = time.monotonic()
        try:
            await conn.execute_fetchall(sql, params if params is not None else ())
        except sqlite3.OperationalError as exc:
            self._raise_typed(exc, sql, started)
            raise
        return conn.total_changes - before

    async def execute_batch(self, statements: Sequence[Statement]) -> None:
        conn = self.conn
        # aiosqlite's queue to its worker thread (private, but behind every public method since
        # 0.11): one hop for a step's ledger row, event-log row and COMMIT, not one each.
        submit = getattr(conn, "_execute", None)
        if submit is None:  # pragma: no cover - a future aiosqlite without it
            await super().execute_batch(statements)
            return
        started = time.monotonic()
        try:
            await submit(_execute_all, conn, statements)
        except _StatementFailed as failed:
            self._raise_typed(failed.error, failed.sql, started)
            raise failed.error from None

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        started = time.monotonic()
        try:
            cursor = await self.conn.executemany(sql, rows)
        except sqlite3.OperationalError as exc:
            self._raise_typed(exc, sql, started)
            raise
        await cursor.close()

    async def fetch_all(self, sql: str, params: Params = None) -> list[Any]:
        started = time.monotonic()
        try:
            return list(await self.conn.execute_fetchall(sql, params if params is not None else ()))
        except sqlite3.OperationalError as exc:
            self._raise_typed(exc, sql, started)
            raise

    def _raise_typed(self, exc: sqlite3.OperationalError, sql: str, started: float) -> None:
        """A lock held past the busy timeout, or a file SQLite cannot write: raise nbmigrate's own error."""
        where = str(self.url.path) if self.url.path is not None else self.url.masked
        if is_busy(exc):
            at_commit = sql.strip().upper().startswith(("COMMIT", "END"))
            raise DatabaseLocked(where, time.monotonic() - started, at_commit=at_commit) from exc
        reason = sqlite_fault_reason(exc)
        if reason is not None:
            raise DatabaseFileFault(where, "the database", reason) from exc

    def iterate(self, sql: str, params: Params = None) -> AsyncIterator[Any]:
        async def _rows() -> AsyncIterator[Any]:
            async with self.conn.execute(sql, params if params is not None else ()) as cursor:
                while batch := await cursor.fetchmany(500):
                    for row in batch:
                        yield row

        return _rows()

    async def interrupt(self) -> None:
        # sqlite3's interrupt() is meant to be called from another thread; aiosqlite's own
        # would queue behind the very statement it should stop.
        raw = getattr(self._conn, "_connection", None)
        if raw is not None:
            raw.interrupt()

    @asynccontextmanager
    async def lock(self, timeout: float, purpose: str) -> AsyncIterator[None]:
        if self.url.path is None or fcntl is None:
            try:
                await asyncio.wait_for(self._memory_lock.acquire(), timeout)
            except asyncio.TimeoutError:
                raise LockTimeout(self.url.masked, timeout, "another task in this process") from None
            try:
                yield
            finally:
                self._memory_lock.release()
            return
        lock_path = Path(str(self.url.path) + LOCK_SUFFIX)
        # The OS releases an flock when its holder dies, so a crash never leaves a lock behind.
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise os_fault(lock_path, "the migration lock file", exc) from None
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise LockTimeout(self.url.masked, timeout, _read_holder(fd)) from None
                    await asyncio.sleep(_POLL_SECONDS)
            since = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
            _write_holder(fd, f"{holder_description(purpose)} since {since}")
            try:
                yield
            finally:
                _write_holder(fd, "")
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    async def lock_is_held(self) -> bool:
        if self.url.path is None or fcntl is None:
            return self._memory_lock.locked()
        try:
            fd = os.open(str(self.url.path) + LOCK_SUFFIX, os.O_RDONLY)
        except OSError:  # no lock file: no run ever took it here
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)  # and with it the shared lock, if it was taken
        return False

    async def schema_fingerprint(self, prefix: str) -> str:
        rows = await self.fetch_all(
            "SELECT type, name, tbl_name, coalesce(sql, '') FROM sqlite_schema "
            "WHERE name NOT LIKE 'sqlite_%' AND substr(name, 1, length(?)) <> ? "
            "AND substr(tbl_name, 1, length(?)) <> ? ORDER BY type, name",
            (prefix, prefix, prefix, prefix),
        )
        return _digest(" ".join(str(v) for v in row) for row in rows)

    async def has_table(self, name: str) -> bool:
        rows = await self.fetch_all("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,))
        return bool(rows)

    async def table_names(self) -> list[str]:
        rows = await self.fetch_all(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        )
        return [r[0] for r in rows]

    async def describe(self, table: str) -> TableInfo:
        quoted = _quote(table)
        columns = tuple(
            ColumnInfo(
                name=r["name"],
                type=r["type"] or "",
                notnull=bool(r["notnull"]),
                default=r["dflt_value"],
                primary_key=bool(r["pk"]),
            )
            for r in await self.fetch_all(f"PRAGMA table_info({quoted})")
        )
        indexes = []
        for r in await self.fetch_all(f"PRAGMA index_list({quoted})"):
            cols = await self.fetch_all(f"PRAGMA index_info({_quote(r['name'])})")
            indexes.append(
                IndexInfo(r["name"], tuple(c["name"] or "<expr>" for c in cols), bool(r["unique"]))
            )
        return TableInfo(table, columns, tuple(sorted(indexes, key=lambda i: i.name)))

    async def drop_all(self) -> list[str]:
        rows = await self.fetch_all(
            "SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' "
            "AND type IN ('view', 'trigger', 'table')"
        )
        order = {"trigger": 0, "view": 1, "table": 2}
        dropped = []
        foreign_keys = (await self.fetch_all("PRAGMA foreign_keys"))[0][0]
        await self.execute("PRAGMA foreign_keys = OFF")
        try:
            for kind, name in sorted(((r[0], r[1]) for r in rows), key=lambda r: order[r[0]]):
                await self.execute(f"DROP {kind.upper()} IF EXISTS {_quote(name)}")
                dropped.append(f"{kind} {name}")
        finally:
            await self.execute(f"PRAGMA foreign_keys = {int(foreign_keys)}")
        return dropped


class _StatementFailed(NbMigrateError):
    """Which statement of a batch SQLite refused, carried back from the worker thread."""

    def __init__(self, sql: str, error: sqlite3.OperationalError) -> None:
        super().__init__(str(error))
        self.sql = sql
        self.error = error


def _execute_all(conn: aiosqlite.Connection, statements: Sequence[Statement]) -> None:
    """On aiosqlite's worker thread: run each statement on the underlying sqlite3 connection."""
    raw = conn._conn
    for sql, params in statements:
        try:
            raw.execute(sql, params if params is not None else ())
        except sqlite3.OperationalError as exc:
            raise _StatementFailed(sql, exc) from None


def _busy_ms(seconds: float) -> int:
    """Seconds as SQLite's busy timeout: whole milliseconds, within a C int."""
    if not math.isfinite(seconds):
        return _MAX_BUSY_MS
    return min(max(int(seconds * 1000), 0), _MAX_BUSY_MS)


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _read_holder(fd: int) -> str | None:
    try:
        text = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip()
    except OSError:
        return None
    return text or None


def _write_holder(fd: int, text: str) -> None:
    """Who holds the lock, for whoever waits: only informative, so a full disk must not stop the run."""
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, text.encode(), 0)
    except OSError as exc:
        logger.debug("could not write the lock holder: %s", exc)


def _digest(lines: Iterable[str]) -> str:
    import hashlib

    return hashlib.sha256("\n".join(lines).encode()).hexdigest()
