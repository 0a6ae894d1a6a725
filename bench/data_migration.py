"""Backfill benchmark: nbmigrate's batched helpers vs one set-based UPDATE vs the seed's OFFSET loop.

Each contender backfills `verified` on a copy of the same SQLite table of N rows (half
have a phone number) and is checked for the result (every phone row verified once, no
other row touched). Figures are seconds of wall time, median of --repeat runs, in one
process run so the ratios compare like with like.

    .venv/bin/python bench/data_migration.py --rows 1000000
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nbmigrate import Database, connect
from nbmigrate.batches import backfill, update_in_batches

BATCH = 1000


def build(path: Path, rows: int) -> None:
    """The table every contender starts from."""
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE contacts (id INTEGER PRIMARY KEY, phone TEXT, verified INTEGER NOT NULL DEFAULT 0)"
        )
        conn.executemany(
            "INSERT INTO contacts (id, phone) VALUES (?, ?)",
            ((i, f"+44{i}" if i % 2 else None) for i in range(1, rows + 1)),
        )


async def set_based(db: Database) -> None:
    async with db.transaction():
        await db.execute("UPDATE contacts SET verified = verified + 1 WHERE phone IS NOT NULL")


async def backfill_in_migration(db: Database) -> None:
    """As inside a transactional migration: key ranges, one set-based UPDATE each."""
    async with db.transaction():
        await backfill(db, "contacts", "verified = verified + 1", where="phone IS NOT NULL", progress=False)


async def backfill_resumable(db: Database) -> None:
    """As in a `transactional = False` migration: each range commits with its checkpoint."""
    await backfill(
        db, "contacts", "verified = verified + 1", where="phone IS NOT NULL", checkpoint="b", progress=False
    )


async def helper_in_migration(db: Database) -> None:
    """Values computed in Python: one executemany per batch, in the migration's transaction."""
    async with db.transaction():
        await update_in_batches(
            db,
            "contacts",
            "UPDATE contacts SET verified = verified + 1 WHERE id = ?",
            params=lambda row: (row[0],),
            where="phone IS NOT NULL",
            batch_size=BATCH,
            progress=False,
        )


async def seed_offset_loop(db: Database) -> None:
    """The seed README's example: OFFSET pages, one awaited UPDATE per row, one commit."""
    async with db.transaction():
        offset = 0
        while True:
            rows = await db.fetch_all(f"SELECT id FROM contacts LIMIT {BATCH} OFFSET {offset}")
            if not rows:
                break
            for row in rows:
                await db.execute(
                    "UPDATE contacts SET verified = verified + 1 WHERE id = ? AND phone IS NOT NULL",
                    (row[0],),
                )
            offset += BATCH


CONTENDERS: dict[str, Callable[[Database], Awaitable[None]]] = {
    "set-based UPDATE": set_based,
    "backfill (in a migration)": backfill_in_migration,
    "backfill (resumable, commit per batch)": backfill_resumable,
    "update_in_batches (executemany)": helper_in_migration,
    "seed OFFSET loop": seed_offset_loop,
}


async def timed(
    source: Path, work: Path, contender: Callable[[Database], Awaitable[None]], rows: int
) -> float:
    shutil.copyfile(source, work)
    db = await connect(f"sqlite:///{work}")
    try:
        started = time.perf_counter()
        await contender(db)
        elapsed = time.perf_counter() - started
        counts = await db.fetch_all(
            "SELECT verified, count(*) FROM contacts GROUP BY verified ORDER BY verified"
        )
        expected = [(0, rows // 2), (1, rows - rows // 2)]
        if [tuple(r) for r in counts] != expected:
            raise SystemExit(f"{contender.__name__}: wrong result {[tuple(r) for r in counts]}")
        return elapsed
    finally:
        await db.disconnect()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--seed-rows", type=int, default=None, help="rows for the seed loop (default: --rows)"
    )
    args = parser.parse_args()
    seed_rows = args.seed_rows or args.rows
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        sources = {args.rows: folder / f"source_{args.rows}.db"}
        sources.setdefault(seed_rows, folder / f"source_{seed_rows}.db")
        for rows, path in sources.items():
            build(path, rows)
        results: dict[str, list[float]] = {name: [] for name in CONTENDERS}
        for round_ in range(args.repeat):  # interleaved: each round runs every contender once
            for name, contender in CONTENDERS.items():
                if contender is seed_offset_loop and round_ > 0:
                    continue  # minutes at 1,000,000 rows and two orders of magnitude off: once is enough
                rows = seed_rows if contender is seed_offset_loop else args.rows
                results[name].append(asyncio.run(timed(sources[rows], folder / "work.db", contender, rows)))
    base = statistics.median(results["set-based UPDATE"])
    print(
        f"backfill of {args.rows:,} rows (half updated), SQLite, median of {args.repeat} (seed loop: 1 run)"
    )
    print(f"{'contender':<38} {'seconds':>9} {'vs set-based':>13}")
    for name, times in results.items():
        median = statistics.median(times)
        rows = seed_rows if CONTENDERS[name] is seed_offset_loop else args.rows
        note = f"  ({rows:,} rows)" if rows != args.rows else ""
        print(f"{name:<38} {median:>9.3f} {median / base:>12.2f}x{note}")
    helper = statistics.median(results["backfill (in a migration)"])
    verdict = "PASS" if helper <= 2 * base else "MISS"
    print(f"target: backfill within 2x of one set-based UPDATE: {helper / base:.2f}x {verdict}")
    seed = statistics.median(results["seed OFFSET loop"])
    if seed_rows == args.rows:
        print(f"the seed's OFFSET loop is {seed / helper:.0f}x slower than backfill")
    return 0


if __name__ == "__main__":
    sys.exit(main())
