"""PostgreSQL through asyncpg: transactional DDL, a session-level advisory lock, one schema."""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import re
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ..config import check_seconds
from ..errors import ConfigError, ConnectionFailed, LockTimeout, MisuseError, NotConnected
from ..model import Params
from ..reports import (
    ColumnInfo,
    IndexInfo,
    TableInfo,
)
from ..urls import DatabaseURL, mask_password, parse_server, parse_url
from . import postgres_sql as sql
from .base import Backend

try:
    import asyncpg
except ImportError:  # pragma: no cover - exercised only without the extra
    asyncpg = None  # type: ignore[assignment]

_POLL_SECONDS = 0.05  # plus up to as much again of jitter, so waiting runs do not poll in step
_CONNECT_TIMEOUT = 10.0
_UNLOCK_TIMEOUT = 5.0
_APP_NAME_LIMIT = 63  # NAMEDATALEN - 1: the server cuts longer names
_AFFECTED = frozenset({"INSERT", "UPDATE", "DELETE", "MERGE", "COPY"})

# A `?` outside quotes and comments (only nbmigrate's own ledger SQL is converted).
_PLACEHOLDER = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|/\*.*?\*/|(\?)", re.S)


class PostgresBackend(Backend):
    """One asyncpg connection for the work, and a second one that holds the migration lock."""

    dialect = "postgresql"
    begin_sql = "BEGIN"
    timestamp_type = "TIMESTAMPTZ"
    float_type = "DOUBLE PRECISION"
    serial_key = "BIGSERIAL PRIMARY KEY"
    error_types: tuple[type[BaseException], ...] = (
        (asyncpg.PostgresError, asyncpg.InterfaceError) if asyncpg is not None else ()
    )

    def __init__(self, url: DatabaseURL) -> None:
        if asyncpg is None:
            raise ConfigError(f"{url.masked} needs asyncpg for PostgreSQL: pip install 'nbmigrate[postgres]'")
        super().__init__(url)
        self._conn: Any = None

    @property
    def conn(self) -> Any:
        if self._conn is None:
            raise NotConnected
        return self._conn

    # -- nbmigrate's own tables ---------------------------------------------------------

    def append_only(self, table: str) -> list[str]:
        function = f"{table}_append_only"
        return [
            f"CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql "
            f"AS $$ BEGIN RAISE EXCEPTION '{table} is append-only'; END $$",
            *(
                f"CREATE TRIGGER {table}_no_{event.lower()} BEFORE {event} ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION {function}()"
                for event in ("UPDATE", "DELETE")
            ),
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()",
        ]

    def without_backups(self) -> str:
        return (
            f"nbmigrate keeps backups of SQLite database files only; {self.url.masked} is PostgreSQL: "
            "use pg_dump to back it up and pg_restore to restore it"
        )

    def ledger_upgrades(self, table: str, columns: Mapping[str, str]) -> list[str]:
        if columns.get("applied_at") in (None, "TIMESTAMP WITH TIME ZONE"):
            return []
        # A seed-era TIMESTAMP (or TEXT) column of UTC times: made aware, rows kept.
        return [
            f"ALTER TABLE {table} ALTER COLUMN applied_at TYPE {self.timestamp_type} "
            "USING NULLIF(applied_at::text, '')::timestamp AT TIME ZONE 'UTC'"
        ]

    # -- connection -------------------------------------------------------------------

    async def open(self) -> None:
        self._conn = await self._connect(f"nbmigrate pid {os.getpid()}", override=False)

    async def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await _close(conn)

    async def _connect(self, application_name: str, *, override: bool) -> Any:
        """A new connection; the URL's own `application_name` wins unless `override`."""
        dsn, timeout, credentials = connect_args(self.url)
        settings = None
        if override or "application_name" not in dict(parse_qsl(urlsplit(dsn).query)):
            settings = {"application_name": application_name[:_APP_NAME_LIMIT]}
        try:
            # No statement cache: a migration may change a table between two identical
            # queries of one transaction, which a cached plan cannot survive.
            return await asyncpg.connect(
                dsn,
                timeout=timeout,
                statement_cache_size=0,
                server_settings=settings,
                user=credentials.get("user"),
                password=credentials.get("password"),
            )
        except (
            OSError,
            asyncio.TimeoutError,
            ValueError,
            asyncpg.PostgresError,
            asyncpg.InterfaceError,
        ) as exc:
            raise ConnectionFailed(self.url.masked, self._reason(exc, timeout)) from None

    def _reason(self, exc: BaseException, timeout: float) -> str:
        """One line; the password never reaches asyncpg's DSN, and is masked should it be echoed."""
        if isinstance(exc, asyncio.TimeoutError):
            return f"no answer within {timeout:g}s"
        return mask_password(" ".join(str(exc).split()) or type(exc).__name__)

    # -- statements -------------------------------------------------------------------

    async def execute(self, sql: str, params: Params = None) -> int:
        status = await self.conn.execute(sql, *_positional(params))
        return rows_affected(status)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        await self.conn.executemany(sql, [tuple(r) for r in rows])

    async def fetch_all(self, sql: str, params: Params = None) -> list[Any]:
        return list(await self.conn.fetch(sql, *_positional(params)))

    def iterate(self, sql: str, params: Params = None) -> AsyncIterator[Any]:
        async def _rows() -> AsyncIterator[Any]:
            conn = self.conn
            if not conn.is_in_transaction():  # a server-side cursor lives in a transaction
                for row in await self.fetch_all(sql, params):
                    yield row
                return
            async for row in conn.cursor(sql, *_positional(params), prefetch=500):
                yield row

        return _rows()

    def native_sql(self, sql: str) -> str:
        return to_dollar_placeholders(sql)

    # -- the migration lock -----------------------------------------------------------

    @asynccontextmanager
    async def lock(self, timeout: float, purpose: str) -> AsyncIterator[None]:
        """A session-level advisory lock on a second connection, idle while held.

        Idle and outside any transaction, that connection cannot hold up a
        `CREATE INDEX CONCURRENTLY` run on the main one; if this process dies, the
        server ends its session and the lock with it.
        """
        schema = await self.conn.fetchval("SELECT current_schema()") or ""
        key = lock_key(schema)
        label = purpose.removeprefix("nbmigrate ")
        conn = await self._connect(f"nbmigrate: {label} pid {os.getpid()}", override=True)
        try:
            deadline = time.monotonic() + timeout
            while not await conn.fetchval("SELECT pg_try_advisory_lock($1)", key):
                if time.monotonic() >= deadline:
                    holder = await _lock_holder(conn, key)
                    raise LockTimeout(self.url.masked, timeout, holder)
                await asyncio.sleep(_POLL_SECONDS * (1 + random.random()))
            try:
                yield
            finally:
                try:
                    await asyncio.wait_for(
                        conn.fetchval("SELECT pg_advisory_unlock($1)", key), _UNLOCK_TIMEOUT
                    )
                except Exception:  # closing the session below releases it all the same
                    conn.terminate()
        finally:
            await _close(conn)

    async def lock_is_held(self) -> bool:
        schema = await self.conn.fetchval("SELECT current_schema()") or ""
        return await _lock_holder(self.conn, lock_key(schema)) is not None

    # -- schema -----------------------------------------------------------------------

    async def schema_fingerprint(self, prefix: str) -> str:
        rows = await self.fetch_all(sql.FINGERPRINT, (prefix,))
        return str(rows[0][0] or "")

    async def has_table(self, name: str) -> bool:
        rows = await self.fetch_all(
            "SELECT 1 FROM pg_tables WHERE schemaname = current_schema() AND tablename = $1", (name,)
        )
        return bool(rows)

    async def table_names(self) -> list[str]:
        rows = await self.fetch_all("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
        return sorted(r[0] for r in rows)

    async def describe(self, table: str) -> TableInfo:
        columns = tuple(
            ColumnInfo(
                name=r["name"],
                type=r["type"],
                notnull=bool(r["notnull"]),
                default=r["default"],
                primary_key=bool(r["pk"]),
            )
            for r in await self.fetch_all(sql.COLUMNS, (table,))
        )
        indexes = tuple(
            IndexInfo(r["name"], tuple(r["columns"]), bool(r["unique"]))
            for r in await self.fetch_all(sql.INDEXES, (table,))
        )
        return TableInfo(table, columns, indexes)

    async def drop_all(self) -> list[str]:
        dropped = []
        for r in await self.fetch_all(sql.DROPPABLE):
            await self.execute(f"DROP {r['kind'].upper()} IF EXISTS {r['target']} CASCADE")
            dropped.append(f"{r['kind']} {r['name']}")
        await self.conn.reload_schema_state()  # forget codecs of types that no longer exist
        return dropped


def connect_args(url: DatabaseURL | str) -> tuple[str, float, dict[str, str]]:
    """From an nbmigrate URL: asyncpg's DSN, the connect timeout, and the user and password.

    The user and password go as arguments, decoded, never in the DSN: asyncpg splits user
    info at its first `@` (a password may hold one) and its errors may quote the DSN.
    `postgres://` and `postgresql+asyncpg://` become `postgresql://`; libpq's
    `connect_timeout` becomes asyncpg's timeout; every other query parameter (`sslmode`,
    `sslrootcert`, `application_name`, `options`, ...) is passed through to asyncpg.
    """
    parsed = parse_url(url) if isinstance(url, str) else url
    parts = parsed.server if parsed.server is not None else parse_server(parsed.raw)
    location = urlsplit(f"postgresql://{parts.location}")
    query = parse_qsl(location.query, keep_blank_values=True)
    timeout = _CONNECT_TIMEOUT
    kept = []
    for name, value in query:
        if name == "connect_timeout":
            timeout = check_seconds(value, "connect_timeout")
        else:
            kept.append((name, value))
    credentials = {"user": parts.user, "password": parts.password}
    dsn = urlunsplit(location._replace(query=urlencode(kept)))
    return dsn, timeout, {k: v for k, v in credentials.items() if v}


def to_dollar_placeholders(sql: str) -> str:
    """Number the `?` placeholders `$1, $2, ...`, leaving quoted text and comments alone."""
    count = 0

    def number(m: re.Match[str]) -> str:
        nonlocal count
        if m.group(1) is None:
            return m.group(0)
        count += 1
        return f"${count}"

    return _PLACEHOLDER.sub(number, sql)


def rows_affected(status: str | None) -> int:
    """Rows changed according to a command tag: 'UPDATE 3' -> 3, 'INSERT 0 2' -> 2, 'CREATE TABLE' -> 0."""
    words = (status or "").split()
    if len(words) >= 2 and words[0] in _AFFECTED and words[-1].isdigit():
        return int(words[-1])
    return 0


def lock_key(schema: str) -> int:
    """The advisory lock key of a schema: a fixed signed 64-bit number."""
    digest = hashlib.sha256(f"nbmigrate:{schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _positional(params: Params) -> Sequence[Any]:
    if params is None:
        return ()
    if isinstance(params, dict):
        raise MisuseError("PostgreSQL takes positional parameters ($1, $2, ...): pass a list or tuple")
    return params


async def _lock_holder(conn: Any, key: int) -> str | None:
    """Who holds the advisory lock, from pg_locks and pg_stat_activity."""
    unsigned = key & 0xFFFFFFFFFFFFFFFF
    row = await conn.fetchrow(sql.LOCK_HOLDER, unsigned >> 32, unsigned & 0xFFFFFFFF)
    if row is None:
        return None
    details = [f"server pid {row['pid']}"]
    if row["usename"]:
        details.append(f"user {row['usename']}")
    if row["client"]:
        details.append(f"client {row['client']}")
    started: datetime | None = row["backend_start"]
    if started is not None:
        details.append(f"connected since {started.astimezone(timezone.utc):%Y-%m-%d %H:%M:%S} UTC")
    who = f"'{row['application_name']}'" if row["application_name"] else "a session"
    return f"{who} ({', '.join(details)})"


async def _close(conn: Any) -> None:
    """Close politely, or drop the socket if that fails or is interrupted."""
    try:
        await asyncio.wait_for(conn.close(), _UNLOCK_TIMEOUT)
    except BaseException as exc:
        conn.terminate()
        if not isinstance(exc, Exception):
            raise
