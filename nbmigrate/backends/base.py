"""The small contract every database backend meets: one method per database fact."""

from __future__ import annotations

import abc
import os
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..reports import TableInfo
from ..urls import DatabaseURL

if TYPE_CHECKING:  # the SQLite backups module: imported by the SQLite backend only
    from .sqlite_backup import FileBackups

from ..model import Params

Statement = tuple[str, Params]


class Backend(abc.ABC):
    """A connection to one database.

    Transactions are plain SQL (`begin_sql`, `COMMIT`, `ROLLBACK`, `SAVEPOINT`) issued by
    `Database.transaction()`; a backend only says how to begin one.
    """

    dialect: str = ""
    begin_sql: str = "BEGIN"
    # Exceptions that come from the database itself (their statement is worth showing).
    error_types: tuple[type[BaseException], ...] = ()
    # nbmigrate's own tables in this database's words (engine/ledger.py asks for them).
    timestamp_type: str = "TEXT"
    float_type: str = "REAL"
    serial_key: str = "INTEGER PRIMARY KEY AUTOINCREMENT"

    def __init__(self, url: DatabaseURL) -> None:
        self.url = url

    @property
    def display_url(self) -> str:
        return self.url.masked

    @abc.abstractmethod
    def append_only(self, table: str) -> list[str]:
        """Statements that make `table` refuse updates and deletes (the event log)."""

    def timestamp_value(self, moment: datetime) -> Any:
        """A UTC datetime as this database stores it in a `timestamp_type` column."""
        return moment

    def ledger_upgrades(self, table: str, columns: Mapping[str, str]) -> list[str]:
        """Statements that bring an older ledger's existing columns (name -> type) up to date."""
        return []

    @abc.abstractmethod
    async def open(self) -> None: ...

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    async def execute(self, sql: str, params: Params = None) -> int:
        """Run one statement; return the number of rows it changed (0 when unknown)."""

    async def execute_batch(self, statements: Sequence[Statement]) -> None:
        """Run statements in order; backends that can send them in one round trip do."""
        for sql, params in statements:
            await self.execute(sql, params)

    @abc.abstractmethod
    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...

    @abc.abstractmethod
    async def fetch_all(self, sql: str, params: Params = None) -> list[Any]:
        """Rows that support both `row[0]` and `row["column"]`."""

    def iterate(self, sql: str, params: Params = None) -> AsyncIterator[Any]:
        """Rows one by one; backends may stream, the default fetches all."""

        async def _rows() -> AsyncIterator[Any]:
            for row in await self.fetch_all(sql, params):
                yield row

        return _rows()

    def native_sql(self, sql: str) -> str:
        """Turn nbmigrate's own `?` placeholders into the backend's style."""
        return sql

    @abc.abstractmethod
    def lock(self, timeout: float, purpose: str) -> AbstractAsyncContextManager[None]:
        """Hold the migration lock for this database; raise LockTimeout naming the holder."""

    async def lock_is_held(self) -> bool:
        """Whether some run holds the migration lock now; read-only (creates nothing)."""
        return False

    @abc.abstractmethod
    async def has_table(self, name: str) -> bool: ...

    @abc.abstractmethod
    async def table_names(self) -> list[str]:
        """Every user table, nbmigrate's ledger included, sorted."""

    @abc.abstractmethod
    async def describe(self, table: str) -> TableInfo: ...

    async def catalog(self, exclude: Collection[str] = ()) -> list[TableInfo]:
        """The database's schema: every table but those in `exclude`, with columns and indexes."""
        return [await self.describe(n) for n in await self.table_names() if n not in exclude]

    @abc.abstractmethod
    async def schema_fingerprint(self, prefix: str) -> str:
        """A hash of every schema object's definition (those named `prefix...` left out), in one query.

        Equal fingerprints: the same schema, as this database spells it. Cheap enough to take
        after every step of a stairway test; the catalog explains a difference.
        """

    @abc.abstractmethod
    async def drop_all(self) -> list[str]:
        """Drop every table, view, index and trigger; return what was dropped."""

    async def set_busy_timeout(self, seconds: float) -> None:  # noqa: B027  (SQLite's own wait)
        """How long a statement waits for another connection's lock before it fails."""

    def backups(self) -> FileBackups | None:
        """This database's own backups, taken before changing commands; None where it has none."""
        return None

    def without_backups(self) -> str:
        """Why `backups()` is None here, and what to use instead: for messages."""
        return f"nbmigrate keeps backups of SQLite database files only; {self.url.masked} is not one"

    async def interrupt(self) -> None:  # noqa: B027  (optional: not every backend can)
        """Abort the statement in flight, if the backend can."""


def current_user() -> str:
    """`user@host`: who ran a command, for the ledger and for lock holders."""
    import getpass  # with socket, only when something is written: keeps start-up short
    import socket

    try:
        user = getpass.getuser()
    except Exception:  # no login name in some containers
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def holder_description(purpose: str) -> str:
    """Who is running: shown to another run that waits for the lock."""
    return f"pid {os.getpid()} ({current_user()}), running `{purpose}`"
