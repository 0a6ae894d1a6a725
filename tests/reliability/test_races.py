"""Concurrent processes on one database: exactly once, consistent, lock timeouts name the holder,
and a holder killed with SIGKILL never leaves its lock behind."""

from __future__ import annotations

import re
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import BACKENDS

from . import harness
from .figures import record
from .races import RaceSummary, all_up, mixed

ROUNDS = harness.count(1, 20)

HOLDER = '''"""Creates a table, says it is in flight, then sleeps while holding the lock."""

import asyncio
import os
from pathlib import Path


async def up(db):
    await db.execute("CREATE TABLE held (id INTEGER)")
    marker = os.environ.get("NBMIGRATE_TEST_MARKER")
    if marker:
        Path(marker).write_text(str(os.getpid()))
    await asyncio.sleep(float(os.environ.get("NBMIGRATE_TEST_HOLD", "0")))


async def down(db):
    await db.execute("DROP TABLE held")
'''


@pytest.mark.stress
@pytest.mark.timeout(1800)
@pytest.mark.parametrize("scenario", ["8 x up", "up/down/redo/status"])
def test_concurrent_runs_end_consistent(
    scenario: str, backend_kind: str, make_db_url: Callable[[str], str], tmp_path: Path
) -> None:
    directory = tmp_path / "migrations"
    expected = harness.write_workload(directory, rows=3000)
    summary = RaceSummary(backend_kind, scenario)
    for _ in range(ROUNDS):
        url = make_db_url(backend_kind)
        if scenario == "8 x up":
            all_up(url, directory, expected, summary)
        else:
            mixed(url, directory, expected, summary)
    record(
        f"races/{scenario}/{backend_kind}",
        summary.line(),
        rounds=summary.rounds,
        processes=summary.processes,
        violations=len(summary.violations),
        max_round_seconds=round(summary.slowest_round_seconds, 3),
    )
    print(summary.line())
    assert summary.violations == []


@pytest.fixture
def holder_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "holder"
    directory.mkdir()
    (directory / "migration_001_hold_the_lock.py").write_text(HOLDER, encoding="utf-8")
    return directory


def _start_holder(url: str, directory: Path, tmp_path: Path, seconds: float) -> tuple[object, int]:
    marker = tmp_path / f"in_flight_{time.monotonic_ns()}"
    proc = harness.up_in_flight(url, directory, marker, HOLD=str(seconds))
    return proc, proc.pid


@pytest.mark.parametrize("backend", BACKENDS)
def test_lock_timeout_names_the_holder(
    backend: str, make_db_url: Callable[[str], str], holder_dir: Path, tmp_path: Path
) -> None:
    url = make_db_url(backend)
    proc, pid = _start_holder(url, holder_dir, tmp_path, 30)
    try:
        waiter = harness.run("--db", url, "--dir", str(holder_dir), "--lock-timeout", "0.5", "up")
    finally:
        harness.kill(proc)  # type: ignore[arg-type]
        proc.communicate()  # type: ignore[attr-defined]
    assert waiter.returncode == 1, waiter.stderr
    assert not waiter.crashed
    message = waiter.stderr.strip()
    assert len(message.splitlines()) == 1, message
    assert "could not take the migration lock" in message
    assert f"pid {pid}" in message, message
    assert re.search(r"nbmigrate:? up", message), message  # and what it is running


@pytest.mark.parametrize("backend", BACKENDS)
def test_holder_killed_with_sigkill_leaves_no_lock(
    backend: str, make_db_url: Callable[[str], str], holder_dir: Path, tmp_path: Path
) -> None:
    url = make_db_url(backend)
    proc, _ = _start_holder(url, holder_dir, tmp_path, 60)
    assert harness.kill(proc, signal.SIGKILL)  # type: ignore[arg-type]
    proc.communicate()  # type: ignore[attr-defined]
    after = harness.run("--db", url, "--dir", str(holder_dir), "--lock-timeout", "30", "up")
    assert after.returncode == 0, after.stderr
    assert after.seconds < 10, f"the next run waited {after.seconds:.1f}s: a lock was left behind"
    snap = harness.inspect(url)
    assert snap.applied() == {"001"}
    assert snap.tables == {"held": 0}
    assert harness.applied_once(snap) == []
    record(f"lock/{backend}", max_next_run_after_sigkill_seconds=round(after.seconds, 3))
