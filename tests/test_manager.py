"""The manager's operations and guarantees, in-process, on every backend (real databases)."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any, TypeVar

import pytest

from nbmigrate import MigrationManager, State
from nbmigrate.errors import (
    BlockedByFailure,
    ConfirmationRequired,
    InvalidMigrationSet,
    IrreversibleMigration,
    MigrationFailed,
    OutOfOrderError,
    UnknownVersion,
)
from nbmigrate.model import Migration
from tests.conftest import seed_era_database, sql_migration, write
from tests.conftest import user_tables as tables
from tests.conftest import with_manager as run

T = TypeVar("T")


def states(url: str, directory: Path, **options: Any) -> dict[str, str]:
    async def body(m: MigrationManager) -> dict[str, str]:
        return {row.version: row.state.value for row in (await m.status()).migrations}

    return run(url, directory, body, **options)


def three_tables(directory: Path) -> None:
    for i, name in enumerate(["alpha", "beta", "gamma"], start=1):
        sql_migration(
            directory,
            f"00{i}",
            f"create_{name}",
            f"CREATE TABLE {name} (id INTEGER PRIMARY KEY, label TEXT);\n"
            f"CREATE INDEX ix_{name}_label ON {name} (label);",
            f"DROP INDEX ix_{name}_label;\nDROP TABLE {name};",
        )


def test_up_status_down_round_trip(db_url: str, migrations_dir: Path) -> None:
    three_tables(migrations_dir)
    assert states(db_url, migrations_dir) == {"001": "pending", "002": "pending", "003": "pending"}
    report = run(db_url, migrations_dir, lambda m: m.up())
    assert [(s.version, s.outcome) for s in report.steps] == [
        ("001", "applied"),
        ("002", "applied"),
        ("003", "applied"),
    ]
    assert tables(db_url, migrations_dir) == {"alpha", "beta", "gamma"}
    status = run(db_url, migrations_dir, lambda m: m.status())
    assert all(r.state is State.APPLIED and r.applied_at is not None for r in status.migrations)
    again = run(db_url, migrations_dir, lambda m: m.up())
    assert again.steps == [] and "up to date" in (again.message or "")
    down = run(db_url, migrations_dir, lambda m: m.down())
    assert [(s.version, s.outcome) for s in down.steps] == [("003", "reverted")]
    assert tables(db_url, migrations_dir) == {"alpha", "beta"}
    assert states(db_url, migrations_dir)["003"] == "pending"


def test_up_to_version_and_down_variants(db_url: str, migrations_dir: Path) -> None:
    three_tables(migrations_dir)
    run(db_url, migrations_dir, lambda m: m.up("2"))
    assert tables(db_url, migrations_dir) == {"alpha", "beta"}
    run(db_url, migrations_dir, lambda m: m.up())
    run(db_url, migrations_dir, lambda m: m.down(to="001"))
    assert tables(db_url, migrations_dir) == {"alpha"}
    run(db_url, migrations_dir, lambda m: m.up())
    report = run(db_url, migrations_dir, lambda m: m.down(steps=2))
    assert [s.version for s in report.steps] == ["003", "002"]
    run(db_url, migrations_dir, lambda m: m.up())
    run(db_url, migrations_dir, lambda m: m.down(all=True))
    assert tables(db_url, migrations_dir) == set()
    with pytest.raises(UnknownVersion, match="009"):
        run(db_url, migrations_dir, lambda m: m.up("009"))
    assert run(db_url, migrations_dir, lambda m: m.down()).message == "nothing to revert"


def test_redo_reverts_and_reapplies_the_last(db_url: str, migrations_dir: Path) -> None:
    three_tables(migrations_dir)
    run(db_url, migrations_dir, lambda m: m.up())
    report = run(db_url, migrations_dir, lambda m: m.redo())
    assert [(s.version, s.outcome) for s in report.steps] == [("003", "reverted"), ("003", "applied")]
    assert tables(db_url, migrations_dir) == {"alpha", "beta", "gamma"}


def test_failing_migration_names_version_file_statement_and_leaves_nothing(
    db_url: str, migrations_dir: Path
) -> None:
    three_tables(migrations_dir)
    bad = sql_migration(
        migrations_dir,
        "004",
        "broken",
        "CREATE TABLE half (id INTEGER);\nINSERT INTO no_such_table VALUES (1);\nCREATE TABLE never (id INTEGER);",
        "DROP TABLE half;",
    )
    with pytest.raises(MigrationFailed) as info:
        run(db_url, migrations_dir, lambda m: m.up())
    failure = info.value
    assert failure.version == "004"
    assert failure.path == bad
    assert failure.statement == "INSERT INTO no_such_table VALUES (1)"
    assert "no_such_table" in failure.db_message
    assert "migration_004_broken.sql" in str(failure) and "no_such_table" in str(failure)
    assert tables(db_url, migrations_dir) == {"alpha", "beta", "gamma"}  # earlier ones stay
    assert states(db_url, migrations_dir)["004"] == "pending"  # nothing of it remains
    history = run(db_url, migrations_dir, lambda m: m.history())
    assert (history.events[0].version, history.events[0].outcome) == ("004", "failed")
    assert "no_such_table" in (history.events[0].error or "")


def test_commit_inside_a_migration_does_not_break_atomicity(db_url: str, migrations_dir: Path) -> None:
    write(
        migrations_dir,
        "migration_001_commits_then_fails.py",
        "async def up(db):\n"
        "    await db.execute('CREATE TABLE committed_early (id INTEGER)')\n"
        "    await db.commit()\n"
        "    await db.execute('COMMIT')\n"
        "    raise ValueError('late failure')\n",
    )
    with pytest.raises(MigrationFailed, match="ValueError: late failure") as info:
        run(db_url, migrations_dir, lambda m: m.up())
    assert info.value.statement is None  # a Python error, not a statement's
    assert tables(db_url, migrations_dir) == set()
    assert states(db_url, migrations_dir) == {"001": "pending"}


def test_transaction_statements_in_sql_files_are_absorbed(db_url: str, migrations_dir: Path) -> None:
    sql_migration(
        migrations_dir,
        "001",
        "habits",
        "BEGIN;\nCREATE TABLE t1 (id INTEGER);\nCOMMIT;\nBEGIN TRANSACTION;\nINSERT INTO nope VALUES (1);\nCOMMIT;",
    )
    with pytest.raises(MigrationFailed):
        run(db_url, migrations_dir, lambda m: m.up())
    assert tables(db_url, migrations_dir) == set()


def test_non_transactional_failure_is_recorded_and_blocks_until_recovered(
    db_url: str, migrations_dir: Path
) -> None:
    three_tables(migrations_dir)
    path = sql_migration(
        migrations_dir,
        "004",
        "two_steps",
        "CREATE TABLE step_one (id INTEGER);\nINSERT INTO missing_table VALUES (1);",
        "DROP TABLE IF EXISTS step_one;",
        header="-- nbmigrate: transactional=false\n",
    )
    sql_migration(
        migrations_dir, "005", "after", "CREATE TABLE after_table (id INTEGER);", "DROP TABLE after_table;"
    )
    with pytest.raises(MigrationFailed) as info:
        run(db_url, migrations_dir, lambda m: m.up())
    assert info.value.rolled_back is False and "partly changed" in str(info.value)
    assert "step_one" in tables(db_url, migrations_dir)  # a non-transactional step stays
    status = run(db_url, migrations_dir, lambda m: m.status())
    failed = status.migrations[3]
    assert failed.state is State.FAILED and "missing_table" in (failed.error or "")
    assert failed.statement == "INSERT INTO missing_table VALUES (1)"
    with pytest.raises(BlockedByFailure) as blocked:
        run(db_url, migrations_dir, lambda m: m.up())
    assert "down" in str(blocked.value) and "mark 004" in str(blocked.value)

    # Recovery 1: revert it.
    run(db_url, migrations_dir, lambda m: m.down())
    assert "step_one" not in tables(db_url, migrations_dir)
    assert states(db_url, migrations_dir)["004"] == "pending"

    # Recovery 2: fix the file and run up again.
    with pytest.raises(MigrationFailed):
        run(db_url, migrations_dir, lambda m: m.up())
    path.write_text(
        "-- nbmigrate: transactional=false\n-- up\nCREATE TABLE IF NOT EXISTS step_one (id INTEGER);\n"
        "-- down\nDROP TABLE IF EXISTS step_one;\n"
    )
    run(db_url, migrations_dir, lambda m: m.up())
    assert states(db_url, migrations_dir) == dict.fromkeys(["001", "002", "003", "004", "005"], "applied")

    # Recovery 3: mark it after fixing the database by hand.
    run(db_url, migrations_dir, lambda m: m.down(to="003"))
    path.write_text(
        "-- nbmigrate: transactional=false\n-- up\nINSERT INTO missing_table VALUES (1);\n-- down\n"
    )
    with pytest.raises(MigrationFailed):
        run(db_url, migrations_dir, lambda m: m.up())
    run(db_url, migrations_dir, lambda m: m.mark("004"))
    run(db_url, migrations_dir, lambda m: m.up())
    assert states(db_url, migrations_dir)["005"] == "applied"
    actions = [
        (e.action, e.version, e.outcome) for e in run(db_url, migrations_dir, lambda m: m.history(0)).events
    ]
    assert ("mark", "004", "ok") in actions
    assert ("revert", "004", "ok") in actions
    assert actions.count(("apply", "004", "failed")) == 3


def test_retry_runs_a_failed_migration_again_unchanged(db_url: str, migrations_dir: Path) -> None:
    sql_migration(
        migrations_dir,
        "001",
        "needs_table",
        "INSERT INTO later_table VALUES (1);",
        header="-- nbmigrate: transactional=false\n",
    )
    with pytest.raises(MigrationFailed):
        run(db_url, migrations_dir, lambda m: m.up())

    async def create_then_retry(m: MigrationManager) -> Any:
        await m.db.execute("CREATE TABLE later_table (id INTEGER)")
        return await m.up(retry=True)

    report = run(db_url, migrations_dir, create_then_retry)
    assert [s.version for s in report.steps] == ["001"]
    assert states(db_url, migrations_dir) == {"001": "applied"}


def test_out_of_order_is_applied_and_flagged_strict_refuses(db_url: str, migrations_dir: Path) -> None:
    sql_migration(migrations_dir, "001", "a", "CREATE TABLE a (id INTEGER);", "DROP TABLE a;")
    sql_migration(migrations_dir, "003", "c", "CREATE TABLE c (id INTEGER);", "DROP TABLE c;")
    run(db_url, migrations_dir, lambda m: m.up())
    sql_migration(migrations_dir, "002", "b", "CREATE TABLE b (id INTEGER);", "DROP TABLE b;")
    assert states(db_url, migrations_dir)["002"] == "pending (out of order)"
    with pytest.raises(OutOfOrderError, match="002"):
        run(db_url, migrations_dir, lambda m: m.up(), strict=True)
    report = run(db_url, migrations_dir, lambda m: m.validate(), strict=True)
    assert not report.ok
    run(db_url, migrations_dir, lambda m: m.up())
    assert states(db_url, migrations_dir) == {
        "001": "applied",
        "002": "applied (out of order)",
        "003": "applied",
    }
    history = run(db_url, migrations_dir, lambda m: m.history())
    newest = history.events[0]
    assert (newest.action, newest.version, newest.note) == ("apply", "002", "out of order")


def test_changed_missing_and_repair(db_url: str, migrations_dir: Path) -> None:
    three_tables(migrations_dir)
    run(db_url, migrations_dir, lambda m: m.up())
    first = migrations_dir / "migration_001_create_alpha.sql"
    original = first.read_bytes()
    first.write_bytes(b"\xef\xbb\xbf" + original.replace(b"\n", b"\r\n"))
    assert states(db_url, migrations_dir)["001"] == "applied"  # BOM + CRLF are not a change
    first.write_bytes(original + b"-- a comment\n")
    (migrations_dir / "migration_003_create_gamma.sql").unlink()
    assert states(db_url, migrations_dir) == {"001": "changed", "002": "applied", "003": "missing"}
    report = run(db_url, migrations_dir, lambda m: m.validate())
    assert not report.ok and len(report.problems) == 2
    repaired = run(db_url, migrations_dir, lambda m: m.repair())
    assert [s.version for s in repaired.steps] == ["001"]
    assert states(db_url, migrations_dir)["001"] == "applied"
    with pytest.raises(Exception, match="file is gone"):
        run(db_url, migrations_dir, lambda m: m.down())


def test_mark_and_unmark(db_url: str, migrations_dir: Path) -> None:
    three_tables(migrations_dir)
    run(db_url, migrations_dir, lambda m: m.mark("1"))
    assert states(db_url, migrations_dir)["001"] == "applied"
    assert tables(db_url, migrations_dir) == set()  # recorded, not run
    with pytest.raises(Exception, match="already applied"):
        run(db_url, migrations_dir, lambda m: m.mark("001"))
    run(db_url, migrations_dir, lambda m: m.unmark("001"))
    assert states(db_url, migrations_dir)["001"] == "pending"
    with pytest.raises(UnknownVersion):
        run(db_url, migrations_dir, lambda m: m.unmark("001"))
    with pytest.raises(UnknownVersion):
        run(db_url, migrations_dir, lambda m: m.mark("042"))


def test_dry_run_reports_sql_and_schema_change_and_changes_nothing(db_url: str, migrations_dir: Path) -> None:
    three_tables(migrations_dir)
    run(db_url, migrations_dir, lambda m: m.up("001"))
    sql_migration(
        migrations_dir,
        "004",
        "alter_alpha",
        "ALTER TABLE alpha ADD COLUMN extra TEXT;",
        "ALTER TABLE alpha DROP COLUMN extra;",
    )
    report = run(db_url, migrations_dir, lambda m: m.up(dry_run=True))
    assert report.dry_run and [s.version for s in report.steps] == ["002", "003", "004"]
    assert report.steps[0].statements == [
        "CREATE TABLE beta (id INTEGER PRIMARY KEY, label TEXT)",
        "CREATE INDEX ix_beta_label ON beta (label)",
    ]
    change = report.schema_change
    assert change is not None
    assert change.added_tables == ["beta", "gamma"]
    assert change.changed_tables == {"alpha": ["+ column extra TEXT"]}
    assert tables(db_url, migrations_dir) == {"alpha"}
    assert states(db_url, migrations_dir)["002"] == "pending"
    down = run(db_url, migrations_dir, lambda m: m.down(dry_run=True))
    assert down.schema_change is not None and down.schema_change.dropped_tables == ["alpha"]
    assert tables(db_url, migrations_dir) == {"alpha"}


def test_atomic_up_is_all_or_nothing(db_url: str, migrations_dir: Path) -> None:
    three_tables(migrations_dir)
    sql_migration(migrations_dir, "004", "bad", "INSERT INTO nowhere VALUES (1);")
    with pytest.raises(MigrationFailed, match="004"):
        run(db_url, migrations_dir, lambda m: m.up(atomic=True))
    assert tables(db_url, migrations_dir) == set()
    (migrations_dir / "migration_004_bad.sql").unlink()
    report = run(db_url, migrations_dir, lambda m: m.up(atomic=True))
    assert len(report.steps) == 3 and tables(db_url, migrations_dir) == {"alpha", "beta", "gamma"}


def test_irreversible_migration_refuses_down(db_url: str, migrations_dir: Path) -> None:
    sql_migration(migrations_dir, "001", "oneway", "CREATE TABLE oneway (id INTEGER);", "")
    run(db_url, migrations_dir, lambda m: m.up())
    with pytest.raises(IrreversibleMigration, match="001"):
        run(db_url, migrations_dir, lambda m: m.down())
    assert tables(db_url, migrations_dir) == {"oneway"}


def test_invalid_set_applies_nothing(db_url: str, migrations_dir: Path) -> None:
    three_tables(migrations_dir)
    write(migrations_dir, "migration_009_broken.py", "async def up(db)\n")
    with pytest.raises(InvalidMigrationSet, match=r"migration_009_broken\.py"):
        run(db_url, migrations_dir, lambda m: m.up())
    assert tables(db_url, migrations_dir) == set()


def test_registered_migrations_run_with_files(db_url: str, migrations_dir: Path) -> None:
    three_tables(migrations_dir)

    class InCode(Migration):
        def __init__(self) -> None:
            super().__init__(version="004", name="in_code", description="registered")

        async def up(self, db):  # type: ignore[no-untyped-def]
            await db.execute("CREATE TABLE in_code (id INTEGER)")

        async def down(self, db):  # type: ignore[no-untyped-def]
            await db.execute("DROP TABLE in_code")

    async def body(m: MigrationManager) -> Any:
        m.register_migration(InCode())
        return await m.up()

    report = run(db_url, migrations_dir, body)
    assert [s.version for s in report.steps] == ["001", "002", "003", "004"]
    assert "in_code" in tables(db_url, migrations_dir)

    class Dup(InCode):
        def __init__(self) -> None:
            Migration.__init__(self, version="002", name="dup")

    async def dup(m: MigrationManager) -> Any:
        m.register_migration(Dup())
        return await m.status()

    with pytest.raises(InvalidMigrationSet, match="duplicate version 002"):
        run(db_url, migrations_dir, dup)


def test_reset_needs_yes_and_drops_everything(db_url: str, migrations_dir: Path) -> None:
    three_tables(migrations_dir)
    run(db_url, migrations_dir, lambda m: m.up())
    with pytest.raises(ConfirmationRequired, match="--yes"):
        run(db_url, migrations_dir, lambda m: m.reset())
    assert tables(db_url, migrations_dir) == {"alpha", "beta", "gamma"}
    report = run(db_url, migrations_dir, lambda m: m.reset(yes=True))
    assert report.message is not None and report.message.startswith("dropped 3 objects: ")
    assert "_migrations" not in report.message  # the ledger's own objects are not the user's
    assert tables(db_url, migrations_dir) == set()
    assert set(states(db_url, migrations_dir).values()) == {"pending"}
    events = run(db_url, migrations_dir, lambda m: m.history()).events
    assert events[0].action == "reset"


def test_history_records_every_action_with_who_and_version(db_url: str, migrations_dir: Path) -> None:
    three_tables(migrations_dir)
    run(db_url, migrations_dir, lambda m: m.up())
    run(db_url, migrations_dir, lambda m: m.down())
    events = run(db_url, migrations_dir, lambda m: m.history()).events
    assert [(e.action, e.version) for e in events] == [
        ("revert", "003"),
        ("apply", "003"),
        ("apply", "002"),
        ("apply", "001"),
    ]
    assert all(e.applied_by and e.nbmigrate_version and e.run_id for e in events)
    assert events[1].run_id == events[2].run_id != events[0].run_id
    assert all(e.duration_ms is not None and e.started_at <= e.finished_at for e in events)  # type: ignore[operator]
    only = run(db_url, migrations_dir, lambda m: m.history(version="3")).events
    assert [e.action for e in only] == ["revert", "apply"]


def test_new_writes_the_next_numbered_valid_file(db_url: str, migrations_dir: Path) -> None:
    three_tables(migrations_dir)
    created = run(db_url, migrations_dir, lambda m: m.new("add_users"))
    assert created.path.name == "migration_004_add_users.sql"
    created = run(db_url, migrations_dir, lambda m: m.new("add_roles", "python"))
    assert created.path.name == "migration_005_add_roles.py"
    # An unfilled SQL template is caught before it can be recorded as applied.
    report = run(db_url, migrations_dir, lambda m: m.validate())
    assert report.problems == [
        "migration_004_add_users.sql: line 2: the up section contains no SQL statement"
    ]
    (migrations_dir / "migration_004_add_users.sql").unlink()
    assert run(db_url, migrations_dir, lambda m: m.validate()).ok
    with pytest.raises(Exception, match="try 'add_more_users'"):
        run(db_url, migrations_dir, lambda m: m.new("Add More Users"))


def test_show_and_schema(db_url: str, migrations_dir: Path) -> None:
    three_tables(migrations_dir)
    run(db_url, migrations_dir, lambda m: m.up())
    shown = run(db_url, migrations_dir, lambda m: m.show("2"))
    assert shown.version == "002" and "CREATE TABLE beta" in shown.text
    schema = run(db_url, migrations_dir, lambda m: m.schema("beta"))
    (beta,) = schema.tables
    assert [c.name for c in beta.columns] == ["id", "label"]
    assert [i.name for i in beta.indexes] == ["ix_beta_label"]
    everything = run(db_url, migrations_dir, lambda m: m.schema())
    assert [t.name for t in everything.tables] == ["alpha", "beta", "gamma"]
    with pytest.raises(Exception, match="no table named 'nope'"):
        run(db_url, migrations_dir, lambda m: m.schema("nope"))


def test_cancelling_a_run_rolls_back_the_migration_in_flight(db_url: str, migrations_dir: Path) -> None:
    three_tables(migrations_dir)
    write(
        migrations_dir,
        "migration_004_slow.py",
        "import asyncio\n"
        "async def up(db):\n"
        "    await db.execute('CREATE TABLE slow (id INTEGER)')\n"
        "    for i in range(100000):\n"
        "        await db.execute(f'INSERT INTO slow VALUES ({i})')\n"
        "        await asyncio.sleep(0)\n",
    )

    async def cancel_mid_way(m: MigrationManager) -> Any:
        task = asyncio.ensure_future(m.up())
        while m.in_flight is None or m.in_flight.version != "004":
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        interruption = m.interruption
        assert interruption is not None and (interruption.version, interruption.outcome) == (
            "004",
            "rolled back",
        )
        assert [s.version for s in interruption.completed] == ["001", "002", "003"]
        # The lock was released: the same manager can run again at once.
        return await m.status()

    status = run(db_url, migrations_dir, cancel_mid_way, lock_timeout=2)
    assert [r.state.value for r in status.migrations] == ["applied", "applied", "applied", "pending"]
    assert "slow" not in tables(db_url, migrations_dir)
    events = run(db_url, migrations_dir, lambda m: m.history()).events
    assert (events[0].version, events[0].outcome) == ("004", "interrupted")


def test_seed_era_ledger_is_adopted_without_losing_rows(tmp_path: Path, migrations_dir: Path) -> None:
    path = seed_era_database(tmp_path / "seed.db")
    url = f"sqlite:///{path}"
    three_tables(migrations_dir)
    status = run(url, migrations_dir, lambda m: m.status())
    assert [r.state.value for r in status.migrations] == ["applied", "pending", "pending"]
    assert status.migrations[0].applied_at is not None
    assert status.migrations[0].applied_at.isoformat().startswith("2024-03-01T10:00:00")
    run(url, migrations_dir, lambda m: m.up())
    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            "SELECT version, name, applied_at, status FROM _migrations ORDER BY version"
        ).fetchall()
    assert rows[0] == ("001", "create_alpha", "2024-03-01 10:00:00", "applied")
    assert [r[0] for r in rows] == ["001", "002", "003"]
    assert states(url, migrations_dir) == {"001": "applied", "002": "applied", "003": "applied"}


def test_event_log_is_append_only(sqlite_url: str, migrations_dir: Path) -> None:
    three_tables(migrations_dir)
    run(sqlite_url, migrations_dir, lambda m: m.up())
    path = sqlite_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("UPDATE _migrations_log SET outcome = 'ok'")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("DELETE FROM _migrations_log")


def test_interrupting_a_non_transactional_migration_records_it_as_failed(
    db_url: str, migrations_dir: Path
) -> None:
    write(
        migrations_dir,
        "migration_001_slow_outside_tx.py",
        "import asyncio\n"
        "transactional = False\n"
        "async def up(db):\n"
        "    await db.execute('CREATE TABLE partial (id INTEGER)')\n"
        "    for i in range(100000):\n"
        "        await db.execute(f'INSERT INTO partial VALUES ({i})')\n"
        "        await asyncio.sleep(0)\n"
        "async def down(db):\n"
        "    await db.execute('DROP TABLE IF EXISTS partial')\n",
    )

    async def cancel_mid_way(m: MigrationManager) -> Any:
        task = asyncio.ensure_future(m.up())
        while m.in_flight is None:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        interruption = m.interruption
        assert interruption is not None and interruption.version == "001"
        assert interruption.outcome == "recorded as failed"
        return await m.status()

    status = run(db_url, migrations_dir, cancel_mid_way, lock_timeout=2)
    (row,) = status.migrations
    assert (row.state, row.error) == (State.FAILED, "interrupted")  # partly applied: never "pending"
    assert "partial" in tables(db_url, migrations_dir)
    with pytest.raises(BlockedByFailure):
        run(db_url, migrations_dir, lambda m: m.up())
    run(db_url, migrations_dir, lambda m: m.down())
    assert tables(db_url, migrations_dir) == set()
