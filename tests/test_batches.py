"""The batched data-migration helper: every row once, keyset order, resume after interruption."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from nbmigrate import MigrationManager, connect
from nbmigrate.batches import backfill, keyset_batches, update_in_batches
from nbmigrate.errors import ConfigError, MigrationFailed
from tests.conftest import write

ROWS = 2_345


async def _filled(url: str) -> Any:
    db = await connect(url)
    await db.execute(
        "CREATE TABLE items (id INTEGER PRIMARY KEY, phone TEXT, touched INTEGER NOT NULL DEFAULT 0)"
    )
    async with db.transaction():
        await db.executemany(
            db.backend.native_sql("INSERT INTO items (id, phone) VALUES (?, ?)"),
            [(i * 3, None if i % 4 == 0 else f"+1{i}") for i in range(1, ROWS + 1)],
        )
    return db


def _touch(db: Any) -> str:
    return db.backend.native_sql("UPDATE items SET touched = touched + 1 WHERE id = ?")


def test_every_matching_row_is_updated_exactly_once(db_url: str) -> None:
    async def main() -> None:
        db = await _filled(db_url)
        result = await update_in_batches(
            db,
            "items",
            _touch(db),
            params=lambda r: (r["id"],),
            where="phone IS NOT NULL",
            batch_size=100,
            progress=False,
        )
        with_phone = ROWS - ROWS // 4
        assert (result.rows, result.batches) == (with_phone, -(-with_phone // 100))
        counts = await db.fetch_all("SELECT touched, count(*) FROM items GROUP BY touched ORDER BY touched")
        assert [tuple(r) for r in counts] == [(0, ROWS // 4), (1, with_phone)]
        await db.disconnect()

    asyncio.run(main())


def test_batches_walk_the_key_in_order_without_gaps(db_url: str) -> None:
    async def main() -> None:
        db = await _filled(db_url)
        seen: list[int] = []
        async for rows in keyset_batches(db, "items", columns=["phone"], batch_size=500):
            assert len(rows) <= 500
            seen += [r[0] for r in rows]
        assert seen == [i * 3 for i in range(1, ROWS + 1)]
        with pytest.raises(ConfigError, match="not a plain table"):
            async for _ in keyset_batches(db, "items; DROP TABLE items"):
                pass
        await db.disconnect()

    asyncio.run(main())


def test_interrupted_run_resumes_after_the_last_finished_batch(db_url: str) -> None:
    async def main() -> None:
        db = await _filled(db_url)
        calls = 0

        def touch_all(params: Any) -> Any:
            """The same resumable job each time; only how a row's parameters are made differs."""
            return update_in_batches(
                db, "items", _touch(db), params=params, batch_size=100, checkpoint="touch", progress=False
            )

        def failing_params(row: Any) -> tuple[int]:
            nonlocal calls
            calls += 1
            if calls == 1_050:  # in the 11th batch of 100
                raise RuntimeError("power cut")
            return (row["id"],)

        with pytest.raises(RuntimeError, match="power cut"):
            await touch_all(failing_params)
        assert await db.fetch_val("SELECT count(*) FROM items WHERE touched = 1") == 1_000
        result = await touch_all(lambda r: (r["id"],))
        assert result.resumed_from == 3_000 and result.rows == ROWS - 1_000
        assert await db.fetch_val("SELECT count(*) FROM items WHERE touched = 1") == ROWS
        # Finished jobs leave no checkpoint: running again starts from the beginning.
        again = await touch_all(lambda r: (r["id"],))
        assert again.resumed_from is None and again.rows == ROWS
        await db.disconnect()

    asyncio.run(main())


