"""The CLI's read-only answers (status, an up with nothing to apply) match the engine's.

`readonly.py` reads a SQLite ledger with the stdlib sqlite3 module; whenever it is not
sure, it hands the command to the engine. These tests compare both answers on real files
in every ledger state, and check each case that must go to the engine does.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from nbmigrate import config, render
from nbmigrate.engine import readonly
from nbmigrate.errors import BlockedByFailure, InvalidMigrationSet
from tests.conftest import run_cli, seed_era_database, sql_migration, with_manager


def settings(url: str, directory: Path, **options: object) -> config.Settings:
    return config.resolve(url, directory, **options)  # type: ignore[arg-type]


def engine_status_text(url: str, directory: Path) -> str:
    async def body(m: object) -> str:
        return render.to_text(await m.status())  # type: ignore[attr-defined]

    return with_manager(url, directory, body)


def engine_up(url: str, directory: Path, **options: object) -> object:
    async def body(m: object) -> object:
        return await m.up(**options)  # type: ignore[attr-defined]

    return with_manager(url, directory, body)


def three(directory: Path) -> None:
    for i, name in enumerate(("alpha", "beta", "gamma"), start=1):
        sql_migration(
            directory, f"00{i}", f"create_{name}", f"CREATE TABLE {name} (id INTEGER);", f"DROP TABLE {name};"
        )


def fail_non_transactional(url: str, directory: Path, version: str) -> None:
    """Add migration VERSION, not transactional, and run `up` into its failure: a `failed` row."""
    sql_migration(
        directory,
        version,
        "broken",
        "CREATE TABLE delta (id INTEGER);\nINSERT INTO no_such_table VALUES (1);",
        "DROP TABLE delta;",
        header="-- nbmigrate: transactional=false\n",
    )
    with pytest.raises(Exception, match="no_such_table"):
        engine_up(url, directory)


def test_status_matches_the_engine_in_every_state(sqlite_url: str, migrations_dir: Path) -> None:
    three(migrations_dir)
    fail_non_transactional(sqlite_url, migrations_dir, "004")
    # 001 changed, 002 gone, 003 applied, 004 failed, 005 pending, 000 out of order.
    (migrations_dir / "migration_001_create_alpha.sql").write_text("-- up\nCREATE TABLE alpha (id TEXT);\n")
    (migrations_dir / "migration_002_create_beta.sql").unlink()
    sql_migration(migrations_dir, "005", "later", "CREATE TABLE later (id INTEGER);")
    sql_migration(migrations_dir, "000", "early", "CREATE TABLE early (id INTEGER);")

    report = readonly.status(settings(sqlite_url, migrations_dir))
    assert report is not None
    assert [(m.version, m.state.value) for m in report.migrations] == [
        ("000", "pending (out of order)"),
        ("001", "changed"),
        ("002", "missing"),
        ("003", "applied"),
        ("004", "failed"),
        ("005", "pending"),
    ]
    assert render.to_text(report) == engine_status_text(sqlite_url, migrations_dir)
    assert render.to_json(report) == run_cli(
        "--db", sqlite_url, "--dir", str(migrations_dir), "status", "--json"
    ).stdout.rstrip("\n")


def test_a_seed_era_ledger_goes_to_the_engine(tmp_path: Path, migrations_dir: Path) -> None:
    path = seed_era_database(tmp_path / "seed.db")
    url = f"sqlite:///{path}"
    three(migrations_dir)
    # The old table is the engine's to read (and `up`'s to adopt first).
    assert readonly.status(settings(url, migrations_dir)) is None
    assert readonly.nothing_to_apply(settings(url, migrations_dir), None) is None
    r = run_cli("--db", url, "--dir", str(migrations_dir), "status")
    assert r.returncode == 0 and r.stdout == engine_status_text(url, migrations_dir) + "\n"
    with sqlite3.connect(path) as conn:  # status read it as it is: nothing adopted
        assert [c[1] for c in conn.execute("PRAGMA table_info(_migrations)")] == [
            "version",
            "name",
            "applied_at",
        ]


def test_status_leaves_a_database_that_does_not_exist_to_the_engine(
    tmp_path: Path, migrations_dir: Path
) -> None:
    three(migrations_dir)
    url = f"sqlite:///{tmp_path / 'new.db'}"
    assert readonly.status(settings(url, migrations_dir)) is None
    assert not (tmp_path / "new.db").exists(), "a read-only look must not create the file"


def test_nothing_to_apply_only_when_every_file_is_applied(sqlite_url: str, migrations_dir: Path) -> None:
    three(migrations_dir)
    s = settings(sqlite_url, migrations_dir)
    assert readonly.nothing_to_apply(s, None) is None  # no file yet
    engine_up(sqlite_url, migrations_dir, target="002")
    assert readonly.nothing_to_apply(s, None) is None  # 003 is pending
    up_to_002 = readonly.nothing_to_apply(s, "002")
    assert up_to_002 is not None and up_to_002.steps == []
    engine_up(sqlite_url, migrations_dir)
    report = readonly.nothing_to_apply(s, None)
    assert report is not None
    engine_report = engine_up(sqlite_url, migrations_dir)
    assert render.to_text(report) == render.to_text(engine_report)  # type: ignore[arg-type]
    assert render.to_json(report) == render.to_json(engine_report)  # type: ignore[arg-type]
    assert readonly.nothing_to_apply(s, "009") is None  # unknown target: the engine names it


def test_a_failed_migration_goes_to_the_engine(sqlite_url: str, migrations_dir: Path) -> None:
    fail_non_transactional(sqlite_url, migrations_dir, "001")
    assert readonly.nothing_to_apply(settings(sqlite_url, migrations_dir), None) is None
    with pytest.raises(BlockedByFailure):
        engine_up(sqlite_url, migrations_dir)
    r = run_cli("--db", sqlite_url, "--dir", str(migrations_dir), "up")
    assert r.returncode == 1 and "001" in r.stderr and "failed" in r.stderr, r.stderr


def test_a_missing_directory_or_a_bad_file_name_is_still_an_error(
    sqlite_url: str, migrations_dir: Path, tmp_path: Path
) -> None:
    three(migrations_dir)
    engine_up(sqlite_url, migrations_dir)
    missing = tmp_path / "no-such-dir"
    assert readonly.nothing_to_apply(settings(sqlite_url, missing), None) is None
    r = run_cli("--db", sqlite_url, "--dir", str(missing), "up")
    assert r.returncode == 2 and "no-such-dir" in r.stderr and "does not exist" in r.stderr, r.stderr
    (migrations_dir / "migration_4_bad.sql").write_text("-- up\nSELECT 1;\n")
    with pytest.raises(InvalidMigrationSet):
        readonly.nothing_to_apply(settings(sqlite_url, migrations_dir), None)
    r = run_cli("--db", sqlite_url, "--dir", str(migrations_dir), "up")
    assert r.returncode == 1 and "migration_4_bad.sql" in r.stderr, r.stderr


def test_a_file_that_is_not_a_database_goes_to_the_engine(tmp_path: Path, migrations_dir: Path) -> None:
    three(migrations_dir)
    path = tmp_path / "notes.db"
    path.write_text("these are notes, not a database\n" * 100)
    url = f"sqlite:///{path}"
    assert readonly.status(settings(url, migrations_dir)) is None
    assert readonly.nothing_to_apply(settings(url, migrations_dir), None) is None
    r = run_cli("--db", url, "--dir", str(migrations_dir), "status")
    assert r.returncode == 1 and "notes.db" in r.stderr, r.stderr
    assert path.read_text().startswith("these are notes"), "nothing written"


def test_a_database_held_by_a_writer_goes_to_the_engine(sqlite_url: str, migrations_dir: Path) -> None:
    three(migrations_dir)
    engine_up(sqlite_url, migrations_dir)
    writer = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), isolation_level=None)
    try:
        writer.execute("BEGIN EXCLUSIVE")  # no reader may look until it ends
        assert readonly.status(settings(sqlite_url, migrations_dir)) is None
        assert readonly.nothing_to_apply(settings(sqlite_url, migrations_dir), None) is None
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert readonly.nothing_to_apply(settings(sqlite_url, migrations_dir), None) is not None


def test_a_wal_database_is_read_at_its_last_commit(sqlite_url: str, migrations_dir: Path) -> None:
    """An application may put its file in WAL mode; a writer's open transaction is not seen."""
    three(migrations_dir)
    engine_up(sqlite_url, migrations_dir)
    writer = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), isolation_level=None)
    try:
        assert writer.execute("PRAGMA journal_mode = WAL").fetchone()[0] == "wal"
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("DELETE FROM _migrations WHERE version = '003'")
        report = readonly.status(settings(sqlite_url, migrations_dir))
        assert report is not None and [m.state.value for m in report.migrations] == ["applied"] * 3
        assert readonly.nothing_to_apply(settings(sqlite_url, migrations_dir), None) is not None
        writer.execute("COMMIT")
    finally:
        writer.close()
    assert readonly.nothing_to_apply(settings(sqlite_url, migrations_dir), None) is None  # 003 pending now
    report = readonly.status(settings(sqlite_url, migrations_dir))
    assert report is not None and report.migrations[-1].state.value == "pending"
