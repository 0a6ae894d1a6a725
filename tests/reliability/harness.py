"""Shared pieces of the reliability tests: a heavy workload, CLI processes, database inspection.

The inspection reads the database with sqlite3 / asyncpg directly, never through nbmigrate,
so a bug in nbmigrate's own reading cannot hide a broken state.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from tests.conftest import child_env

ROOT = Path(__file__).resolve().parents[2]
STRESS = os.environ.get("NBMIGRATE_STRESS") == "1"
PG_ADMIN_URL = os.environ.get("NBMIGRATE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
LEDGER_TABLES = {"_migrations", "_migrations_log"}


def count(quick: int, full: int) -> int:
    """`quick` in `make test`, `full` in `make stress` (NBMIGRATE_STRESS=1)."""
    return full if STRESS else quick


# -- the workload ---------------------------------------------------------------------

_PYTHON_STEP = '''"""Workload VVV: table t_VVV and RRR rows by executemany, in four batches."""

import time

ROWS = RRR
BLOCK = BBB  # seconds of time.sleep at the end of each step: code that blocks the event loop


async def up(db):
    await db.execute("CREATE TABLE t_VVV (id INTEGER PRIMARY KEY, payload TEXT NOT NULL)")
    marks = "?, ?" if db.dialect == "sqlite" else "$1, $2"
    sql = f"INSERT INTO t_VVV (id, payload) VALUES ({marks})"
    rows = [(i, f"row {i} of t_VVV " + "x" * 48) for i in range(1, ROWS + 1)]
    batch = ROWS // 4 + 1
    for start in range(0, ROWS, batch):
        await db.executemany(sql, rows[start : start + batch])
    await db.execute("CREATE INDEX ix_t_VVV ON t_VVV (payload)")
    time.sleep(BLOCK)


async def down(db):
    await db.execute("DROP TABLE t_VVV")
    time.sleep(BLOCK)
'''

_SQL_STEP = """-- Workload VVV: table t_VVV and RRR rows from a recursive CTE, in two inserts
-- up
CREATE TABLE t_VVV (id INTEGER PRIMARY KEY, payload TEXT NOT NULL);
INSERT INTO t_VVV (id, payload)
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < HHH)
SELECT i, 'row ' || i || ' of t_VVV xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' FROM n;
INSERT INTO t_VVV (id, payload)
WITH RECURSIVE n(i) AS (SELECT HHH + 1 UNION ALL SELECT i + 1 FROM n WHERE i < RRR)
SELECT i, 'row ' || i || ' of t_VVV xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' FROM n;
CREATE INDEX ix_t_VVV ON t_VVV (payload);
-- down
DROP TABLE t_VVV;
"""


def write_workload(directory: Path, steps: int = 10, rows: int = 6000, block: float = 0.0) -> dict[str, int]:
    """`steps` migrations, alternately Python (executemany) and SQL (recursive CTE), each
    creating table t_VVV with its own number of rows and an index; return {version: rows}.

    `block`: the Python steps end with that many seconds of `time.sleep`, which blocks the
    event loop right before their COMMIT."""
    directory.mkdir(parents=True, exist_ok=True)
    expected = {}
    for i in range(1, steps + 1):
        version = f"{i:03d}"
        n = rows + 37 * i  # a different count per table: rows landing in the wrong one would show
        if i % 2:
            text = _PYTHON_STEP.replace("VVV", version).replace("RRR", str(n)).replace("BBB", str(block))
            path = directory / f"migration_{version}_workload_py.py"
        else:
            text = _SQL_STEP.replace("VVV", version).replace("RRR", str(n)).replace("HHH", str(n // 2))
            path = directory / f"migration_{version}_workload_sql.sql"
        path.write_text(text, encoding="utf-8")
        expected[version] = n
    return expected


# -- running the CLI ------------------------------------------------------------------


def cli_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = child_env()
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra or {})
    return env


def spawn(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.Popen[str]:
    """Start `python -m nbmigrate ARGS` without waiting for it."""
    return subprocess.Popen(
        [sys.executable, "-m", "nbmigrate", *args],
        env=cli_env(env),
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@dataclass
class Finished:
    """A CLI process that ended: its arguments, exit code, output and wall time."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def crashed(self) -> bool:
        """A traceback or a signal: never acceptable."""
        return "Traceback" in self.stderr or "Traceback" in self.stdout or self.returncode < 0


