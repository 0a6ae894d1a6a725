"""Several `python -m nbmigrate up` processes at once: each migration applied exactly once, in order.

And the migration lock: a waiting run times out with a message naming the holder, and a
holder killed with SIGKILL leaves no lock behind. Real processes, real databases.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, child_env, query, run_cli, sql_migration, write

PROCESSES = 6
MIGRATIONS = 40


def explain(r: subprocess.CompletedProcess[str]) -> str:
    return f"exit {r.returncode}\n--- stdout\n{r.stdout}\n--- stderr\n{r.stderr}"


def start(url: str, directory: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """`python -m nbmigrate --db URL --dir DIR ARGS` in the background."""
    full_env = child_env()
    full_env["PYTHONPATH"] = str(ROOT)
    full_env.update(env or {})
    return subprocess.Popen(
        [sys.executable, "-m", "nbmigrate", "--db", url, "--dir", str(directory), *args],
        cwd=directory.parent,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen[str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"process {proc.pid} did not finish in {timeout}s:\n{out}\n{err}")
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


# -- the migration set ----------------------------------------------------------------

SLOW_PY = '''\
"""Takes a moment, so that the runs of several processes overlap."""
import asyncio


async def up(db):
    await db.execute("CREATE TABLE t{v} (id INTEGER)")
    await asyncio.sleep(0.02)
    await db.execute("INSERT INTO applied_log (version) VALUES ('{v}')")


async def down(db):
    await db.execute("DROP TABLE t{v}")
'''


def shared_log_set(directory: Path, url: str, count: int = MIGRATIONS) -> None:
    """001 creates `applied_log`; every migration adds one row with its version (odd: .sql, even: .py)."""
    serial = "INTEGER PRIMARY KEY AUTOINCREMENT" if url.startswith("sqlite:") else "BIGSERIAL PRIMARY KEY"
    sql_migration(
        directory,
        "001",
        "applied_log",
        f"CREATE TABLE applied_log (id {serial}, version TEXT NOT NULL);\n"
        "INSERT INTO applied_log (version) VALUES ('001');",
        "DROP TABLE applied_log;",
    )
    for i in range(2, count + 1):
        v = f"{i:03d}"
        if i % 2:
            sql_migration(
                directory,
                v,
                f"step_{v}",
                f"CREATE TABLE t{v} (id INTEGER);\nINSERT INTO applied_log (version) VALUES ('{v}');",
                f"DROP TABLE t{v};",
            )
        else:
            write(directory, f"migration_{v}_step_{v}.py", SLOW_PY.format(v=v))


def test_many_processes_apply_each_migration_exactly_once(db_url: str, migrations_dir: Path) -> None:
    shared_log_set(migrations_dir, db_url)
    procs = [start(db_url, migrations_dir, "up", "--json", "--lock-timeout", "120") for _ in range(PROCESSES)]
    results = [finish(p) for p in procs]

    applied_by_process = []
    for r in results:
        assert r.returncode == 0, explain(r)
        assert "Traceback" not in r.stderr, explain(r)
        applied_by_process.append([s["version"] for s in json.loads(r.stdout)["steps"]])
    expected = [f"{i:03d}" for i in range(1, MIGRATIONS + 1)]
    every_step = sorted(v for steps in applied_by_process for v in steps)
    assert every_step == expected, applied_by_process  # each applied by exactly one process
    for steps in applied_by_process:
        assert steps == sorted(steps)  # and each process went in version order

    assert [r[0] for r in query(db_url, "SELECT version FROM applied_log ORDER BY id")] == expected
    assert query(db_url, "SELECT count(*) FROM _migrations") == [(MIGRATIONS,)]
    assert sorted(r[0] for r in query(db_url, "SELECT version FROM _migrations")) == expected
    applies = query(db_url, "SELECT version FROM _migrations_log WHERE action = 'apply' AND outcome = 'ok'")
    assert sorted(r[0] for r in applies) == expected


# -- the lock -------------------------------------------------------------------------

WAITING_PY = '''\
"""Holds the migration lock until the test creates the release file (at most a minute)."""
import asyncio
import os
import time
from pathlib import Path


async def up(db):
    await db.execute("CREATE TABLE held (id INTEGER)")
    Path(os.environ["NBM_TEST_STARTED"]).touch()
    deadline = time.monotonic() + 60
    while not Path(os.environ["NBM_TEST_RELEASE"]).exists() and time.monotonic() < deadline:
        await asyncio.sleep(0.02)


async def down(db):
    await db.execute("DROP TABLE held")
'''


def start_holder(url: str, directory: Path, tmp_path: Path) -> tuple[subprocess.Popen[str], Path]:
    """Start an `up` whose migration 002 holds the lock until `release` exists; return it and that path."""
    started, release = tmp_path / "started", tmp_path / "release"
    env = {"NBM_TEST_STARTED": str(started), "NBM_TEST_RELEASE": str(release)}
    holder = start(url, directory, "up", env=env)
    deadline = time.monotonic() + 60
    while not started.exists():
        if holder.poll() is not None:
            pytest.fail(f"the holder ended early:\n{explain(finish(holder))}")
        if time.monotonic() > deadline:
            holder.kill()
            pytest.fail("the holder's migration never started")
        time.sleep(0.02)
    return holder, release


def user_tables(url: str) -> set[str]:
    if url.startswith("sqlite:"):
        sql = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    else:
        sql = "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
    return {r[0] for r in query(url, sql) if not r[0].startswith("_migrations")}


def lock_set(directory: Path) -> None:
    sql_migration(directory, "001", "first", "CREATE TABLE first (id INTEGER);", "DROP TABLE first;")
    write(directory, "migration_002_hold.py", WAITING_PY)


def test_lock_timeout_names_the_holder(db_url: str, migrations_dir: Path, tmp_path: Path) -> None:
    lock_set(migrations_dir)
    holder, release = start_holder(db_url, migrations_dir, tmp_path)
    try:
        t0 = time.monotonic()
        waiter = run_cli("--db", db_url, "--dir", str(migrations_dir), "up", "--lock-timeout", "1")
        waited = time.monotonic() - t0
        assert waiter.returncode == 1, explain(waiter)
        assert "Traceback" not in waiter.stderr, explain(waiter)
        assert re.search(rf"\bpid {holder.pid}\b", waiter.stderr), explain(waiter)
        assert "lock" in waiter.stderr.lower()
        assert 1 <= waited < 30
        status = run_cli(
            "--db", db_url, "--dir", str(migrations_dir), "status", "--json"
        )  # reads need no lock
        assert status.returncode == 0, explain(status)
    finally:
        release.touch()
    done = finish(holder)
    assert done.returncode == 0, explain(done)
    assert query(db_url, "SELECT version FROM _migrations ORDER BY version") == [("001",), ("002",)]
    again = run_cli("--db", db_url, "--dir", str(migrations_dir), "up", "--lock-timeout", "1")
    assert again.returncode == 0, explain(again)


def test_holder_killed_with_sigkill_leaves_no_lock(db_url: str, migrations_dir: Path, tmp_path: Path) -> None:
    lock_set(migrations_dir)
    holder, release = start_holder(db_url, migrations_dir, tmp_path)
    holder.send_signal(signal.SIGKILL)
    assert finish(holder).returncode == -signal.SIGKILL
    release.touch()  # the next run's migration 002 goes straight through

    env = {"NBM_TEST_STARTED": str(tmp_path / "started_again"), "NBM_TEST_RELEASE": str(release)}
    t0 = time.monotonic()
    r = run_cli("--db", db_url, "--dir", str(migrations_dir), "up", "--lock-timeout", "30", env=env)
    took = time.monotonic() - t0
    assert r.returncode == 0, explain(r)
    assert took < 15, f"waited {took:.1f}s for a lock whose holder was dead"
    assert query(db_url, "SELECT version FROM _migrations ORDER BY version") == [("001",), ("002",)]
    assert user_tables(db_url) == {"first", "held"}
    assert query(db_url, "SELECT count(*) FROM held") == [(0,)]
