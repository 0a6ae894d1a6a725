"""SIGINT (Ctrl-C) during a long migration: exit 130, one line, the migration rolled back, lock free."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import BACKENDS, sql_migration

from . import harness
from .figures import record

SLOW = '''"""Inserts rows, says it is in flight, then runs long: in Python or in one SQL statement."""

import asyncio
import os
from pathlib import Path


async def up(db):
    await db.execute("CREATE TABLE slow_work (id INTEGER PRIMARY KEY)")
    for i in range(100):
        await db.execute(f"INSERT INTO slow_work (id) VALUES ({i})")
    Path(os.environ["NBMIGRATE_TEST_MARKER"]).write_text("in flight")
    if os.environ["NBMIGRATE_TEST_MODE"] == "python":
        await asyncio.sleep(120)
    elif db.dialect == "sqlite":
        await db.execute(
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 10000000000) "
            "SELECT count(*) FROM c"
        )
    else:
        await db.execute("SELECT pg_sleep(120)")


async def down(db):
    await db.execute("DROP TABLE slow_work")
'''


@pytest.mark.parametrize("mode", ["python", "sql"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_sigint_rolls_back_the_migration_in_flight(
    backend: str, mode: str, make_db_url: Callable[[str], str], tmp_path: Path
) -> None:
    url = make_db_url(backend)
    directory = tmp_path / "migrations"
    directory.mkdir()
    sql_migration(directory, "001", "quick", "CREATE TABLE quick (id INTEGER);", "DROP TABLE quick;")
    (directory / "migration_002_slow.py").write_text(SLOW, encoding="utf-8")
    marker = tmp_path / "in_flight"
    proc = harness.up_in_flight(url, directory, marker, MODE=mode)
    time.sleep(0.2)  # into the long part
    t0 = time.perf_counter()
    assert harness.kill(proc, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    stopped_in = time.perf_counter() - t0

    assert proc.returncode == 130, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0] == "interrupted: migration 002 (slow) was rolled back; the lock is released", err
    assert stopped_in < 15, f"took {stopped_in:.1f}s to stop: the long statement was not interrupted"

    snap = harness.inspect(url)
    assert snap.applied() == {"001"}
    assert "slow_work" not in snap.tables
    assert ("apply", "002", "interrupted") in {(a, v, o) for _, a, v, o in snap.log}

    # The lock is free: a command that takes it does not wait.
    again = harness.run("--db", url, "--dir", str(directory), "--lock-timeout", "2", "repair")
    assert again.returncode == 0, again.stderr
    record(f"interrupt/{backend}/{mode}", max_seconds_to_stop=round(stopped_in, 3))
