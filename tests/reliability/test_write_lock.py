"""A SQLite write lock held by another connection: waited for up to the lock timeout, then one line.

The other connection is a real sqlite3 connection in this process (as `sqlite3 app.db` with
`BEGIN IMMEDIATE` open would be); what the database holds afterwards is read with sqlite3.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import pytest
from nbclient.exceptions import CellExecutionError
from nbformat.v4 import new_code_cell, new_notebook

from nbmigrate import Database, MigrationManager
from nbmigrate.errors import DatabaseLocked
from nbmigrate.model import Progress
from tests.conftest import run_cli, sql_migration

FIRST = ("001", "first", "CREATE TABLE first (id INTEGER);", "DROP TABLE first;")
SECOND = ("002", "second", "CREATE TABLE second (id INTEGER);", "DROP TABLE second;")


@contextmanager
def write_lock(path: Path, begin: str = "BEGIN IMMEDIATE") -> Iterator[sqlite3.Connection]:
    """Another connection holding a write lock (or, with `BEGIN` and a read, a read lock)."""
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute(begin)
        yield other
    finally:
        other.close()


def schema(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every table and, for the ledger, its rows: read with sqlite3, not nbmigrate."""
    with closing(sqlite3.connect(path)) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        found: dict[str, list[tuple[Any, ...]]] = {n: [] for n in names if not n.startswith("sqlite_")}
        if "_migrations" in found:
            found["_migrations"] = list(conn.execute("SELECT version, status FROM _migrations"))
        return found


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


@pytest.fixture
def project(tmp_path: Path) -> tuple[Path, Path]:
    """A database with 001 applied and 002 pending."""
    directory = tmp_path / "migrations"
    directory.mkdir()
    sql_migration(directory, *FIRST)
    db = tmp_path / "app.db"
    done = run_cli("--db", f"sqlite:///{db}", "--dir", str(directory), "up")
    assert done.returncode == 0, done.stderr
    sql_migration(directory, *SECOND)
    return db, directory


def test_up_waits_the_lock_timeout_not_sqlites_30_seconds_then_says_who_blocks(
    project: tuple[Path, Path],
) -> None:
    db, directory = project
    before = schema(db)
    with write_lock(db):
        started = time.monotonic()
        done = run_cli("--db", f"sqlite:///{db}", "--dir", str(directory), "up", "--lock-timeout", "2")
        took = time.monotonic() - started
    assert done.returncode == 1, done.stderr
    line = one_line(done.stderr)
    assert line.startswith(f"error: another connection holds a write lock on {db}"), line
    assert "gave up after waiting 2.0s" in line and "raise --lock-timeout" in line
    assert "unexpected" not in line and "Traceback" not in done.stderr
    assert 1.9 <= took < 8, took
    assert schema(db) == before  # no `second` table, 002 not recorded
    assert schema(db)["_migrations"] == [("001", "applied")]


@pytest.mark.parametrize("command", [["mark", "002"], ["down", "--no-backup"], ["reset", "--yes"]])
def test_every_changing_command_waits_the_lock_timeout(
    project: tuple[Path, Path], command: list[str]
) -> None:
    db, directory = project
    before = schema(db)
    with write_lock(db):
        started = time.monotonic()
        done = run_cli("--db", f"sqlite:///{db}", "--dir", str(directory), *command, "--lock-timeout", "1")
        took = time.monotonic() - started
    assert done.returncode == 1, done.stderr
    assert f"another connection holds a write lock on {db}" in one_line(done.stderr)
    assert took < 7, took
    assert schema(db) == before


def test_a_new_database_file_is_left_without_a_ledger(tmp_path: Path) -> None:
    """Blocked while creating the ledger at the start of the run: nothing is created."""
    directory = tmp_path / "migrations"
    directory.mkdir()
    sql_migration(directory, *FIRST)
    db = tmp_path / "fresh.db"
    with write_lock(db):
        done = run_cli("--db", f"sqlite:///{db}", "--dir", str(directory), "up", "--lock-timeout", "1")
    assert done.returncode == 1
    assert f"another connection holds a write lock on {db}" in one_line(done.stderr)
    assert schema(db) == {}


