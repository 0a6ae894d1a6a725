"""A non-transactional migration that fails half way, end to end through the CLI: recorded as
failed, `up` refuses, and each way out (down, fix and up, mark, up --retry) works and shows in
`history`."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import BACKENDS, sql_migration

from . import harness

BROKEN = "INSERT INTO nt_missing (id) VALUES (1);"
FIXED = "INSERT INTO nt_partial (id) VALUES (2);"


def _partial_migration(directory: Path, last_statement: str) -> None:
    sql_migration(
        directory,
        "002",
        "partly_applied",
        "CREATE TABLE IF NOT EXISTS nt_partial (id INTEGER PRIMARY KEY);\n"
        "DELETE FROM nt_partial;\n"
        "INSERT INTO nt_partial (id) VALUES (1);\n" + last_statement,
        "DROP TABLE IF EXISTS nt_partial;",
        header="-- Half done when it fails\n-- nbmigrate: transactional=false\n",
    )


def _history(cli: Callable[..., harness.Finished]) -> list[tuple[str, str | None, str]]:
    done = cli("history", "--json", "--limit", "0")
    assert done.returncode == 0, done.stderr
    return [(e["action"], e["version"], e["outcome"]) for e in reversed(json.loads(done.stdout)["events"])]


def _rows(url: str) -> list[int]:
    if url.startswith("sqlite"):
        conn = sqlite3.connect(harness.sqlite_path(url))
        try:
            return [r[0] for r in conn.execute("SELECT id FROM nt_partial ORDER BY id")]
        finally:
            conn.close()

    async def pg() -> list[int]:
        import asyncpg

        conn = await asyncpg.connect(url)
        try:
            return [r[0] for r in await conn.fetch("SELECT id FROM nt_partial ORDER BY id")]
        finally:
            await conn.close()

    return asyncio.run(pg())


@pytest.mark.parametrize("recovery", ["down", "fix and up", "mark", "up --retry"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_failed_non_transactional_migration_is_recorded_and_recoverable(
    backend: str, recovery: str, make_db_url: Callable[[str], str], tmp_path: Path
) -> None:
    url = make_db_url(backend)
    directory = tmp_path / "migrations"
    directory.mkdir()
    sql_migration(directory, "001", "first", "CREATE TABLE nt_first (id INTEGER);", "DROP TABLE nt_first;")
    _partial_migration(directory, BROKEN)
    calls: list[tuple[str, ...]] = []
    sql_migration(directory, "003", "after", "CREATE TABLE nt_after (id INTEGER);", "DROP TABLE nt_after;")

    def cli(*args: str) -> harness.Finished:  # the first run in a real process, the rest in this one
        run = harness.main if calls else harness.run
        calls.append(args)
        done = run("--db", url, "--dir", str(directory), *args)
        assert not done.crashed, done.stderr
        return done

    failed = cli("up")
    assert failed.returncode == 1
    assert "migration 002" in failed.stderr and "nt_missing" in failed.stderr
    assert "recorded as failed" in failed.stderr
    snap = harness.inspect(url)
    assert snap.ledger == {"001": "applied", "002": "failed"}
    assert snap.tables == {"nt_first": 0, "nt_partial": 1}  # half done, as promised for this kind

    status = cli("status")
    assert status.returncode == 0
    assert "failed" in status.stdout and "recover:" in status.stdout

    refused = cli("up")
    assert refused.returncode == 1
    message = refused.stderr.strip()
    assert len(message.splitlines()) == 1, message
    assert "failed earlier" in message and "`down`" in message and "mark 002" in message
    assert "nt_after" not in harness.inspect(url).tables

    if recovery == "down":
        assert cli("down").returncode == 0
        snap = harness.inspect(url)
        assert snap.ledger == {"001": "applied"} and "nt_partial" not in snap.tables
        _partial_migration(directory, FIXED)
        assert cli("up").returncode == 0
        expected_events = [("revert", "002", "ok"), ("apply", "002", "ok")]
    elif recovery == "fix and up":
        _partial_migration(directory, FIXED)
        assert cli("up").returncode == 0
        expected_events = [("apply", "002", "ok")]
    elif recovery == "mark":
        harness.execute(url, FIXED)
        done = cli("mark", "002")
        assert done.returncode == 0, done.stderr
        assert cli("up").returncode == 0
        expected_events = [("mark", "002", "ok")]
    else:
        harness.execute(url, "CREATE TABLE nt_missing (id INTEGER)")
        assert cli("up", "--retry").returncode == 0
        expected_events = [("apply", "002", "ok")]

    snap = harness.inspect(url)
    assert snap.ledger == {"001": "applied", "002": "applied", "003": "applied"}
    assert "nt_after" in snap.tables
    if recovery != "up --retry":
        assert _rows(url) == [1, 2]
    events = _history(cli)
    assert events[:2] == [("apply", "001", "ok"), ("apply", "002", "failed")]
    assert events[2 : 2 + len(expected_events)] == expected_events
    assert events[-1] == ("apply", "003", "ok")
    assert cli("validate").returncode == 0
