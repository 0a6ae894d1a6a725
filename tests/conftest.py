"""Shared fixtures: real databases only, SQLite always and PostgreSQL whenever it answers.

`db_url` is parametrised over both backends (dbmate's testEachURL, yoyo's
conftest.backend); each test gets a fresh database and it is dropped afterwards.
With NBMIGRATE_REQUIRE_POSTGRES=1 (CI) an unreachable server fails the tests instead
of skipping them.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import pytest

T = TypeVar("T")

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get("NBMIGRATE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
REQUIRE_POSTGRES = os.environ.get("NBMIGRATE_REQUIRE_POSTGRES") == "1"

CACHE_VARIABLE = "NBMIGRATE_CACHE_DIR"  # readcache.py's entries: one private directory per session

_pg_state: dict[str, str | None] = {}


def child_env(drop: tuple[str, ...] = ("NBMIGRATE_",)) -> dict[str, str]:
    """os.environ for a child process, without nbmigrate's settings; the session's cache stays."""
    return {k: v for k, v in os.environ.items() if k == CACHE_VARIABLE or not k.startswith(drop)}


def postgres_problem() -> str | None:
    """Why PostgreSQL tests cannot run here, or None when they can."""
    if "problem" not in _pg_state:
        parts = urlsplit(PG_ADMIN_URL)
        try:
            with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5432), timeout=2):
                pass
            import asyncpg  # noqa: F401
        except OSError as exc:
            _pg_state["problem"] = f"PostgreSQL not reachable at {parts.hostname}:{parts.port}: {exc}"
        except ImportError:
            _pg_state["problem"] = "asyncpg is not installed (pip install -e '.[postgres]')"
        else:
            _pg_state["problem"] = None
    return _pg_state["problem"]


def require_postgres() -> None:
    problem = postgres_problem()
    if problem is None:
        return
    if REQUIRE_POSTGRES:
        pytest.fail(f"NBMIGRATE_REQUIRE_POSTGRES=1 but {problem}")
    pytest.skip(problem)


async def _admin(sql: str, url: str = PG_ADMIN_URL) -> list[Any]:
    """Run SQL as the test server's superuser; return the rows of a SELECT."""
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        if sql.lstrip().upper().startswith("SELECT"):
            return list(await conn.fetch(sql))
        await conn.execute(sql)
        return []
    finally:
        await conn.close()


def _pg_database_url(name: str) -> str:
    parts = urlsplit(PG_ADMIN_URL)
    return urlunsplit(parts._replace(path=f"/{name}"))


# CREATE DATABASE costs about a second (it flushes a copy of template1); emptying a used
# test database costs a few milliseconds. So databases are made once per pytest process,
# emptied after each test and handed to the next one: fresh, as far as a test can tell.
# Their names carry the pytest pid, so leftovers of a killed session are recognisable and
# dropped, while the databases of other sessions running at the same time are left alone.
_PG_PREFIX = "nbm_test_"
_pg_pool: list[str] = []
_pg_all: set[str] = set()

_EMPTY_DATABASE = """
DO $$
DECLARE s name;
BEGIN
    FOR s IN SELECT nspname FROM pg_namespace
             WHERE nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
               AND nspname !~ '^pg_(toast_)?temp_'
    LOOP
        EXECUTE format('DROP SCHEMA %I CASCADE', s);
    END LOOP;
END $$;
CREATE SCHEMA public AUTHORIZATION pg_database_owner;
GRANT USAGE ON SCHEMA public TO PUBLIC;
"""


def _take_pg_database() -> str:
    if _pg_pool:
        return _pg_pool.pop()
    if not _pg_all:
        _drop_stale_pg_databases()
    name = f"{_PG_PREFIX}{os.getpid()}_{uuid.uuid4().hex[:8]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    _pg_all.add(name)
    return name


def _give_back_pg_database(name: str) -> None:
    """Empty the database for the next test; drop it if that fails."""

    async def empty() -> None:
        await _admin(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = '{name}' AND pid <> pg_backend_pid()"
        )
        await _admin(f'ALTER DATABASE "{name}" RESET ALL')
        await _admin(_EMPTY_DATABASE, _pg_database_url(name))

    try:
        asyncio.run(empty())
    except Exception:
        _drop_pg_database(name)
    else:
        _pg_pool.append(name)


def _drop_pg_database(name: str) -> None:
    _pg_all.discard(name)
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _drop_stale_pg_databases() -> None:
    """Drop the test databases of pytest sessions on this machine that no longer run."""
    rows = asyncio.run(
        _admin(
            f"SELECT datname FROM pg_database WHERE datname LIKE '{_PG_PREFIX}%' AND datname NOT IN "
            "(SELECT datname FROM pg_stat_activity WHERE datname IS NOT NULL)"
        )
    )
    for (name,) in rows:
        pid = name[len(_PG_PREFIX) :].split("_", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
            _drop_pg_database(name)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@pytest.fixture
def make_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[str], str]]:
    """A factory: make_db_url(kind) returns the URL of a fresh, empty database of that kind."""
    created: list[str] = []

    def make(kind: str) -> str:
        if kind == "sqlite":
            return f"sqlite:///{tmp_path / f'db_{uuid.uuid4().hex[:8]}.db'}"
        require_postgres()
        name = _take_pg_database()
        created.append(name)
        return _pg_database_url(name)

    yield make
    for name in created:
        _give_back_pg_database(name)


BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def backend_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def db_url(backend_kind: str, make_db_url: Callable[[str], str]) -> str:
    """A fresh database on each backend in turn."""
    return make_db_url(backend_kind)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture
def migrations_dir(tmp_path: Path) -> Path:
    path = tmp_path / "migrations"
    path.mkdir()
    return path


def write(directory: Path, filename: str, text: str) -> Path:
    path = directory / filename
    path.write_text(text, encoding="utf-8")
    return path


def sql_migration(
    directory: Path, version: str, name: str, up: str, down: str = "", header: str = ""
) -> Path:
    return write(directory, f"migration_{version}_{name}.sql", f"{header}-- up\n{up}\n-- down\n{down}\n")


def seed_era_database(path: Path) -> Path:
    """A SQLite file as the seed system left it: its 3-column `_migrations`, 001 applied."""
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.executescript(
            "CREATE TABLE _migrations (version TEXT PRIMARY KEY, name TEXT NOT NULL, "
            "applied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP);"
            "CREATE TABLE alpha (id INTEGER PRIMARY KEY, label TEXT);"
            "INSERT INTO _migrations (version, name, applied_at) VALUES "
            "('001', 'create_alpha', '2024-03-01 10:00:00');"
        )
    return path


def main_in_process(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`nbmigrate ARGS` through `nbmigrate.cli.main` in this process, as a child would see it:
    nbmigrate's variables cleared (then `env` set), `cwd` as the working directory."""
    import contextlib
    import io
    import logging

    from nbmigrate import cli

    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    handlers, level = logging.root.handlers[:], logging.root.level
    out, err = io.StringIO(), io.StringIO()
    try:
        os.environ.clear()
        os.environ.update({**child_env(), **(env or {})})
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.main(list(args))
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
        logging.root.handlers[:] = handlers  # main() configures logging once per process
        logging.root.setLevel(level)
    return subprocess.CompletedProcess(["nbmigrate", *args], code, out.getvalue(), err.getvalue())


def run_cli(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run `python -m nbmigrate ARGS` in a real subprocess."""
    full_env = child_env()
    full_env["PYTHONPATH"] = str(ROOT)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "nbmigrate", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    for name in sorted(_pg_all):
        _drop_pg_database(name)
    shutil.rmtree(os.environ[CACHE_VARIABLE], ignore_errors=True)


def pytest_configure(config: pytest.Config) -> None:
    # Never the user's own cache: every run starts empty, and workers and children share it.
    os.environ[CACHE_VARIABLE] = tempfile.mkdtemp(prefix="nbmigrate-test-cache-")
    config.addinivalue_line("markers", "postgres: needs a PostgreSQL server")
    config.addinivalue_line("markers", "stress: long-running stress test (make stress)")
    config.addinivalue_line("markers", "browser: needs headless Chromium")


def query(url: str, sql: str) -> list[tuple[Any, ...]]:
    """Rows of one SELECT, read with sqlite3 or asyncpg directly (not through nbmigrate)."""
    if url.startswith("sqlite:"):
        with closing(sqlite3.connect(url[len("sqlite:///") :])) as conn:
            return [tuple(r) for r in conn.execute(sql)]

    async def fetch() -> list[tuple[Any, ...]]:
        import asyncpg

        conn = await asyncpg.connect(url)
        try:
            return [tuple(r) for r in await conn.fetch(sql)]
        finally:
            await conn.close()

    return asyncio.run(fetch())


def with_db(url: str, body: Callable[[Any], Awaitable[T]]) -> T:
    """Run `body(database)` on a connection of its own, closed afterwards."""
    from nbmigrate import connect

    async def main() -> T:
        db = await connect(url)
        try:
            return await body(db)
        finally:
            await db.disconnect()

    return asyncio.run(main())


def with_manager(url: str, directory: Path, body: Callable[[Any], Awaitable[T]], **options: Any) -> T:
    """Run `body(manager)` on a connection of its own, closed afterwards (another 'process')."""
    from nbmigrate import MigrationManager, connect

    async def main() -> T:
        db = await connect(url)
        try:
            return await body(MigrationManager(db, directory, **options))
        finally:
            await db.disconnect()

    return asyncio.run(main())


def user_tables(url: str, directory: Path) -> set[str]:
    """The database's tables other than the ledger's two."""

    async def body(m: Any) -> set[str]:
        return set(await m.db.backend.table_names()) - {"_migrations", "_migrations_log"}

    return with_manager(url, directory, body)