def _up_with_lock_taken_at_start(db: Path, directory: Path, begin: str, read: bool) -> DatabaseLocked:
    """`up` in this process; the other connection takes its lock when the step starts."""
    other = sqlite3.connect(db, isolation_level=None)

    def take_the_lock(p: Progress) -> None:  # after the ledger is ensured, before the step's BEGIN
        if p.phase == "start":
            other.execute(begin)
            if read:
                other.execute("SELECT count(*) FROM _migrations").fetchall()

    async def main() -> None:
        database = await Database(f"sqlite:///{db}").connect()
        try:
            manager = MigrationManager(
                database, directory, on_progress=take_the_lock, backups=False, lock_timeout=0.5
            )
            await manager.up()
        finally:
            await database.disconnect()

    try:
        with pytest.raises(DatabaseLocked) as info:
            asyncio.run(main())
    finally:
        other.close()
    return info.value


def test_at_a_steps_begin_the_error_names_the_migration(project: tuple[Path, Path]) -> None:
    db, directory = project
    before = schema(db)
    error = _up_with_lock_taken_at_start(db, directory, "BEGIN IMMEDIATE", read=False)
    assert not error.at_commit and error.path == str(db)
    assert str(error).startswith(
        "migration 002 (migration_002_second.sql) failed during up, nothing of it was kept: "
        f"another connection holds a write lock on {db}"
    ), error
    assert 0.4 < error.waited < 5
    assert schema(db) == before


def test_at_a_steps_commit_a_reader_is_named_and_nothing_is_kept(project: tuple[Path, Path]) -> None:
    """A read transaction left open lets BEGIN IMMEDIATE through but stops the COMMIT."""
    db, directory = project
    before = schema(db)
    error = _up_with_lock_taken_at_start(db, directory, "BEGIN", read=True)
    assert error.at_commit
    assert str(error).startswith("migration 002 (migration_002_second.sql) failed during up"), error
    assert f"a read transaction open on {db}, so the commit could not finish" in str(error)
    assert "\n" not in str(error)
    assert schema(db) == before


# -- the notebook -----------------------------------------------------------------------


@pytest.fixture
def shell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A plain InteractiveShell with nbmigrate loaded, as tests/test_magics.py drives it."""
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    for key in [k for k in os.environ if k.startswith("NBMIGRATE_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / ".ipython"))
    monkeypatch.chdir(tmp_path)
    InteractiveShell.clear_instance()
    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    sh = InteractiveShell.instance(config=config)
    sh.run_line_magic("load_ext", "nbmigrate")
    yield sh
    sh.run_line_magic("unload_ext", "nbmigrate")
    InteractiveShell.clear_instance()


def test_magic_fails_the_cell_with_the_one_line(shell: Any, tmp_path: Path) -> None:
    from nbmigrate.notebook import magics

    directory = tmp_path / "migrations"
    directory.mkdir()
    sql_migration(directory, *FIRST)
    db = tmp_path / "nb.db"
    shell.run_line_magic("migrate", f"connect sqlite:///{db} --dir {directory}")
    with write_lock(db):
        started = time.monotonic()
        result = shell.run_cell("%migrate up --lock-timeout 2")
        took = time.monotonic() - started
    failure = result.error_in_exec
    assert isinstance(failure, magics.CellFailure), failure
    assert isinstance(failure.error, DatabaseLocked)
    rendered = failure._render_traceback_()
    assert len(rendered) == 1
    assert rendered[0].startswith(f"DatabaseLocked: another connection holds a write lock on {db}")
    assert 1.9 <= took < 8
    assert schema(db) == {}
    # The lock gone, the same session applies it.
    assert shell.run_line_magic("migrate", "up").rows[0]["outcome"] == "applied"
    assert schema(db)["_migrations"] == [("001", "applied")]


@pytest.mark.timeout(180)
def test_in_a_real_kernel_the_cell_fails_short_and_run_all_stops(tmp_path: Path) -> None:
    from tests.test_kernel import client_for, kernel_env

    directory = tmp_path / "migrations"  # kernel_env points the kernel here and at kernel.db
    directory.mkdir()
    sql_migration(directory, *FIRST)
    db = tmp_path / "kernel.db"
    nb = new_notebook(
        cells=[new_code_cell(s) for s in ("%load_ext nbmigrate", "%migrate up --lock-timeout 2", "print(1)")]
    )
    with write_lock(db):
        started = time.monotonic()
        with pytest.raises(CellExecutionError):
            client_for(nb, tmp_path).execute(env=kernel_env(tmp_path))
        took = time.monotonic() - started
    errors = [o for o in nb.cells[1].outputs if o.output_type == "error"]
    assert len(errors) == 1
    assert errors[0].traceback == [errors[0].traceback[0]]
    assert errors[0].traceback[0].startswith(f"DatabaseLocked: another connection holds a write lock on {db}")
    assert not nb.cells[2].outputs  # Run All stopped
    assert took < 60
    assert schema(db) == {}
