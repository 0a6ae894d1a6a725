"""SIGKILL during `up`, on SQLite and PostgreSQL: nothing half-applied, nothing lost, next `up` finishes."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from . import harness
from .crash import run_trials
from .figures import record

KILLS = int(os.environ.get("NBMIGRATE_KILLS") or harness.count(5, 200))  # per database


@pytest.mark.stress
@pytest.mark.timeout(3600)
@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_sigkill_during_up_leaves_nothing_half_applied(
    backend: str, make_db_url: Callable[[str], str], tmp_path: Path
) -> None:
    directory = tmp_path / "migrations"
    expected = harness.write_workload(directory, rows=harness.count(2000, 6000))
    new_database, drop_database = _databases(backend, make_db_url, tmp_path)
    seed = int(os.environ.get("NBMIGRATE_CRASH_SEED", "7")) + (backend == "postgresql")
    summary = run_trials(backend, new_database, drop_database, directory, expected, KILLS, seed)
    record(
        f"crash/{backend}",
        summary.line(),
        trials=summary.trials,
        kills=summary.kills,
        mid_run=summary.mid_run,
        during_startup=summary.during_startup,
        after_last_commit=summary.after_last_commit,
        violations=len(summary.violations),
        full_run_seconds=round(summary.full_run_seconds, 3),
        max_recovery_seconds=round(summary.slowest_recovery_seconds, 3),
    )
    print(summary.line())
    assert summary.violations == []
    assert summary.kills >= KILLS, summary.line()
    if harness.STRESS:  # enough kills must land while migrations run for the figures to mean something
        assert summary.mid_run >= KILLS // 4, summary.line()


def _databases(
    backend: str, make_db_url: Callable[[str], str], tmp_path: Path
) -> tuple[Callable[[], str], Callable[[str], None]]:
    """A fresh database per trial: a new SQLite file, or the one PostgreSQL database emptied."""
    if backend == "postgresql":
        url = make_db_url("postgresql")  # dropped when the test ends

        def emptied() -> str:
            harness.wipe_pg_database(url)
            return url

        return emptied, lambda _: None
    counter = iter(range(10**9))

    def new() -> str:
        return f"sqlite:///{tmp_path / f'crash_{next(counter)}.db'}"

    def drop(url: str) -> None:
        path = harness.sqlite_path(url)
        for extra in path.parent.glob(path.name + "*"):
            if extra.is_dir():
                for f in extra.iterdir():
                    f.unlink()
                extra.rmdir()
            else:
                extra.unlink()

    return new, drop