def test_inside_a_transactional_migration_it_is_all_or_nothing(db_url: str, migrations_dir: Path) -> None:
    write(
        migrations_dir,
        "migration_001_backfill.py",
        "from nbmigrate.batches import update_in_batches\n"
        "async def up(db):\n"
        "    await db.execute('UPDATE items SET phone = NULL WHERE id = 3')\n"
        "    def params(row):\n"
        "        if row['id'] > 6000:\n"
        "            raise ValueError('bad row')\n"
        "        return (row['id'],)\n"
        "    sql = db.backend.native_sql('UPDATE items SET touched = touched + 1 WHERE id = ?')\n"
        "    await update_in_batches(db, 'items', sql, params=params, batch_size=100, progress=False)\n",
    )

    async def main() -> None:
        db = await _filled(db_url)
        with pytest.raises(MigrationFailed, match="bad row"):
            await MigrationManager(db, migrations_dir).up()
        assert await db.fetch_val("SELECT count(*) FROM items WHERE touched > 0") == 0
        assert await db.fetch_val("SELECT count(*) FROM items WHERE phone IS NULL") == ROWS // 4
        assert not await db.backend.has_table("_migrations_batches")
        await db.disconnect()

    asyncio.run(main())


def test_the_example_data_migration_backfills_contacts(sqlite_url: str) -> None:
    root = Path(__file__).resolve().parent.parent

    async def main() -> None:
        db = await connect(sqlite_url)
        manager = MigrationManager(db, root / "migrations")
        await manager.up("003")
        async with db.transaction():
            await db.executemany(
                "INSERT INTO contacts (first_name, phone) VALUES (?, ?)",
                [(f"c{i}", f"+44{i}" if i % 2 else None) for i in range(2_500)],
            )
        await manager.up()
        assert await db.fetch_val("SELECT count(*) FROM contacts WHERE verified") == 1_250
        assert await db.fetch_val("SELECT count(*) FROM contacts WHERE verified AND phone IS NULL") == 0
        await db.disconnect()

    asyncio.run(main())


def test_backfill_updates_each_matching_row_once_by_key_ranges(db_url: str) -> None:
    async def main() -> None:
        db = await _filled(db_url)
        result = await backfill(
            db, "items", "touched = touched + 1", where="phone IS NOT NULL", batch_size=500, progress=False
        )
        with_phone = ROWS - ROWS // 4
        assert (result.rows, result.batches) == (with_phone, -(-with_phone // 500))
        counts = await db.fetch_all("SELECT touched, count(*) FROM items GROUP BY touched ORDER BY touched")
        assert [tuple(r) for r in counts] == [(0, ROWS // 4), (1, with_phone)]
        # Rows outside `where` in the middle of a key range are left alone.
        assert await db.fetch_val("SELECT count(*) FROM items WHERE phone IS NULL AND touched > 0") == 0
        empty = await backfill(db, "items", "touched = 0", where="1 = 0", progress=False)
        assert (empty.rows, empty.batches) == (0, 0)
        await db.disconnect()

    asyncio.run(main())


def test_backfill_resumes_after_an_interruption(db_url: str) -> None:
    async def main() -> None:
        db = await _filled(db_url)
        # Keys are 3, 6, 9 ...: batches of 700 end at 2100, 4200, 6300. The third batch
        # violates NOT NULL, as a crash would stop it: the first two stay committed.
        job: dict[str, Any] = dict(batch_size=700, checkpoint="guarded", progress=False)
        with pytest.raises(Exception, match=r"(?i)not.null|null value"):
            await backfill(db, "items", "touched = CASE WHEN id > 4200 THEN NULL ELSE touched + 1 END", **job)
        done = await db.fetch_val("SELECT count(*) FROM items WHERE touched = 1")
        assert done == 1_400  # two whole batches of 700 committed, the third rolled back
        result = await backfill(db, "items", "touched = touched + 1", **job)
        assert result.resumed_from == 4_200 and result.rows == ROWS - 1_400
        assert await db.fetch_val("SELECT count(*) FROM items WHERE touched = 1") == ROWS
        await db.disconnect()

    asyncio.run(main())
