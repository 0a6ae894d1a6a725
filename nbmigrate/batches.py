"""Data migrations over large tables: keyset-paginated batches, executemany, progress, resume.

    from nbmigrate.batches import update_in_batches

    async def up(db):
        await db.execute("ALTER TABLE contacts ADD COLUMN verified BOOLEAN NOT NULL DEFAULT 0")
        await update_in_batches(
            db, "contacts", "UPDATE contacts SET verified = 1 WHERE id = ?",
            params=lambda row: (row["id"],), where="phone IS NOT NULL",
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
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .database import Database
from .errors import ConfigError
from .ledger import CHECKPOINTS

logger = logging.getLogger("nbmigrate.batches")

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")


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
    """Run `statement` once per row (via executemany), batch by batch, with progress.

    `params(row)` gives the statement's parameters for a row, or None to skip the row.
    `checkpoint` names the job for resuming; it defaults to the table and statement, and
    only takes effect outside a transaction (a `transactional = False` migration).
    """
    started = time.perf_counter()
    resumable = not db.in_transaction
    job = checkpoint or f"{table}:{statement}"
    after = await _load_checkpoint(db, job) if resumable else None
    total = await _count(db, table, key, where, after)
    bar = _progress(total, table, progress)
    rows_done = batches = 0
    try:
        async for rows in keyset_batches(
            db, table, key=key, columns=columns, where=where, batch_size=batch_size, after=after
        ):
            values = [p for p in (params(row) for row in rows) if p is not None]
            last_key = rows[-1][0]
            if resumable:
                async with db.transaction():
                    if values:
                        await db.executemany(statement, values)
                    await _save_checkpoint(db, job, last_key, len(rows))
            elif values:
                await db.executemany(statement, values)
            rows_done += len(rows)
            batches += 1
            bar(len(rows), rows_done)
    finally:
        bar(0, -1)
    if resumable:
        await _clear_checkpoint(db, job)
    return BatchResult(rows_done, batches, after, time.perf_counter() - started)


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