def run(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> Finished:
    """Run `python -m nbmigrate ARGS` to the end."""
    t0 = time.perf_counter()
    return finish(spawn(*args, env=env), args, t0, timeout)


def main(*args: str) -> Finished:
    """Run `nbmigrate ARGS` in this process (`nbmigrate.cli.main`), its output captured."""
    from nbmigrate import cli

    out, err = io.StringIO(), io.StringIO()
    handlers, level = logging.root.handlers[:], logging.root.level
    t0 = time.perf_counter()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.main(list(args))
    finally:  # main() configures logging once per process; leave none of it behind
        logging.root.handlers[:] = handlers
        logging.root.setLevel(level)
    return Finished(args, code, out.getvalue(), err.getvalue(), time.perf_counter() - t0)


def finish(proc: subprocess.Popen[str], args: tuple[str, ...], t0: float, timeout: float = 120) -> Finished:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        err += f"\n[harness: killed after {timeout}s]"
    return Finished(args, proc.returncode, out, err, time.perf_counter() - t0)


def kill(proc: subprocess.Popen[str], sig: int = signal.SIGKILL) -> bool:
    """Send `sig` to a process we started; True when it was still running."""
    if proc.poll() is not None:
        return False
    proc.send_signal(sig)
    return True


def wait_for_file(path: Path, proc: subprocess.Popen[str], timeout: float = 30) -> None:
    """Until `path` exists (a migration writes it when it is in flight)."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"process ended (code {proc.returncode}) before {path.name} appeared")
        if time.monotonic() > deadline:
            raise AssertionError(f"{path.name} did not appear within {timeout}s")
        time.sleep(0.01)


def up_in_flight(url: str, directory: Path, marker: Path, **env: str) -> subprocess.Popen[str]:
    """Start `nbmigrate up` and return once its migration in flight has written `marker`.

    The test migrations read NBMIGRATE_TEST_* variables (`env`: HOLD seconds, MODE ...).
    """
    proc = spawn(
        "--db", url, "--dir", str(directory), "up",
        env={"NBMIGRATE_TEST_MARKER": str(marker), **{f"NBMIGRATE_TEST_{k}": v for k, v in env.items()}},
    )  # fmt: skip
    try:
        wait_for_file(marker, proc)
    except BaseException:
        kill(proc)
        proc.communicate()
        raise
    return proc


# -- PostgreSQL databases -------------------------------------------------------------


async def _admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def create_pg_database() -> str:
    """A fresh PostgreSQL database on the local test server; its URL."""
    name = f"nbm_rel_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    return urlunsplit(urlsplit(PG_ADMIN_URL)._replace(path=f"/{name}"))


def drop_pg_database(url: str) -> None:
    name = urlsplit(url).path.lstrip("/")
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def wipe_pg_database(url: str) -> None:
    """Empty a PostgreSQL test database: as good as a fresh one, and much quicker to get."""

    async def wipe() -> None:
        import asyncpg

        conn = await asyncpg.connect(url)
        try:
            await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        finally:
            await conn.close()

    asyncio.run(wipe())


def execute(url: str, sql: str) -> None:
    """Change the database by hand (sqlite3 / asyncpg), as an operator or a test set-up would."""
    if url.startswith("sqlite"):
        conn = sqlite3.connect(sqlite_path(url))
        try:
            conn.execute(sql)
            conn.commit()
        finally:
            conn.close()
        return

    async def pg() -> None:
        import asyncpg

        conn = await asyncpg.connect(url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(pg())


def sqlite_path(url: str) -> Path:
    assert url.startswith("sqlite:///"), url
    return Path(url[len("sqlite:///") :])


# -- looking at a database ------------------------------------------------------------


@dataclass
class Snapshot:
    """What a database holds, read without nbmigrate."""

    tables: dict[str, int]  # user table -> row count
    indexes: set[str]
    ledger: dict[str, str]  # version -> status
    log: list[tuple[int, str, str | None, str]]  # (id, action, version, outcome), by id
    integrity: str = "ok"
    has_ledger: bool = True

    def applied(self) -> set[str]:
        return {v for v, status in self.ledger.items() if status == "applied"}


def inspect(url: str) -> Snapshot:
    """The database's state, read in one snapshot.

    On PostgreSQL, first wait until no other session is connected: a killed client's server
    session may still be finishing a command the client sent just before it died (its
    COMMIT, say), and the state is final only once that session is gone.
    """
    if url.startswith("sqlite"):
        return _inspect_sqlite(sqlite_path(url))
    return asyncio.run(_inspect_postgres(url))


def _inspect_sqlite(path: Path) -> Snapshot:
    conn = sqlite3.connect(path, timeout=60, isolation_level=None)
    try:
        conn.execute("BEGIN")  # one read snapshot for everything below
        names = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        indexes = {
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_%'"
            )
        }
        tables = {n: conn.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in names}
        has_ledger = "_migrations" in tables
        ledger = (
            {str(v): s for v, s in conn.execute("SELECT version, status FROM _migrations")}
            if has_ledger
            else {}
        )
        log = (
            [
                (int(i), a, v, o)
                for i, a, v, o in conn.execute(
                    "SELECT id, action, version, outcome FROM _migrations_log ORDER BY id"
                )
            ]
            if "_migrations_log" in tables
            else []
        )
        integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
        conn.execute("COMMIT")
    finally:
        conn.close()
    for name in LEDGER_TABLES:
        tables.pop(name, None)
    return Snapshot(tables, indexes, ledger, log, integrity, has_ledger)


async def _inspect_postgres(url: str) -> Snapshot:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await _wait_for_other_sessions(conn)
        snapshot = conn.transaction(isolation="repeatable_read", readonly=True)
        await snapshot.start()
        names = [
            r[0]
            for r in await conn.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
            )
        ]
        indexes = {
            r[0]
            for r in await conn.fetch(
                "SELECT indexname FROM pg_indexes WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
            )
        }
        tables = {n: await conn.fetchval(f'SELECT count(*) FROM "{n}"') for n in names}
        has_ledger = "_migrations" in tables
        ledger = (
            {str(r[0]): r[1] for r in await conn.fetch("SELECT version, status FROM _migrations")}
            if has_ledger
            else {}
        )
        log = (
            [
                (int(r[0]), r[1], r[2], r[3])
                for r in await conn.fetch(
                    "SELECT id, action, version, outcome FROM _migrations_log ORDER BY id"
                )
            ]
            if "_migrations_log" in tables
            else []
        )
        await snapshot.commit()
    finally:
        await conn.close()
    for name in LEDGER_TABLES:
        tables.pop(name, None)
    return Snapshot(tables, indexes, ledger, log, "ok", has_ledger)


async def _wait_for_other_sessions(conn: object, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    sql = (
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
    )
    while await conn.fetchval(sql):  # type: ignore[attr-defined]
        if time.monotonic() > deadline:
            raise AssertionError(f"other sessions still connected after {timeout}s")
        await asyncio.sleep(0.02)


def apply_window(url: str) -> tuple[datetime, datetime] | None:
    """When the first successful apply started and the last one finished (UTC), per the log."""
    sql = "SELECT min(started_at), max(finished_at) FROM _migrations_log WHERE action = 'apply' AND outcome = 'ok'"
    if url.startswith("sqlite"):
        conn = sqlite3.connect(sqlite_path(url), timeout=60)
        try:
            first, last = conn.execute(sql).fetchone()
        finally:
            conn.close()
    else:
        first, last = asyncio.run(_fetch_row(url, sql))
    if first is None or last is None:
        return None
    return _utc(first), _utc(last)


async def _fetch_row(url: str, sql: str) -> tuple[object, object]:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        row = await conn.fetchrow(sql)
    finally:
        await conn.close()
    return row[0], row[1]


def _utc(value: object) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def fingerprint(path: Path) -> tuple[object, ...]:
    """Schema and every row of a SQLite file: equal fingerprints, unchanged database."""
    conn = sqlite3.connect(path, timeout=60)
    try:
        schema = sorted(conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master"))
        rows = {
            name: sorted(repr(r) for r in conn.execute(f'SELECT * FROM "{name}"'))
            for kind, name, _, _ in schema
            if kind == "table"
        }
    finally:
        conn.close()
    return tuple(schema), tuple(sorted(rows.items()))


# -- the invariant --------------------------------------------------------------------


def replay(log: list[tuple[int, str, str | None, str]]) -> tuple[set[str], list[str]]:
    """The set of applied versions the event log implies, and every contradiction in it."""
    state: set[str] = set()
    problems = []
    for event_id, action, version, outcome in log:
        if outcome != "ok":
            continue
        if action in ("apply", "mark"):
            if version in state:
                problems.append(f"log event {event_id}: {version} {action} while already applied")
            state.add(str(version))
        elif action in ("revert", "unmark"):
            if version not in state:
                problems.append(f"log event {event_id}: {version} {action} while not applied")
            state.discard(str(version))
        elif action == "reset":
            state.clear()
    return state, problems


def violations(snap: Snapshot, expected: dict[str, int]) -> list[str]:
    """Every way the database breaks "nothing half-applied, nothing lost"; empty when sound.

    Each migration in the ledger is wholly there (table, exact row count, index); no
    migration outside it left anything; the event log agrees with the ledger.
    """
    found = []
    if snap.integrity != "ok":
        found.append(f"integrity check: {snap.integrity}")
    for version, status in sorted(snap.ledger.items()):
        if version not in expected:
            found.append(f"ledger holds unknown version {version}")
        elif status != "applied":
            found.append(f"ledger row {version} has status {status!r}")
    for version, rows in sorted(expected.items()):
        table, index = f"t_{version}", f"ix_t_{version}"
        if version in snap.ledger:
            if table not in snap.tables:
                found.append(f"{version} recorded but table {table} is missing")
            elif snap.tables[table] != rows:
                found.append(f"{version} recorded but {table} has {snap.tables[table]} rows, not {rows}")
            if index not in snap.indexes:
                found.append(f"{version} recorded but index {index} is missing")
        else:
            if table in snap.tables:
                found.append(f"{version} not recorded but table {table} exists ({snap.tables[table]} rows)")
            if index in snap.indexes:
                found.append(f"{version} not recorded but index {index} exists")
    strays = set(snap.tables) - {f"t_{v}" for v in expected}
    if strays:
        found.append(f"unexpected tables: {sorted(strays)}")
    implied, problems = replay(snap.log)
    found += problems
    if implied != snap.applied():
        found.append(f"event log implies {sorted(implied)} applied, ledger says {sorted(snap.applied())}")
    return found


def applied_once(snap: Snapshot) -> list[str]:
    """Each applied version has exactly one successful apply event (no revert in between)."""
    applies = Counter(v for _, action, v, outcome in snap.log if action == "apply" and outcome == "ok")
    return [f"{v} applied {n} times" for v, n in sorted(applies.items()) if n != 1]
