"""Data migrations over large tables: keyset-paginated batches, progress, resume.

    from nbmigrate.batches import backfill, update_in_batches

    async def up(db):
        await db.execute("ALTER TABLE contacts ADD COLUMN verified BOOLEAN NOT NULL DEFAULT FALSE")
        # The new value is an SQL expression: one set-based UPDATE per key range.
        await backfill(db, "contacts", "verified = TRUE", where="phone IS NOT NULL")
        # The new value is computed in Python: one executemany per batch.
        await update_in_batches(
            db, "contacts", "UPDATE contacts SET phone = ? WHERE id = ?",
            params=lambda row: (normalise(row["phone"]), row["id"]), columns=["phone"],
        )

Rows are visited in key order with `WHERE key > last ORDER BY key LIMIT n`, never
OFFSET, so each batch costs the same however deep into the table it is. Inside a
transactional migration everything commits (or rolls back) with the migration. In a
migration with `transactional = False`, each batch commits on its own together with a
checkpoint, so a run that is interrupted resumes after the last finished batch and no
row is updated twice. A migration may run several jobs (phases) in turn: a finished one
is marked done, so a resumed run skips it, and the checkpoints of a migration are cleared
when it is recorded as applied (or reverted). Outside a migration, a finished job's
checkpoint is cleared at once.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .engine.database import Database
from .engine.ledger_tables import CHECKPOINTS
from .errors import ConfigError
from .progress import RowBar

logger = logging.getLogger("nbmigrate.batches")

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?\Z")


@dataclass(frozen=True)
class BatchResult:
    """What a batched update did."""

    rows: int
    batches: int
    resumed_from: Any
    seconds: float


async def keyset_batches(
    db: Database,
    table: str,
    *,
    key: str = "id",
    columns: Sequence[str] = (),
    where: str | None = None,
    batch_size: int = 1000,
    after: Any = None,
) -> AsyncIterator[list[Any]]:
    """Yield lists of rows (key first, then `columns`) in key order, `batch_size` at a time."""
    for name in (table, key, *columns):
        _check_identifier(name)
    if batch_size < 1:
        raise ConfigError(f"batch_size must be at least 1, got {batch_size}")
    native = db.backend.native_sql
    selected = ", ".join([key, *[c for c in columns if c != key]])
    condition = f" AND ({where})" if where else ""
    first = native(f"SELECT {selected} FROM {table} WHERE 1 = 1{condition} ORDER BY {key} LIMIT {batch_size}")
    following = native(
        f"SELECT {selected} FROM {table} WHERE {key} > ?{condition} ORDER BY {key} LIMIT {batch_size}"
    )
    last = after
    while True:
        rows = await (db.fetch_all(first) if last is None else db.fetch_all(following, (last,)))
        if not rows:
            return
        yield rows
        if len(rows) < batch_size:
            return
        last = rows[-1][0]


async def backfill(
    db: Database,
    table: str,
    assignments: str,
    *,
    where: str | None = None,
    key: str = "id",
    batch_size: int = 10_000,
    checkpoint: str | None = None,
    progress: bool | None = None,
) -> BatchResult:
    """`UPDATE table SET assignments` batch by batch, each batch one set-based statement.

    The fastest way when the new value is an SQL expression: each batch is a key range
    found by walking the key (`WHERE key > last ORDER BY key LIMIT n`), then updated with
    one `UPDATE ... WHERE key > low AND key <= high AND (where)`.
    """
    _check_identifier(table)
    _check_identifier(key)
    native = db.backend.native_sql
    condition = f" AND ({where})" if where else ""
    first_bound = (
        f"SELECT max(k), count(*) FROM (SELECT {key} AS k FROM {table} WHERE 1 = 1{condition} "
        f"ORDER BY {key} LIMIT {batch_size}) AS b"
    )
    next_bound = native(
        f"SELECT max(k), count(*) FROM (SELECT {key} AS k FROM {table} WHERE {key} > ?{condition} "
        f"ORDER BY {key} LIMIT {batch_size}) AS b"
    )
    first_update = native(f"UPDATE {table} SET {assignments} WHERE {key} <= ?{condition}")
    next_update = native(f"UPDATE {table} SET {assignments} WHERE {key} > ? AND {key} <= ?{condition}")

    async def batches(after: Any) -> AsyncIterator[tuple[Any, int, Callable[[], Awaitable[None]]]]:
        low = after
        while True:
            row = await (db.fetch_one(first_bound) if low is None else db.fetch_one(next_bound, (low,)))
            high, count = (row[0], int(row[1])) if row is not None else (None, 0)
            if not count:
                return

            async def update(low: Any = low, high: Any = high) -> None:
                if low is None:
                    await db.execute(first_update, (high,))
                else:
                    await db.execute(next_update, (low, high))

            yield high, count, update
            if count < batch_size:
                return
            low = high

    job = checkpoint or f"{table}:SET {assignments}"
    return await _drive(db, table, key, where, job, batches, progress)


async def update_in_batches(
    db: Database,
    table: str,
    statement: str,
    *,
    params: Callable[[Any], Sequence[Any] | None],
    key: str = "id",
    columns: Sequence[str] = (),
    where: str | None = None,
    batch_size: int = 1000,
    checkpoint: str | None = None,
    progress: bool | None = None,
) -> BatchResult:
    """Run `statement` once per row (one executemany per batch): for values computed in Python.

    `params(row)` gives the statement's parameters for a row (key first, then `columns`),
    or None to skip the row. When the new value is an SQL expression, `backfill` is faster.
    """

    async def batches(after: Any) -> AsyncIterator[tuple[Any, int, Callable[[], Awaitable[None]]]]:
        async for rows in keyset_batches(
            db, table, key=key, columns=columns, where=where, batch_size=batch_size, after=after
        ):
            values = [p for p in (params(row) for row in rows) if p is not None]

            async def update(values: list[Sequence[Any]] = values) -> None:
                if values:
                    await db.executemany(statement, values)

            yield rows[-1][0], len(rows), update

    job = checkpoint or f"{table}:{statement}"
    return await _drive(db, table, key, where, job, batches, progress)


Batches = Callable[[Any], AsyncIterator[tuple[Any, int, Callable[[], Awaitable[None]]]]]


async def _drive(
    db: Database, table: str, key: str, where: str | None, job: str, batches: Batches, progress: bool | None
) -> BatchResult:
    """Run the batches with progress. Outside a transaction (a `transactional = False`
    migration) each batch commits with its checkpoint, so an interrupted run resumes after
    the last finished batch; `job` names the checkpoint."""
    started = time.perf_counter()
    resumable = not db.in_transaction
    checkpoint = _Checkpoint(db, job) if resumable else None
    after = None
    if checkpoint is not None:
        after, done = await checkpoint.load()
        if done:
            logger.info("skipping %s: it finished in an earlier run of this migration", job)
            return BatchResult(0, 0, after, time.perf_counter() - started)
    total = await _count(db, table, key, where, after)
    bar = RowBar(total, table, progress)
    rows_done = count = 0
    try:
        async for last_key, rows, update in batches(after):
            if checkpoint is not None:
                async with db.transaction():
                    await update()
                    await checkpoint.save(last_key, rows)
            else:
                await update()
            rows_done += rows
            count += 1
            bar.update(rows, rows_done)
    finally:
        bar.close()
    if checkpoint is not None:
        await checkpoint.finish()
    return BatchResult(rows_done, count, after, time.perf_counter() - started)


async def _count(db: Database, table: str, key: str, where: str | None, after: Any) -> int:
    condition = f" AND ({where})" if where else ""
    if after is None:
        return int(await db.fetch_val(f"SELECT count(*) FROM {table} WHERE 1 = 1{condition}") or 0)
    sql = db.backend.native_sql(f"SELECT count(*) FROM {table} WHERE {key} > ?{condition}")
    return int(await db.fetch_val(sql, (after,)) or 0)


# Added since the first release: the migration a job belongs to, and whether it finished.
_CHECKPOINT_COLUMNS = {"version": "TEXT", "done": "INTEGER NOT NULL DEFAULT 0"}


class _Checkpoint:
    """One job's resume point in `_migrations_batches`, keyed by the migration that runs it."""

    def __init__(self, db: Database, job: str) -> None:
        self.db = db
        self.version = db.step_version  # None outside a migration run
        self.key = f"{self.version}:{job}" if self.version is not None else job
        self.job = job
        self.last: Any = None  # the key of the last batch saved

    async def load(self) -> tuple[Any, bool]:
        """(the last finished batch's key or None, whether the whole job finished)."""
        backend = self.db.backend
        if not await backend.has_table(CHECKPOINTS):
            return None, False
        await self._upgrade()
        sql = backend.native_sql(f"SELECT last_key, rows_done, done FROM {CHECKPOINTS} WHERE job = ?")
        row = await self.db.fetch_one(sql, (self.key,))
        if row is None:
            return None, False
        if not row[2]:
            logger.info("resuming %s after key %s (%s rows already done)", self.job, row[0], row[1])
        self.last = json.loads(row[0])
        return self.last, bool(row[2])

    async def save(self, last_key: Any, rows: int, *, done: bool = False) -> None:
        """Inside the batch's transaction: where the next run would resume."""
        backend = self.db.backend
        native = backend.native_sql
        await backend.execute(
            f"CREATE TABLE IF NOT EXISTS {CHECKPOINTS} (job TEXT PRIMARY KEY, last_key TEXT NOT NULL, "
            "rows_done BIGINT NOT NULL, updated_at TEXT NOT NULL, version TEXT, "
            "done INTEGER NOT NULL DEFAULT 0)"
        )
        now = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
        self.last = last_key
        changed = await backend.execute(
            native(
                f"UPDATE {CHECKPOINTS} SET last_key = ?, rows_done = rows_done + ?, updated_at = ?, "
                "done = ? WHERE job = ?"
            ),
            (json.dumps(last_key), rows, now, int(done), self.key),
        )
        if not changed:
            await backend.execute(
                native(
                    f"INSERT INTO {CHECKPOINTS} (job, last_key, rows_done, updated_at, version, done) "
                    "VALUES (?, ?, ?, ?, ?, ?)"
                ),
                (self.key, json.dumps(last_key), rows, now, self.version, int(done)),
            )

    async def finish(self) -> None:
        """The job is done: inside a migration, mark it (the runner clears it with the ledger row)."""
        backend = self.db.backend
        if self.version is None:
            if await backend.has_table(CHECKPOINTS):
                delete = backend.native_sql(f"DELETE FROM {CHECKPOINTS} WHERE job = ?")
                await backend.execute(delete, (self.key,))
            return
        async with self.db.transaction():
            await self.save(self.last, 0, done=True)

    async def _upgrade(self) -> None:
        """Add the columns an older nbmigrate's checkpoint table lacks."""
        backend = self.db.backend
        have = {c.name for c in (await backend.describe(CHECKPOINTS)).columns}
        for column, ddl in _CHECKPOINT_COLUMNS.items():
            if column not in have:
                await backend.execute(f"ALTER TABLE {CHECKPOINTS} ADD COLUMN {column} {ddl}")


def _check_identifier(name: str) -> None:
    if not _IDENTIFIER.match(name):
        raise ConfigError(f"not a plain table or column name: {name!r}")
