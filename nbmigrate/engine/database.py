"""The connection object migrations and users hold: execute, fetch, one transaction helper."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any

from .. import config
from ..backends import backend_for
from ..backends.base import Backend, Statement
from ..errors import MisuseError, NbMigrateError, TransactionEndsEarly
from ..model import Params
from ..sources.sqltext import (
    ABSORBED,
    ENDS_EARLY,
    might_hold_transaction_control,
    split_statements,
    transaction_control,
)
from ..urls import DatabaseURL, parse_url
from .settle import settle

logger = logging.getLogger("nbmigrate")


class Database:
    """An async connection to SQLite or PostgreSQL.

    Outside a transaction every statement commits on its own. Inside
    `async with db.transaction():` (and inside every migration nbmigrate runs) the
    work commits at the end of the block; `db.commit()` there is deferred to that end,
    so the seed's migrations, which call it, stay atomic.
    """

    def __init__(self, url: str | DatabaseURL | None = None) -> None:
        if url is None:
            url = config.resolve().url
        elif isinstance(url, str):
            url = parse_url(url)
        self.url: DatabaseURL = url
        self.backend: Backend = backend_for(url)
        self._depth = 0
        self._before_commit: list[Statement] = []
        self._connected = False
        self.trace: list[str] | None = None
        self.last_statement: str | None = None
        # How the last outermost transaction ended: "committed", "rolled back", or None while
        # one is open or none has run. The runner reads it to report an interrupted step truly.
        self.last_outcome: str | None = None
        self.step_version: str | None = None  # the migration running now (batches.py keys checkpoints by it)

    # -- connection -------------------------------------------------------------------

    @property
    def dialect(self) -> str:
        return self.backend.dialect

    @property
    def display_url(self) -> str:
        """The URL with any password masked."""
        return self.url.masked

    @property
    def is_connected(self) -> bool:
        return self._connected

    @property
    def in_transaction(self) -> bool:
        return self._depth > 0

    async def connect(self) -> Database:
        if not self._connected:
            await self.backend.open()
            self._connected = True
        return self

    async def disconnect(self) -> None:
        if self._connected:
            self._connected = False
            self._depth = 0
            await self.backend.close()

    close = disconnect

    async def __aenter__(self) -> Database:
        return await self.connect()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.disconnect()

    def __repr__(self) -> str:
        state = "connected" if self._connected else "not connected"
        return f"<nbmigrate.Database {self.display_url} ({state})>"

    # -- statements -------------------------------------------------------------------

    async def execute(self, sql: str, params: Params = None) -> int:
        """Run one statement (or several, as the database allows); return the rows it changed.

        Inside a transaction, BEGIN / COMMIT / END are ignored (the transaction commits at its
        end) and ROLLBACK or anything else that would end it early is refused, wherever they
        sit in the text.
        """
        self.last_statement = sql
        if self._depth and might_hold_transaction_control(sql):
            kept = self._without_transaction_control(sql)
            if kept is not None:
                if params is not None and len(kept) > 1:
                    raise NbMigrateError("parameters were given with several statements: run them one by one")
                changed = 0
                for statement in kept:
                    changed += await self._send(statement, params)
                return changed
        return await self._send(sql, params)

    async def _send(self, sql: str, params: Params) -> int:
        self.last_statement = sql
        if self.trace is not None:
            self.trace.append(sql.strip())
        return await self.backend.execute(sql, params)

    def _without_transaction_control(self, sql: str) -> list[str] | None:
        """The statements of `sql` minus the ignored ones; None when there is nothing to drop."""
        statements = split_statements(sql)
        kinds = [transaction_control(s) for s in statements]
        for statement, kind in zip(statements, kinds, strict=True):
            if kind == ENDS_EARLY:
                raise TransactionEndsEarly(statement)
        if ABSORBED not in kinds:
            return None
        for statement, kind in zip(statements, kinds, strict=True):
            if kind == ABSORBED:
                logger.debug("ignored %r: the surrounding transaction commits at its end", statement)
        return [s for s, kind in zip(statements, kinds, strict=True) if kind != ABSORBED]

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement once per parameter row."""
        self.last_statement = sql
        if self.trace is not None:
            self.trace.append(f"{sql.strip().rstrip(';')} /* run {len(rows)} times */")
        await self.backend.executemany(sql, rows)

    async def fetch_all(self, sql: str, params: Params = None) -> list[Any]:
        """All rows; each supports `row[0]` and `row["column"]`."""
        self.last_statement = sql
        return await self.backend.fetch_all(sql, params)

    async def fetch_one(self, sql: str, params: Params = None) -> Any | None:
        """The first row, or None."""
        rows = await self.fetch_all(sql, params)
        return rows[0] if rows else None

    async def fetch_val(self, sql: str, params: Params = None) -> Any:
        """The first column of the first row, or None."""
        row = await self.fetch_one(sql, params)
        return None if row is None else row[0]

    def iterate(self, sql: str, params: Params = None) -> AsyncIterator[Any]:
        """Rows one at a time, without loading the whole result."""
        self.last_statement = sql
        return self.backend.iterate(sql, params)

    # -- transactions -----------------------------------------------------------------

    async def commit(self) -> None:
        """Commit; inside a transaction block or a migration, deferred to its end."""
        if self._depth:
            logger.debug("commit() deferred to the end of the surrounding transaction")

    async def rollback(self) -> None:
        """Outside a transaction there is nothing to roll back; inside one, raise instead."""
        if self._depth:
            raise NbMigrateError(
                "rollback() inside a transaction or migration: raise an exception instead, "
                "and the whole block is rolled back"
            )

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Database]:
        """Commit the block's work at its end, or roll it all back if it raises.

        Nested blocks use savepoints, so an inner failure can be caught and survived. Once
        sent, the COMMIT (and a ROLLBACK) is awaited to its end even if the task is
        cancelled meanwhile; the cancellation is raised after it, and `last_outcome` says
        how the transaction really ended.
        """
        backend = self.backend
        if self._depth:
            async with self._savepoint():
                yield self
            return
        self.last_outcome = None
        await backend.execute(backend.begin_sql)
        self._depth = 1
        self._before_commit = []
        try:
            yield self
        except BaseException as exc:
            self._depth = 0
            self._before_commit = []
            if isinstance(exc, (asyncio.CancelledError, KeyboardInterrupt)):
                await settle(self.backend.interrupt())  # stop a long statement now, not at its end
            await self._rollback_quietly()
            raise
        self._depth = 0
        tail, self._before_commit = self._before_commit, []
        try:
            await settle(self._commit(tail))
        except BaseException:
            if self.last_outcome != "committed":
                await self._rollback_quietly()
            raise

    async def _commit(self, tail: list[Statement]) -> None:
        await self.backend.execute_batch([*tail, ("COMMIT", None)])
        self.last_outcome = "committed"

    @asynccontextmanager
    async def _savepoint(self) -> AsyncIterator[None]:
        backend = self.backend
        name = f"nbmigrate_sp{self._depth}"
        await backend.execute(f"SAVEPOINT {name}")
        self._depth += 1
        queued = len(self._before_commit)
        try:
            yield
        except BaseException:
            del self._before_commit[queued:]
            await settle(backend.execute(f"ROLLBACK TO SAVEPOINT {name}"))
            await settle(backend.execute(f"RELEASE SAVEPOINT {name}"))
            raise
        else:
            await backend.execute(f"RELEASE SAVEPOINT {name}")
        finally:
            self._depth -= 1

    def before_commit(self, *statements: Statement) -> None:
        """Run `statements` at the end of the open transaction, in the round trip of its COMMIT.

        A rollback (of the transaction, or of the savepoint they were queued in) drops them.
        """
        if not self._depth:
            raise MisuseError("before_commit() needs an open transaction")
        self._before_commit.extend(statements)

    async def _rollback_quietly(self) -> None:
        # Settled: a second Ctrl-C must not leave the transaction open.
        try:
            await settle(self.backend.execute("ROLLBACK"))
        except Exception as exc:  # the connection may already have rolled back
            logger.debug("rollback: %s", exc)
        finally:
            self.last_outcome = "rolled back"


async def connect(url: str | DatabaseURL | None = None) -> Database:
    """Open a database from a URL (or the configured one) and return it connected."""
    return await Database(url).connect()
