"""What nbmigrate says happened is what the database shows, at every edge (SPEC 7).

Each test drives the real CLI in a subprocess and then reads the database directly
(sqlite3 / asyncpg), never through nbmigrate: interrupts landing in a step's COMMIT, in code
that blocks the event loop and in a CPU-bound loop; BaseExceptions raised by migrations;
transaction control inside migrations; versions written with other padding; the evidence a
killed non-transactional migration leaves; and random-timed Ctrl-Cs during `up` and `down`.
"""

from __future__ import annotations

import random
import re
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import BACKENDS, query, sql_migration, write

from . import harness
from .figures import record

Url = Callable[[str], str]


def ledger(url: str) -> dict[str, str]:
    """version -> status, read directly; empty before the ledger exists."""
    if "_migrations" not in tables(url, ledger_too=True):
        return {}
    return {str(v): s for v, s in query(url, "SELECT version, status FROM _migrations")}


def tables(url: str, *, ledger_too: bool = False) -> set[str]:
    """The database's tables, read directly; nbmigrate's own left out unless asked for."""
    if url.startswith("sqlite"):
        rows = query(url, "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
    else:
        rows = query(url, "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
    names = {r[0] for r in rows}
    return names if ledger_too else names - {"_migrations", "_migrations_log", "_migrations_batches"}


def cli(url: str, directory: Path, *args: str, **env: str) -> harness.Finished:
    extra = {f"NBMIGRATE_TEST_{k}": v for k, v in env.items()}
    return harness.run("--db", url, "--dir", str(directory), *args, env=extra)


def one_line(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err and "unexpected" not in err, err
    return lines[0]


# -- an interrupt while the COMMIT is in flight -----------------------------------------

# The step's ledger row goes to the database with its COMMIT (one batch); a trigger on the
# ledger (SQLite) or a deferred constraint trigger (PostgreSQL) makes that batch take seconds,
# so a Ctrl-C sent once the migration's own code has returned lands while it runs.
SLOW_COMMIT = '''"""A table, then a ledger whose writes take seconds: the COMMIT is in flight a long while."""

import os
from pathlib import Path

SLOW_SQLITE = """
CREATE TRIGGER slow_ledger AFTER {event} ON _migrations BEGIN
    SELECT count(*) FROM (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 4000000)
                          SELECT x FROM c);
END"""


async def up(db):
    await db.execute("CREATE TABLE committed_late (id INTEGER)")
    await _slow_ledger(db, "INSERT")
    Path(os.environ["NBMIGRATE_TEST_MARKER"]).write_text("committing")


async def down(db):
    await db.execute("DROP TABLE committed_late")
    await _slow_ledger(db, "DELETE")
    Path(os.environ["NBMIGRATE_TEST_MARKER"]).write_text("committing")


async def _slow_ledger(db, event):
    if db.dialect == "sqlite":
        await db.execute("DROP TRIGGER IF EXISTS slow_ledger")
        await db.execute(SLOW_SQLITE.format(event=event))
        return
    await db.execute(
        "CREATE OR REPLACE FUNCTION slow_ledger() RETURNS trigger LANGUAGE plpgsql "
        "AS $$ BEGIN PERFORM pg_sleep(3); RETURN NULL; END $$"
    )
    await db.execute("DROP TRIGGER IF EXISTS slow_ledger ON _migrations")
    await db.execute(
        "CREATE CONSTRAINT TRIGGER slow_ledger AFTER INSERT OR DELETE ON _migrations "
        "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION slow_ledger()"
    )
'''


@pytest.mark.parametrize("backend", BACKENDS)
def test_ctrl_c_during_commit_reports_the_commit(backend: str, make_db_url: Url, tmp_path: Path) -> None:
    url = make_db_url(backend)
    directory = tmp_path / "migrations"
    directory.mkdir()
    write(directory, "migration_001_slow_commit.py", SLOW_COMMIT)
    marker = tmp_path / "marker"

    for command, expected_tables, verb in (
        ("up", {"committed_late"}, "applied"),
        ("down", set(), "reverted"),
    ):
        marker.unlink(missing_ok=True)
        proc = harness.spawn(
            "--db", url, "--dir", str(directory), command, env={"NBMIGRATE_TEST_MARKER": str(marker)}
        )  # fmt: skip
        harness.wait_for_file(marker, proc)
        time.sleep(0.3)  # the migration's code has returned: its COMMIT batch runs now
        assert harness.kill(proc, signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, err
        line = one_line(err)
        assert line == (
            f"interrupted: migration 001 (slow_commit) was {verb} (its COMMIT had been sent); "
            "the run stopped there; the lock is released"
        ), err
        # The database agrees: the COMMIT went through.
        assert tables(url) == expected_tables
        assert ledger(url) == ({"001": "applied"} if command == "up" else {})


# -- interrupts in code that blocks the event loop --------------------------------------

BLOCKING = '''"""Writes, says it is in flight, then blocks the event loop (sleep or a CPU-bound loop)."""

import os
import time
from pathlib import Path

transactional = os.environ.get("NBMIGRATE_TEST_TX", "1") == "1"


async def up(db):
    await db.execute("CREATE TABLE blocked (id INTEGER)")
    await db.execute("INSERT INTO blocked VALUES (1)")
    Path(os.environ["NBMIGRATE_TEST_MARKER"]).write_text("in flight")
    deadline = time.monotonic() + 20
    if os.environ["NBMIGRATE_TEST_MODE"] == "sleep":
        time.sleep(20)
    else:
        n = 0
        while time.monotonic() < deadline:
            n += 1
    await db.execute("INSERT INTO blocked VALUES (2)")


async def down(db):
    await db.execute("DROP TABLE IF EXISTS blocked")
'''


@pytest.mark.parametrize("mode", ["sleep", "cpu"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_one_ctrl_c_stops_a_migration_that_blocks_the_loop(
    backend: str, mode: str, make_db_url: Url, tmp_path: Path
) -> None:
    url = make_db_url(backend)
    directory = tmp_path / "migrations"
    directory.mkdir()
    sql_migration(directory, "001", "first", "CREATE TABLE first (id INTEGER);", "DROP TABLE first;")
    write(directory, "migration_002_blocking.py", BLOCKING)
    proc = harness.up_in_flight(url, directory, tmp_path / "marker", MODE=mode)
    t0 = time.perf_counter()
    assert harness.kill(proc, signal.SIGINT)  # one Ctrl-C, no second
    out, err = proc.communicate(timeout=60)
    stopped_in = time.perf_counter() - t0
    assert proc.returncode == 130, err
    assert one_line(err) == "interrupted: migration 002 (blocking) was rolled back; the lock is released"
    assert "applied 001 first" in out  # what the run did before, shown first
    assert stopped_in < 10, f"took {stopped_in:.1f}s: the blocked loop ignored the interrupt"
    assert ledger(url) == {"001": "applied"} and tables(url) == {"first"}
    record(
        f"truth/blocked-loop/{backend}/{mode}",
        f"one Ctrl-C into a migration blocking the loop ({mode}) on {backend}: stopped in {stopped_in:.2f}s",
        seconds_to_stop=round(stopped_in, 3),
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_ctrl_c_in_a_non_transactional_migration_is_recorded_before_it_is_said(
    backend: str, make_db_url: Url, tmp_path: Path
) -> None:
    url = make_db_url(backend)
    directory = tmp_path / "migrations"
    directory.mkdir()
    write(directory, "migration_001_blocking.py", BLOCKING)
    proc = harness.up_in_flight(url, directory, tmp_path / "marker", MODE="sleep", TX="0")
    assert harness.kill(proc, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert one_line(err) == (
        "interrupted: migration 001 (blocking) is not transactional: recorded as failed, "
        "the database may be partly changed; the lock is released"
    )
    assert ledger(url) == {"001": "failed"}  # the row the message speaks of exists
    assert query(url, "SELECT id FROM blocked") == [(1,)]  # partly applied, as it said


@pytest.mark.parametrize("backend", BACKENDS)
def test_sigterm_stops_cleanly_with_its_own_exit_code(backend: str, make_db_url: Url, tmp_path: Path) -> None:
    url = make_db_url(backend)
    directory = tmp_path / "migrations"
    directory.mkdir()
    write(directory, "migration_001_blocking.py", BLOCKING)
    proc = harness.up_in_flight(url, directory, tmp_path / "marker", MODE="sleep")
    assert harness.kill(proc, signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert one_line(err) == "interrupted: migration 001 (blocking) was rolled back; the lock is released"
    assert ledger(url) == {} and tables(url) == set()


# -- SIGKILL of a non-transactional migration leaves evidence ---------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_killed_non_transactional_migration_shows_as_failed_not_pending(
    backend: str, make_db_url: Url, tmp_path: Path
) -> None:
    url = make_db_url(backend)
    directory = tmp_path / "migrations"
    directory.mkdir()
    write(directory, "migration_001_blocking.py", BLOCKING)
    proc = harness.up_in_flight(url, directory, tmp_path / "marker", MODE="sleep", TX="0")
    assert harness.kill(proc, signal.SIGKILL)
    proc.communicate(timeout=60)
    harness.inspect(url)  # waits until the killed client's PostgreSQL session is gone
    assert ledger(url) == {"001": "running"}  # committed before its first statement
    status = cli(url, directory, "status", "--json")
    assert status.returncode == 0, status.stderr
    (row,) = __import__("json").loads(status.stdout)["migrations"]
    assert row["state"] == "failed" and "stopped before it finished" in row["error"]
    refused = cli(url, directory, "up")
    assert refused.returncode == 1 and "001" in refused.stderr and "down" in refused.stderr
    assert ledger(url) == {"001": "running"}


# -- BaseExceptions raised by a migration ------------------------------------------------

RAISES = '''"""Creates a table, then raises whatever NBMIGRATE_TEST_RAISE names."""

import os
import sys

transactional = os.environ.get("NBMIGRATE_TEST_TX", "1") == "1"


class Custom(BaseException):
    pass


async def up(db):
    await db.execute("CREATE TABLE raised (id INTEGER)")
    what = os.environ["NBMIGRATE_TEST_RAISE"]
    if what == "exit":
        sys.exit()
    if what == "exit3":
        sys.exit(3)
    if what == "generator":
        raise GeneratorExit
    if what == "keyboard":
        raise KeyboardInterrupt
    raise Custom("custom trouble")


async def down(db):
    await db.execute("DROP TABLE IF EXISTS raised")
'''


@pytest.mark.parametrize(
    ("what", "named"),
    [
        ("exit", "raised SystemExit"),
        ("exit3", "raised SystemExit(3)"),
        ("generator", "raised GeneratorExit"),
        ("keyboard", "raised KeyboardInterrupt"),
        ("custom", "raised Custom(custom trouble)"),
    ],
)
@pytest.mark.parametrize("transactional", ["1", "0"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_base_exception_fails_the_migration_like_an_exception(
    backend: str, transactional: str, what: str, named: str, make_db_url: Url, tmp_path: Path
) -> None:
    url = make_db_url(backend)
    directory = tmp_path / "migrations"
    directory.mkdir()
    write(directory, "migration_001_raises.py", RAISES)
    done = cli(url, directory, "up", RAISE=what, TX=transactional)
    assert done.returncode == 1, done
    first = done.stderr.strip().splitlines()[0]
    assert first == f"error: migration 001 (migration_001_raises.py) failed during up: {named}", done.stderr
    assert "Traceback" not in done.stderr + done.stdout and "unexpected" not in done.stderr
    if transactional == "1":
        assert ledger(url) == {} and tables(url) == set()
        assert "rolled back; nothing of it was kept" in done.stderr
    else:
        assert ledger(url) == {"001": "failed"} and tables(url) == {"raised"}
        assert "recorded as failed" in done.stderr


# -- transaction control inside migrations ----------------------------------------------


@pytest.mark.parametrize(
    ("backend", "statement"),
    [
        ("sqlite", "ROLLBACK;"),
        ("sqlite", "rollback work;"),
        pytest.param("postgresql", "ROLLBACK;", marks=pytest.mark.postgres),
        pytest.param("postgresql", "ABORT;", marks=pytest.mark.postgres),  # PostgreSQL's other word for it
    ],
)
def test_rollback_in_a_sql_migration_is_refused_before_anything_runs(
    backend: str, statement: str, make_db_url: Url, tmp_path: Path
) -> None:
    url = make_db_url(backend)
    directory = tmp_path / "migrations"
    directory.mkdir()
    sql_migration(directory, "001", "before", "CREATE TABLE before_it (id INTEGER);", "DROP TABLE before_it;")
    sql_migration(
        directory,
        "002",
        "rolls_back",
        f"CREATE TABLE gone (id INTEGER);\n{statement}\nCREATE TABLE kept_after (id INTEGER);",
        "DROP TABLE kept_after; DROP TABLE gone;",
    )
    done = cli(url, directory, "up")
    assert done.returncode == 1, done
    assert "migration_002_rolls_back.sql" in done.stderr and statement.rstrip(";") in done.stderr
    assert "would end the migration's transaction early" in done.stderr
    # Nothing ran: the set was invalid, so not even 001 was applied.
    assert tables(url) == set() and ledger(url) == {}
    checked = cli(url, directory, "validate")
    assert checked.returncode == 1 and "migration_002_rolls_back.sql" in checked.stdout


EXECUTES = '''"""Runs the text of NBMIGRATE_TEST_SQL (several statements) with db.execute, then maybe fails."""

import os


async def up(db):
    await db.execute(os.environ["NBMIGRATE_TEST_SQL"])
    await db.execute("CREATE TABLE after_it (id INTEGER)")
    if os.environ.get("NBMIGRATE_TEST_FAIL") == "1":
        raise RuntimeError("failing after the text ran")


async def down(db):
    await db.execute("DROP TABLE after_it")
    await db.execute("DROP TABLE y")
'''

LONG_COMMIT = "COMMIT /* a long comment after the COMMIT keyword, well over sixty-four characters */"


@pytest.mark.parametrize(
    "text",
    [
        "CREATE TABLE y (x int); COMMIT",
        "CREATE TABLE y (x int); commit; BEGIN",
        f"CREATE TABLE y (x int);\n{LONG_COMMIT}",
        "BEGIN; CREATE TABLE y (x int); END TRANSACTION;",
    ],
)
@pytest.mark.parametrize("backend", BACKENDS)
def test_commit_inside_db_execute_never_splits_the_migration(
    backend: str, text: str, make_db_url: Url, tmp_path: Path
) -> None:
    url = make_db_url(backend)
    directory = tmp_path / "migrations"
    directory.mkdir()
    write(directory, "migration_001_executes.py", EXECUTES)
    failed = cli(url, directory, "up", SQL=text, FAIL="1")
    assert failed.returncode == 1 and "nothing of it was kept" in failed.stderr, failed
    assert tables(url) == set() and ledger(url) == {}  # the COMMIT in the text committed nothing
    done = cli(url, directory, "up", SQL=text)
    assert done.returncode == 0, done.stderr
    assert tables(url) == {"y", "after_it"} and ledger(url) == {"001": "applied"}


@pytest.mark.parametrize("backend", BACKENDS)
def test_rollback_inside_db_execute_is_refused_and_nothing_is_kept(
    backend: str, make_db_url: Url, tmp_path: Path
) -> None:
    url = make_db_url(backend)
    directory = tmp_path / "migrations"
    directory.mkdir()
    write(directory, "migration_001_executes.py", EXECUTES)
    done = cli(url, directory, "up", SQL="CREATE TABLE y (x int); ROLLBACK; CREATE TABLE z (x int)")
    assert done.returncode == 1, done
    assert "'ROLLBACK' would end the migration's transaction early" in done.stderr
    assert "rolled back; nothing of it was kept" in done.stderr
    assert tables(url) == set() and ledger(url) == {}


# -- a version is a number ------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_re_padded_version_is_the_same_migration_everywhere(
    backend: str, make_db_url: Url, tmp_path: Path
) -> None:
    url = make_db_url(backend)
    directory = tmp_path / "migrations"
    directory.mkdir()
    first = sql_migration(directory, "001", "a", "CREATE TABLE a (id INTEGER);", "DROP TABLE a;")
    assert cli(url, directory, "up").returncode == 0
    first.rename(directory / "migration_0001_a.sql")

    assert cli(url, directory, "up").stdout.strip() == "nothing to apply: the database is up to date"
    redo = cli(url, directory, "redo")
    assert redo.returncode == 0, redo.stderr
    assert ledger(url) == {"0001": "applied"} and tables(url) == {"a"}  # one row, not two
    down = cli(url, directory, "down")
    assert down.returncode == 0 and "reverted 0001 a" in down.stdout, down
    assert ledger(url) == {} and tables(url) == set()  # what it said: the row is gone
    assert cli(url, directory, "up").returncode == 0
    assert ledger(url) == {"0001": "applied"}
    for spelling in ("1", "01", "001", "0001"):
        assert cli(url, directory, "unmark", spelling).returncode == 0
        assert ledger(url) == {}
        assert cli(url, directory, "mark", spelling).returncode == 0
        assert ledger(url) == {"0001": "applied"}
    history = cli(url, directory, "history", "1", "--json")
    assert len(__import__("json").loads(history.stdout)["events"]) >= 10


# -- a two-phase batched data migration, killed and resumed ---------------------------------

TWO_PHASE = '''"""Two phases over one table, as the batches docstring recommends; slow enough to be killed."""

import os
import time
from pathlib import Path

from nbmigrate.batches import backfill, update_in_batches

transactional = False


async def up(db):
    marker = Path(os.environ["NBMIGRATE_TEST_MARKER"])

    def bump(row):
        time.sleep(0.0004)  # slow enough for a kill to land in either phase
        return (row["id"],)

    sql = db.backend.native_sql("UPDATE items SET first = first + 1 WHERE id = ?")
    await update_in_batches(db, "items", sql, params=bump, batch_size=50, progress=False, checkpoint="first")
    marker.write_text("phase two")
    await backfill(db, "items", "second = second + 1", batch_size=50, progress=False, checkpoint="second")


async def down(db):
    await db.execute("UPDATE items SET first = 0, second = 0")
'''

ROWS = 2_000


def _items(url: str) -> None:
    harness.execute(
        url, "CREATE TABLE items (id INTEGER PRIMARY KEY, first INTEGER NOT NULL, second INTEGER NOT NULL)"
    )
    harness.execute(
        url,
        "INSERT INTO items (id, first, second) SELECT x, 0, 0 FROM (WITH RECURSIVE c(x) AS "
        f"(SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {ROWS}) SELECT x FROM c) AS n",
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_two_phase_batched_migration_killed_and_resumed_updates_each_row_once(
    backend: str, make_db_url: Url, tmp_path: Path
) -> None:
    trials = harness.count(3, 50)
    rng = random.Random(20261202)
    wrong = 0
    for trial in range(trials):
        url = make_db_url(backend)
        directory = tmp_path / f"migrations_{trial}"
        directory.mkdir()
        write(directory, "migration_001_two_phases.py", TWO_PHASE)
        _items(url)
        marker = tmp_path / f"marker_{trial}"
        # A kill in phase one, phase two, or the moment in between.
        proc = harness.spawn(
            "--db", url, "--dir", str(directory), "up", env={"NBMIGRATE_TEST_MARKER": str(marker)}
        )
        time.sleep(rng.uniform(0.2, 1.8))
        harness.kill(proc, signal.SIGKILL)
        proc.communicate(timeout=60)
        harness.inspect(url)
        retried = cli(url, directory, "up", "--retry", MARKER=str(marker))
        assert retried.returncode == 0, retried.stderr
        counts = query(url, "SELECT first, second, count(*) FROM items GROUP BY first, second")
        if counts != [(1, 1, ROWS)]:
            wrong += 1
        assert ledger(url) == {"001": "applied"}
        assert query(url, "SELECT count(*) FROM _migrations_batches") == [(0,)]  # cleared with its row
    record(
        f"truth/two-phase-kill/{backend}",
        f"two-phase batched migration SIGKILLed and resumed on {backend}: {trials} kills, "
        f"runs with a row updated twice or never: {wrong}",
        trials=trials,
        rows_updated_twice_or_never=wrong,
    )
    assert wrong == 0


# -- random-timed Ctrl-C during up and down ------------------------------------------------

_CLAIM = re.compile(
    r"^interrupted: migration (\d+) \(\w+\) (was rolled back|was applied|was reverted|had not started)"
)
_DONE = re.compile(r"^(applied|reverted) (\d+) ")


def claims_match_database(
    command: str, out: str, err: str, before: set[str], after: set[str], everything: set[str]
) -> list[str]:
    """Every way the CLI's account of an interrupted run disagrees with the ledger read directly."""
    problems = []
    if "after the command finished (it did all it was asked)" in err:
        complete = after == (everything if command == "up" else set())
        return [] if complete else [f"said {command} finished; the ledger shows {sorted(after)}"]
    said_done = {m.group(2) for m in map(_DONE.match, out.splitlines()) if m}
    for version in said_done:
        present = version in after
        if present != (command == "up"):
            problems.append(
                f"said {command} {version} completed, ledger says {'present' if present else 'absent'}"
            )
    claim = next((m for m in map(_CLAIM.match, err.splitlines()) if m), None)
    if claim is not None:
        version, what = claim.group(1), claim.group(2)
        present = version in after
        was_present = version in before
        if what == "was applied" and not present:
            problems.append(f"said {version} was applied; it is not")
        if what == "was reverted" and present:
            problems.append(f"said {version} was reverted; it is still applied")
        if what in ("was rolled back", "had not started") and present != was_present:
            problems.append(f"said {version} {what}; the ledger changed for it")
    # Nothing changed that was not reported.
    changed = before ^ after
    unexplained = changed - said_done - ({claim.group(1)} if claim else set())
    if unexplained:
        problems.append(f"ledger changed for {sorted(unexplained)} without a word")
    return problems


@pytest.mark.parametrize("backend", BACKENDS)
def test_random_ctrl_c_during_up_and_down_is_reported_truly(
    backend: str, make_db_url: Url, tmp_path: Path
) -> None:
    trials = harness.count(6, 150)
    rng = random.Random(7)
    url = make_db_url(backend)
    directory = tmp_path / "migrations"
    expected = harness.write_workload(directory, steps=8, rows=1500, block=0.15)
    disagreements: list[str] = []
    interrupted = 0
    for trial in range(trials):
        command = "up" if trial % 2 == 0 else "down"
        args = ("up",) if command == "up" else ("down", "--all")
        before = set(ledger(url))
        proc = harness.spawn("--db", url, "--dir", str(directory), *args, "--no-backup")
        time.sleep(rng.uniform(0.3, 1.8))  # after the interpreter started: that part is not ours
        sent = harness.kill(proc, signal.SIGINT)
        out, err = proc.communicate(timeout=120)
        after = set(ledger(url))
        assert "Traceback" not in err, err
        if sent and proc.returncode == 130:
            interrupted += 1
            disagreements += [
                f"trial {trial} ({command}): {p}; stdout {out!r}; stderr {err!r}"
                for p in claims_match_database(command, out, err, before, after, set(expected))
            ]
        else:
            assert proc.returncode == 0, err
        snap = harness.inspect(url)
        assert harness.violations(snap, expected) == [], f"trial {trial}"
    record(
        f"truth/random-ctrl-c/{backend}",
        trials=trials,
        interrupted=interrupted,
        disagreements=len(disagreements),
    )
    assert disagreements == []
