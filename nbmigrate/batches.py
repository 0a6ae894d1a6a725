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
row is updated twice.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .database import Database
from .errors import ConfigError
from .ledger import CHECKPOINTS

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
    after = await _load_checkpoint(db, job) if resumable else None
    total = await _count(db, table, key, where, after)
    bar = _progress(total, table, progress)
    rows_done = count = 0
    try:
        async for last_key, rows, update in batches(after):
            if resumable:
                async with db.transaction():
                    await update()
                    await _save_checkpoint(db, job, last_key, rows)
            else:
                await update()
            rows_done += rows
            count += 1
            bar(rows, rows_done)
    finally:
        bar(0, -1)
    if resumable:
        await _clear_checkpoint(db, job)
    return BatchResult(rows_done, count, after, time.perf_counter() - started)


async def _count(db: Database, table: str, key: str, where: str | None, after: Any) -> int:
    condition = f" AND ({where})" if where else ""
    if after is None:
        return int(await db.fetch_val(f"SELECT count(*) FROM {table} WHERE 1 = 1{condition}") or 0)
    sql = db.backend.native_sql(f"SELECT count(*) FROM {table} WHERE {key} > ?{condition}")
    return int(await db.fetch_val(sql, (after,)) or 0)


async def _ensure_checkpoints(db: Database) -> None:
    await db.backend.execute(
        f"CREATE TABLE IF NOT EXISTS {CHECKPOINTS} (job TEXT PRIMARY KEY, last_key TEXT NOT NULL, "
        "rows_done BIGINT NOT NULL, updated_at TEXT NOT NULL)"
    )


async def _load_checkpoint(db: Database, job: str) -> Any:
    if not await db.backend.has_table(CHECKPOINTS):
        return None
    sql = db.backend.native_sql(f"SELECT last_key, rows_done FROM {CHECKPOINTS} WHERE job = ?")
    row = await db.fetch_one(sql, (job,))
    if row is None:
        return None
    logger.info("resuming %s after key %s (%s rows already done)", job, row[0], row[1])
    return json.loads(row[0])


async def _save_checkpoint(db: Database, job: str, last_key: Any, rows: int) -> None:
    await _ensure_checkpoints(db)
    native = db.backend.native_sql
    now = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
    changed = await db.backend.execute(
        native(
            f"UPDATE {CHECKPOINTS} SET last_key = ?, rows_done = rows_done + ?, updated_at = ? WHERE job = ?"
        ),
        (json.dumps(last_key), rows, now, job),
    )
    if not changed:
        await db.backend.execute(
            native(f"INSERT INTO {CHECKPOINTS} (job, last_key, rows_done, updated_at) VALUES (?, ?, ?, ?)"),
            (job, json.dumps(last_key), rows, now),
        )


async def _clear_checkpoint(db: Database, job: str) -> None:
    if await db.backend.has_table(CHECKPOINTS):
        await db.backend.execute(db.backend.native_sql(f"DELETE FROM {CHECKPOINTS} WHERE job = ?"), (job,))


def _progress(total: int, label: str, enabled: bool | None) -> Callable[[int, int], None]:
    """A tqdm bar on a terminal or in a notebook; a log line per ~10% otherwise."""
    if enabled is None:
        enabled = sys.stderr.isatty() or "ipykernel" in sys.modules
    if enabled:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, unit="row", desc=label, leave=False)

        def update(step: int, done: int) -> None:
            if done < 0:
                bar.close()
            else:
                bar.update(step)

        return update
    every = max(total // 10, 1)
    next_report = [every]

    def log(step: int, done: int) -> None:
        if done >= next_report[0]:
            logger.info("%s: %d of %d rows", label, done, total)
            next_report[0] = done + every

    return log


def _check_identifier(name: str) -> None:
    if not _IDENTIFIER.match(name):
        raise ConfigError(f"not a plain table or column name: {name!r}")
