"""Database.transaction's queued closing statements and the backends' execute_batch, on every backend."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from nbmigrate import Database, MigrationManager
from nbmigrate.errors import DatabaseLocked, MigrationFailed, MisuseError
from nbmigrate.model import Progress
from tests.conftest import query, sql_migration, with_db
from tests.conftest import user_tables as tables
from tests.conftest import with_manager as run


def numbers(url: str) -> list[int]:
    return [r[0] for r in query(url, "SELECT n FROM t ORDER BY n")]


def insert(db: Database, n: int) -> tuple[str, tuple[int]]:
    return db.backend.native_sql("INSERT INTO t (n) VALUES (?)"), (n,)


def test_before_commit_runs_with_the_commit_and_rollbacks_drop_it(db_url: str) -> None:
    async def body(db: Database) -> list[int]:
        await db.execute("CREATE TABLE t (n INTEGER)")
        with pytest.raises(MisuseError, match="open transaction"):
            db.before_commit(insert(db, 0))
        async with db.transaction():
            await db.execute(*insert(db, 1))
            db.before_commit(insert(db, 2))
            seen_inside = [r[0] for r in await db.fetch_all("SELECT n FROM t ORDER BY n")]
        assert seen_inside == [1]  # queued statements wait for the commit
        with pytest.raises(ZeroDivisionError):
            async with db.transaction():
                db.before_commit(insert(db, 3))
                raise ZeroDivisionError
        async with db.transaction():
            db.before_commit(insert(db, 4))
            with pytest.raises(ZeroDivisionError):
                async with db.transaction():  # a savepoint: its queued statements go with it
                    db.before_commit(insert(db, 5))
                    raise ZeroDivisionError
            async with db.transaction():
                db.before_commit(insert(db, 6))
        return [r[0] for r in await db.fetch_all("SELECT n FROM t ORDER BY n")]

    assert with_db(db_url, body) == [1, 2, 4, 6]


def test_a_failing_queued_statement_rolls_the_whole_transaction_back(db_url: str) -> None:
    async def body(db: Database) -> None:
        await db.execute("CREATE TABLE t (n INTEGER)")
        with pytest.raises(db.backend.error_types):
            async with db.transaction():
                await db.execute(*insert(db, 1))
                db.before_commit(insert(db, 2), ("INSERT INTO no_such_table VALUES (1)", None))
        assert not db.in_transaction
        async with db.transaction():  # the connection is usable: nothing was left open
            await db.execute(*insert(db, 3))

    with_db(db_url, body)
    assert numbers(db_url) == [3]


def test_execute_batch_runs_in_order_and_stops_at_the_first_failure(db_url: str) -> None:
    async def body(db: Database) -> None:
        await db.backend.execute_batch([("CREATE TABLE t (n INTEGER)", None), insert(db, 1), insert(db, 2)])
        with pytest.raises(db.backend.error_types):
            await db.backend.execute_batch(
                [insert(db, 3), ("INSERT INTO nowhere VALUES (1)", None), insert(db, 4)]
            )

    with_db(db_url, body)
    assert numbers(db_url) == [1, 2, 3]  # autocommit: each ran on its own; 4 never ran


def test_a_ledger_write_that_fails_takes_the_migration_with_it(sqlite_url: str, migrations_dir: Path) -> None:
    """The ledger row and log event are queued for the commit; if they fail, the DDL is undone too."""
    sql_migration(migrations_dir, "001", "first", "CREATE TABLE first (id INTEGER);", "DROP TABLE first;")
    run(sqlite_url, migrations_dir, lambda m: m.up())
    refuse = (
        "CREATE TRIGGER refuse BEFORE INSERT ON _migrations WHEN NEW.status = 'applied' "
        "BEGIN SELECT RAISE(ABORT, 'ledger refuses'); END"
    )
    run(sqlite_url, migrations_dir, lambda m: m.db.execute(refuse))
    sql_migration(migrations_dir, "002", "second", "CREATE TABLE second (id INTEGER);", "DROP TABLE second;")
    with pytest.raises(MigrationFailed) as info:
        run(sqlite_url, migrations_dir, lambda m: m.up())
    assert info.value.version == "002"
    assert "its transaction failed (begin, ledger or commit): ledger refuses" in str(info.value)
    assert "rolled back" in str(info.value)
    assert tables(sqlite_url, migrations_dir) == {"first"}
    assert query(sqlite_url, "SELECT version, status FROM _migrations") == [("001", "applied")]
    last = query(sqlite_url, "SELECT version, outcome FROM _migrations_log ORDER BY id DESC LIMIT 1")
    assert last == [("002", "failed")]


def test_a_write_lock_held_past_the_busy_timeout_names_the_migration(
    sqlite_url: str, migrations_dir: Path
) -> None:
    """BEGIN itself can fail: the error still names the migration, and nothing of it is kept."""
    sql_migration(migrations_dir, "001", "first", "CREATE TABLE first (id INTEGER);", "DROP TABLE first;")
    path = sqlite_url[len("sqlite:///") :]
    other = sqlite3.connect(path, isolation_level=None)

    def hold_the_write_lock(p: Progress) -> None:  # after the ledger exists, before the step begins
        if p.phase == "start":
            other.execute("BEGIN IMMEDIATE")

    async def main() -> None:
        db = Database(sqlite_url)
        await db.connect()
        try:
            await MigrationManager(
                db, migrations_dir, on_progress=hold_the_write_lock, backups=False, lock_timeout=0.2
            ).up()
        finally:
            await db.disconnect()

    try:
        with pytest.raises(DatabaseLocked) as info:  # SQLite's busy wait is the lock timeout
            asyncio.run(main())
    finally:
        other.close()
    assert str(info.value).startswith(
        "migration 001 (migration_001_first.sql) failed during up, nothing of it was kept: "
        "another connection holds a write lock on"
    )
    assert tables(sqlite_url, migrations_dir) == set()
    assert query(sqlite_url, "SELECT version FROM _migrations") == []
