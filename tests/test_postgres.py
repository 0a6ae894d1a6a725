"""PostgreSQL specifics: asyncpg contract, introspection, masked errors, the advisory lock."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timezone
from pathlib import Path
from typing import Any, TypeVar

import pytest

from nbmigrate import MigrationManager, connect
from nbmigrate.backends.postgres import connect_args, lock_key, rows_affected, to_dollar_placeholders
from nbmigrate.engine.database import Database
from nbmigrate.errors import ConnectionFailed, LockTimeout, MigrationFailed, MisuseError
from nbmigrate.urls import parse_url
from tests.conftest import ROOT, run_cli, sql_migration, with_db, write

T = TypeVar("T")


@pytest.fixture(params=[pytest.param("postgresql", marks=pytest.mark.postgres)])
def pg_url(request: pytest.FixtureRequest, make_db_url: Callable[[str], str]) -> str:
    """A fresh PostgreSQL database (the `[postgresql]` id lets `-k postgresql` pick these tests)."""
    return make_db_url(request.param)


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- URLs and plain helpers ---------------------------------------------------------------


def test_url_schemes_and_query_parameters_reach_asyncpg() -> None:
    for raw in (
        "postgresql://u:p@db.example:5433/app",
        "postgres://u:p@db.example:5433/app",
        "postgresql+asyncpg://u:p@db.example:5433/app",
    ):
        assert parse_url(raw).dialect == "postgresql"
        dsn, timeout, credentials = connect_args(raw)
        assert dsn == "postgresql://db.example:5433/app" and timeout == 10
        assert credentials == {"user": "u", "password": "p"}  # never in the DSN, which asyncpg may echo
    dsn, timeout, credentials = connect_args(
        "postgres://u@h/app?sslmode=verify-full&sslrootcert=/etc/ca.pem&connect_timeout=3&application_name=x"
    )
    assert dsn == "postgresql://h/app?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem&application_name=x"
    assert timeout == 3 and credentials == {"user": "u"}


def test_placeholders_status_tags_and_lock_key() -> None:
    assert (
        to_dollar_placeholders("INSERT INTO t (a, b) VALUES (?, ?)") == "INSERT INTO t (a, b) VALUES ($1, $2)"
    )
    assert (
        to_dollar_placeholders("SELECT '?', \"a?\" -- ?\n, /* ? */ ? WHERE x = 'it''s ?' AND y = ?")
        == "SELECT '?', \"a?\" -- ?\n, /* ? */ $1 WHERE x = 'it''s ?' AND y = $2"
    )
    tags = {"UPDATE 3": 3, "INSERT 0 2": 2, "DELETE 0": 0, "MERGE 4": 4, "SELECT 5": 0, "CREATE TABLE": 0}
    assert {tag: rows_affected(tag) for tag in tags} == tags
    assert lock_key("public") == lock_key("public") != lock_key("app")
    assert -(2**63) <= lock_key("public") < 2**63


def test_without_asyncpg_a_postgres_url_says_what_to_install() -> None:
    code = (
        "import sys; sys.modules['asyncpg'] = None\n"
        "from nbmigrate.engine.database import Database\n"
        "from nbmigrate.errors import ConfigError\n"
        "Database('sqlite:///:memory:')\n"
        "try:\n"
        "    Database('postgresql://u:secret@127.0.0.1/app')\n"
        "except ConfigError as exc:\n"
        "    print(exc)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "pip install 'nbmigrate[postgres]'" in out.stdout and "secret" not in out.stdout


# -- the statement contract ---------------------------------------------------------------


def test_execute_fetch_iterate_with_native_placeholders(pg_url: str) -> None:
    async def body(db: Database) -> None:
        assert db.dialect == "postgresql"
        assert await db.fetch_val("SHOW application_name") == f"nbmigrate pid {os.getpid()}"
        await db.execute("CREATE TABLE t (id SERIAL PRIMARY KEY, name TEXT, n INTEGER)")
        assert await db.execute("INSERT INTO t (name, n) VALUES ($1, $2), ($3, $4)", ("a", 1, "b", 2)) == 2
        await db.executemany("INSERT INTO t (name, n) VALUES ($1, $2)", [("c", 3), ("d", 4)])
        assert await db.execute("UPDATE t SET n = n + 1 WHERE n > $1", [1]) == 3
        rows = await db.fetch_all("SELECT name, n FROM t ORDER BY id")
        assert rows[0][0] == "a" and rows[0]["n"] == 1 and list(rows[0].keys()) == ["name", "n"]
        assert await db.fetch_val("SELECT count(*) FROM t WHERE name = $1", ["d"]) == 1
        assert [r["name"] async for r in db.iterate("SELECT name FROM t ORDER BY id")] == list("abcd")
        async with db.transaction():  # inside a transaction: a server-side cursor
            got = [r[0] async for r in db.iterate("SELECT n FROM generate_series(1, $1) n", [1200])]
            assert got == list(range(1, 1201))
        with pytest.raises(MisuseError, match="positional"):
            await db.execute("SELECT $1", {"a": 1})
        with pytest.raises(db.backend.error_types):
            await db.execute("SELECT * FROM nowhere")

    with_db(pg_url, body)
    # Other spellings of the scheme reach the same server; the URL's own application_name wins.
    other = pg_url.replace("postgresql://", "postgresql+asyncpg://") + "?application_name=myapp"
    assert with_db(other, lambda db: db.fetch_val("SHOW application_name")) == "myapp"
    other = pg_url.replace("postgresql://", "postgres://")
    assert with_db(other, lambda db: db.fetch_val("SELECT current_database()")) == pg_url.rsplit("/", 1)[1]


def test_sql_transactions_agree_with_asyncpg_state(pg_url: str) -> None:
    """Database.transaction issues BEGIN/COMMIT/SAVEPOINT as SQL; asyncpg follows along."""

    async def body(db: Database) -> None:
        conn = db.backend.conn  # type: ignore[attr-defined]
        await db.execute("CREATE TABLE t (n INTEGER)")
        async with db.transaction():
            assert conn.is_in_transaction()
            await db.execute("INSERT INTO t VALUES (1)")
            await db.commit()  # deferred: still one transaction
            with pytest.raises(ZeroDivisionError):
                async with db.transaction():  # a savepoint
                    await db.execute("INSERT INTO t VALUES (2)")
                    raise ZeroDivisionError
            await db.execute("CREATE TABLE u (n INTEGER)")
        assert not conn.is_in_transaction()
        with pytest.raises(db.backend.error_types):
            async with db.transaction():
                await db.execute("CREATE TABLE v (n INTEGER)")
                await db.execute("INSERT INTO t VALUES ('not a number')")
        assert not conn.is_in_transaction()
        assert [r[0] for r in await db.fetch_all("SELECT n FROM t")] == [1]
        assert await db.backend.table_names() == ["t", "u"]

    with_db(pg_url, body)


# -- introspection and reset --------------------------------------------------------------


def test_describe_columns_and_indexes(pg_url: str) -> None:
    async def body(db: Database) -> Any:
        await db.execute("CREATE TYPE mood AS ENUM ('ok', 'sad')")
        await db.execute(
            "CREATE TABLE contacts (id SERIAL PRIMARY KEY, name TEXT NOT NULL, "
            "phone VARCHAR(20) UNIQUE, score NUMERIC(5, 2) DEFAULT 0, feeling mood, "
            "created TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        await db.execute("CREATE INDEX ix_name_phone ON contacts (name, lower(phone)) INCLUDE (score)")
        await db.execute("ALTER TABLE contacts DROP COLUMN score")
        await db.execute("CREATE UNIQUE INDEX ix_lower ON contacts (lower(name), phone) INCLUDE (created)")
        assert await db.backend.has_table("contacts") and not await db.backend.has_table("nope")
        return await db.backend.describe("contacts"), await db.backend.describe("nope")

    info, missing = with_db(pg_url, body)
    cols = {c.name: c for c in info.columns}
    assert list(cols) == ["id", "name", "phone", "feeling", "created"]
    assert cols["id"].primary_key and cols["id"].notnull and cols["id"].type == "INTEGER"
    assert cols["id"].default == "nextval('contacts_id_seq'::regclass)"
    assert cols["name"].notnull and not cols["name"].primary_key and cols["name"].type == "TEXT"
    assert cols["phone"].type == "CHARACTER VARYING(20)" and not cols["phone"].notnull
    assert cols["feeling"].type == "mood"  # a user type keeps its own spelling
    assert cols["created"].type == "TIMESTAMP WITH TIME ZONE" and cols["created"].default == "now()"
    # The primary key shows on its column, as on SQLite; the index dropped with `score` is gone;
    # expressions show as <expr>, INCLUDE columns not at all.
    assert [(i.name, i.columns, i.unique) for i in info.indexes] == [
        ("contacts_phone_key", ("phone",), True),
        ("ix_lower", ("<expr>", "phone"), True),
    ]
    assert missing.columns == () and missing.indexes == ()


def test_drop_all_empties_the_current_schema(pg_url: str) -> None:
    async def body(db: Database) -> tuple[list[str], int]:
        for statement in (
            "CREATE TYPE mood AS ENUM ('ok', 'sad')",
            "CREATE DOMAIN positive AS INTEGER CHECK (VALUE > 0)",
            "CREATE TYPE pair AS (a INTEGER, b INTEGER)",
            "CREATE SEQUENCE tickets",
            "CREATE TABLE contacts (id SERIAL PRIMARY KEY, feeling mood, n positive)",
            "CREATE TABLE notes (id BIGINT GENERATED ALWAYS AS IDENTITY, "
            "contact INTEGER REFERENCES contacts (id))",
            "CREATE VIEW happy AS SELECT * FROM contacts WHERE feeling = 'ok'",
            "CREATE MATERIALIZED VIEW counts AS SELECT count(*) FROM contacts",
            "CREATE FUNCTION twice(x INTEGER) RETURNS INTEGER LANGUAGE sql AS $$ SELECT 2 * x $$",
            "CREATE FUNCTION twice(x TEXT) RETURNS TEXT LANGUAGE sql AS $$ SELECT x || x $$",
            "CREATE PROCEDURE noop() LANGUAGE sql AS $$ SELECT 1 $$",
        ):
            await db.execute(statement)
        async with db.transaction():
            dropped = await db.backend.drop_all()
        left = await db.fetch_val(
            "SELECT (SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace)"
            " + (SELECT count(*) FROM pg_proc WHERE pronamespace = 'public'::regnamespace)"
            " + (SELECT count(*) FROM pg_type WHERE typnamespace = 'public'::regnamespace)"
        )
        await db.execute("CREATE TYPE mood AS ENUM ('new')")  # asyncpg forgot the old one
        await db.execute("CREATE TABLE again (m mood)")
        await db.execute("INSERT INTO again VALUES ($1)", ["new"])
        return dropped, left

    dropped, left = with_db(pg_url, body)
    assert dropped == [
        "materialized view counts",
        "view happy",
        "table contacts",
        "table notes",
        "sequence tickets",
        "procedure noop()",
        "function twice(x integer)",
        "function twice(x text)",
        "type mood",
        "type pair",
        "domain positive",
    ]
    assert left == 0


def test_current_schema_scopes_ledger_tables_and_lock(pg_url: str, migrations_dir: Path) -> None:
    """`options=-csearch_path=app` in the URL: nbmigrate works inside schema `app` only."""
    sql_migration(migrations_dir, "001", "t", "CREATE TABLE t (id INTEGER);", "DROP TABLE t;")
    with_db(pg_url, lambda db: db.execute("CREATE SCHEMA app"))
    app_url = pg_url + "?options=-csearch_path%3Dapp"

    async def body(db: Database) -> tuple[list[str], list[str]]:
        await MigrationManager(db, migrations_dir).up()
        where = await db.fetch_all(
            "SELECT table_schema || '.' || table_name FROM information_schema.tables "
            "WHERE table_schema IN ('app', 'public') ORDER BY 1"
        )
        return [r[0] for r in where], await db.backend.table_names()

    where, names = with_db(app_url, body)
    assert where == ["app._migrations", "app._migrations_log", "app.t"]
    assert names == ["_migrations", "_migrations_log", "t"]
    assert with_db(pg_url, lambda db: db.backend.table_names()) == []

    async def both_locks() -> None:  # different schemas, different locks
        a, b = await connect(pg_url), await connect(app_url)
        try:
            async with a.backend.lock(1, "nbmigrate up"), b.backend.lock(1, "nbmigrate up"):
                pass
        finally:
            await a.disconnect()
            await b.disconnect()

    asyncio.run(both_locks())


# -- connection failures ------------------------------------------------------------------


def _connection_error(url: str) -> ConnectionFailed:
    with pytest.raises(ConnectionFailed) as caught:
        asyncio.run(connect(url))
    return caught.value


def _assert_masked(error: ConnectionFailed, password: str) -> None:
    text = str(error)
    assert "\n" not in text and password not in text and password not in error.reason
    assert error.url.count("***") == 1 and text.startswith(f"cannot connect to {error.url}: ")


def test_unreachable_port_and_missing_database_are_one_masked_line(pg_url: str) -> None:
    port = free_port()
    error = _connection_error(f"postgresql://postgres:Sw0rdfish@127.0.0.1:{port}/app")
    _assert_masked(error, "Sw0rdfish")
    assert str(port) in error.reason

    missing = pg_url.replace("postgres@", "postgres:Sw0rdfish@").rsplit("/", 1)[0] + "/no_such_db"
    error = _connection_error(missing)
    _assert_masked(error, "Sw0rdfish")
    assert 'database "no_such_db" does not exist' in error.reason

    error = _connection_error(pg_url.replace("postgres@", "no_such_role:Sw0rdfish@"))
    _assert_masked(error, "Sw0rdfish")
    assert "no_such_role" in error.reason


def test_sslmode_is_passed_through(pg_url: str) -> None:
    ssl_on = with_db(pg_url, lambda db: db.fetch_val("SHOW ssl")) == "on"
    assert with_db(pg_url + "?sslmode=disable", lambda db: db.fetch_val("SELECT 1")) == 1
    if ssl_on:
        query = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
        assert with_db(pg_url + "?sslmode=require", lambda db: db.fetch_val(query)) is True
    else:  # the test server has no SSL: `require` must refuse rather than silently go plain
        assert "SSL" in _connection_error(pg_url + "?sslmode=require").reason
    assert "sslmode" in _connection_error(pg_url + "?sslmode=sometimes").reason


@pytest.fixture(scope="module")
def password_server() -> Iterator[str]:
    """A throwaway PostgreSQL cluster that checks passwords (the main test server trusts all)."""
    initdb = _pg_program("initdb")
    if initdb is None:
        pytest.skip("initdb not found: cannot start a password-checking server")
    as_postgres: list[str] = []
    if os.geteuid() == 0:  # the server refuses to run as root
        if shutil.which("runuser") is None:
            pytest.skip("running as root without runuser")
        as_postgres = ["runuser", "-u", "postgres", "--"]
    home = tempfile.mkdtemp(prefix="nbm_pw_")
    data = os.path.join(home, "data")
    with open(os.path.join(home, "pw"), "w") as f:
        f.write("right-password\n")
    if as_postgres:
        shutil.chown(home, "postgres")
        shutil.chown(os.path.join(home, "pw"), "postgres")
    port = free_port()
    pg_ctl = [*as_postgres, str(Path(initdb).with_name("pg_ctl")), "-D", data]
    try:
        subprocess.run(
            [*as_postgres, initdb, "-D", data, "-U", "postgres", "--auth=scram-sha-256",
             f"--pwfile={home}/pw", "--no-sync", "--no-instructions"],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        options = f"-p {port} -k {home} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run(
            [*pg_ctl, "-o", options, "-l", f"{home}/log", "-w", "start"],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
    except (subprocess.SubprocessError, OSError) as exc:
        shutil.rmtree(home, ignore_errors=True)
        pytest.skip(f"could not start a password-checking server: {exc}")
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([*pg_ctl, "-m", "immediate", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(home, ignore_errors=True)


def _pg_program(name: str) -> str | None:
    try:
        bindir = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True).stdout.strip()
    except OSError:
        bindir = ""
    candidates = [Path(bindir) / name] if bindir else []
    candidates += sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True)
    return next((str(c) for c in candidates if c.is_file()), shutil.which(name))


@pytest.mark.parametrize("kind", [pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_wrong_password_is_one_masked_line(kind: str, password_server: str) -> None:
    assert with_db(f"postgresql://postgres:right-password@{password_server}/postgres", lambda db: db.fetch_val("SELECT 1")) == 1  # fmt: skip
    for secret in ("Wr0ng-pa55", "p%40ss%3Aword"):
        error = _connection_error(f"postgresql://postgres:{secret}@{password_server}/postgres")
        _assert_masked(error, secret)
        assert "p@ss:word" not in str(error)
        assert 'password authentication failed for user "postgres"' in error.reason


@pytest.mark.parametrize("kind", [pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_odd_passwords_authenticate_and_asyncpg_never_echoes_them(kind: str, password_server: str) -> None:
    """Raw @ : % reach the server as typed; percent-encoded / ? # space too; a wrong one is masked."""
    from urllib.parse import quote

    admin = f"postgresql://postgres:right-password@{password_server}/postgres"
    for i, secret in enumerate(["p@ss:w%rd", "x", "/?# @:%é"]):
        role = f"odd_{i}"
        literal = secret.replace("'", "''")
        create = f"CREATE ROLE {role} LOGIN PASSWORD '{literal}'"
        with_db(admin, lambda db, sql=create: db.execute(sql))
        written = quote(secret, safe="@:%")
        url = f"postgresql://{role}:{written}@{password_server}/postgres"
        assert with_db(url, lambda db: db.fetch_val("SELECT current_user")) == role
        error = _connection_error(f"postgresql://{role}:{written}X@{password_server}/postgres")
        for shown in (str(error), error.reason, repr(error)):
            for form in {secret + "X", written + "X", quote(secret + "X", safe="")}:
                assert f":{form}@" not in shown and (len(form) < 4 or form not in shown), shown
        assert f'password authentication failed for user "{role}"' in error.reason


# -- the ledger on PostgreSQL -------------------------------------------------------------


def test_ledger_types_aware_timestamps_and_append_only_log(pg_url: str, migrations_dir: Path) -> None:
    sql_migration(migrations_dir, "001", "t", "CREATE TABLE t (id INTEGER);", "DROP TABLE t;")

    async def body(db: Database) -> None:
        manager = MigrationManager(db, migrations_dir)
        await manager.up()
        await manager.down()
        await manager.up()
        (record,) = await manager.ledger.read()
        assert record.applied_at is not None and record.applied_at.tzinfo is not None
        assert record.applied_at.utcoffset() == timezone.utc.utcoffset(None)
        events = (await manager.history()).events
        assert [e.action for e in events] == ["apply", "revert", "apply"]
        assert all(e.started_at and e.started_at.tzinfo is not None for e in events)
        types = {
            r[0]: r[1]
            for r in await db.fetch_all(
                "SELECT table_name || '.' || column_name, data_type FROM information_schema.columns "
                "WHERE table_name IN ('_migrations', '_migrations_log')"
            )
        }
        assert types["_migrations.applied_at"] == "timestamp with time zone"
        assert types["_migrations_log.id"] == "bigint"
        assert types["_migrations_log.started_at"] == "timestamp with time zone"
        for statement in (
            "UPDATE _migrations_log SET outcome = 'forged'",
            "DELETE FROM _migrations_log",
            "TRUNCATE _migrations_log",
        ):
            with pytest.raises(db.backend.error_types, match="append-only"):
                await db.execute(statement)
        assert await db.fetch_val("SELECT count(*) FROM _migrations_log") == 3

    with_db(pg_url, body)


def test_seed_era_ledger_with_naive_timestamps_is_adopted(pg_url: str, migrations_dir: Path) -> None:
    sql_migration(migrations_dir, "001", "alpha", "CREATE TABLE alpha (id INTEGER);", "DROP TABLE alpha;")
    sql_migration(migrations_dir, "002", "beta", "CREATE TABLE beta (id INTEGER);", "DROP TABLE beta;")

    async def body(db: Database) -> None:
        await db.execute(
            "CREATE TABLE _migrations (version TEXT PRIMARY KEY, name TEXT NOT NULL, "
            "applied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP)"
        )
        await db.execute("CREATE TABLE alpha (id INTEGER)")
        await db.execute("INSERT INTO _migrations VALUES ('001', 'alpha', '2024-03-01 10:00:00')")
        manager = MigrationManager(db, migrations_dir)
        status = await manager.status()
        assert [r.state.value for r in status.migrations] == ["applied", "pending"]
        await manager.up()
        records = {r.version: r for r in await manager.ledger.read()}
        assert sorted(records) == ["001", "002"]
        first = records["001"].applied_at
        assert first is not None and first.isoformat() == "2024-03-01T10:00:00+00:00"
        assert records["002"].applied_at is not None and records["002"].applied_at.tzinfo is not None

    with_db(pg_url, body)


def test_failed_migration_leaves_no_ddl_behind(pg_url: str, migrations_dir: Path) -> None:
    sql_migration(
        migrations_dir,
        "001",
        "half",
        "CREATE TABLE half (id INTEGER);\nCREATE INDEX ix_half ON half (id);\nINSERT INTO half VALUES ('x');",
        "DROP TABLE half;",
    )

    async def body(db: Database) -> None:
        with pytest.raises(MigrationFailed) as caught:
            await MigrationManager(db, migrations_dir).up()
        assert "INSERT INTO half" in (caught.value.statement or "")
        assert "invalid input syntax" in caught.value.db_message
        assert await db.backend.table_names() == ["_migrations", "_migrations_log"]
        assert await db.fetch_val("SELECT count(*) FROM _migrations") == 0

    with_db(pg_url, body)


# -- the advisory lock --------------------------------------------------------------------

_HOLDER = """
import asyncio, sys
from nbmigrate import connect

async def main():
    db = await connect(sys.argv[1])
    async with db.backend.lock(10, "nbmigrate hold-for-test"):
        print("locked", flush=True)
        await asyncio.sleep(300)

asyncio.run(main())
"""


def _lock_activity(url: str) -> list[Any]:
    return with_db(
        url,
        lambda db: db.fetch_all(
            "SELECT a.application_name, a.state, a.xact_start, a.backend_xid, a.backend_xmin "
            "FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE l.locktype = 'advisory' "
            "AND a.datname = current_database()"
        ),
    )


@pytest.mark.timeout(60)
def test_lock_timeout_names_the_holder_and_a_killed_holder_leaves_no_lock(pg_url: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, pg_url], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        (activity,) = _lock_activity(pg_url)
        # Held on an idle connection outside any transaction: it holds back no VACUUM and
        # no CREATE INDEX CONCURRENTLY.
        assert activity["state"] == "idle" and activity["xact_start"] is None
        assert activity["backend_xid"] is None and activity["backend_xmin"] is None

        async def try_lock() -> None:
            db = await connect(pg_url)
            try:
                async with db.backend.lock(0.3, "nbmigrate up"):
                    pass
            finally:
                await db.disconnect()

        started = time.monotonic()
        with pytest.raises(LockTimeout) as caught:
            asyncio.run(try_lock())
        assert time.monotonic() - started < 3
        message = str(caught.value)
        assert f"'nbmigrate: hold-for-test pid {holder.pid}'" in message
        assert "connected since" in message and "server pid" in message
        if "@127.0.0.1" in pg_url:
            assert "client 127.0.0.1" in message
        assert "within 0.3s" in message

        holder.send_signal(signal.SIGKILL)  # no finally, no unlock: the server cleans up
        holder.wait(10)
        started = time.monotonic()

        async def lock_again() -> None:
            db = await connect(pg_url)
            try:
                async with db.backend.lock(10, "nbmigrate up"):
                    pass
            finally:
                await db.disconnect()

        asyncio.run(lock_again())
        assert time.monotonic() - started < 5
        assert _lock_activity(pg_url) == []  # released on exit, connection closed
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.timeout(60)
def test_create_index_concurrently_runs_under_the_runners_own_lock(pg_url: str) -> None:
    """The lock's connection is idle between polls, so CIC on the main connection never waits for it."""

    async def main() -> None:
        db, waiter = await connect(pg_url), await connect(pg_url)
        try:
            await db.execute("CREATE TABLE big (id INTEGER, label TEXT)")
            await db.execute("INSERT INTO big SELECT n, 'x' || n FROM generate_series(1, 5000) n")
            async with db.backend.lock(5, "nbmigrate up"):
                # Another run polling for the same lock meanwhile must not hold CIC up either.
                polling = asyncio.create_task(_acquire(waiter, 30))
                await asyncio.sleep(0.3)
                await asyncio.wait_for(db.execute("CREATE INDEX CONCURRENTLY ix_big ON big (label)"), 20)
                assert not polling.done()
            await asyncio.wait_for(polling, 10)  # and it gets the lock once released
            assert [i.name for i in (await db.backend.describe("big")).indexes] == ["ix_big"]
        finally:
            await db.disconnect()
            await waiter.disconnect()

    asyncio.run(main())


async def _acquire(db: Database, timeout: float) -> None:
    async with db.backend.lock(timeout, "nbmigrate up"):
        pass


@pytest.mark.timeout(60)
def test_cancelling_a_run_rolls_back_and_releases_the_lock(pg_url: str, migrations_dir: Path) -> None:
    sql_migration(
        migrations_dir,
        "001",
        "slow",
        "CREATE TABLE slow (id INTEGER);\nSELECT pg_sleep(30);",
        "DROP TABLE slow;",
    )

    async def main() -> None:
        db = await connect(pg_url)
        try:
            task = asyncio.create_task(MigrationManager(db, migrations_dir).up())
            await asyncio.sleep(1)
            started = time.monotonic()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert time.monotonic() - started < 5
            assert not db.backend.conn.is_in_transaction()  # type: ignore[attr-defined]
            assert await db.backend.table_names() == ["_migrations", "_migrations_log"]
            async with db.backend.lock(2, "nbmigrate up"):
                pass
        finally:
            await db.disconnect()

    asyncio.run(main())


# -- many processes -----------------------------------------------------------------------


def _numbered_migrations(directory: Path, count: int) -> None:
    sql_migration(
        directory,
        "001",
        "trace",
        "CREATE TABLE trace (seq BIGSERIAL PRIMARY KEY, version TEXT NOT NULL, pid INTEGER NOT NULL "
        "DEFAULT pg_backend_pid());\nINSERT INTO trace (version) VALUES ('001');",
        "DROP TABLE trace;",
    )
    for n in range(2, count + 1):
        v = f"{n:03d}"
        sql_migration(
            directory,
            v,
            f"step_{v}",
            f"CREATE TABLE t_{v} (id INTEGER);\nINSERT INTO trace (version) VALUES ('{v}');",
            f"DROP TABLE t_{v};",
        )


@pytest.mark.timeout(240)
def test_eight_processes_apply_thirty_migrations_exactly_once_in_order(
    pg_url: str, migrations_dir: Path
) -> None:
    _numbered_migrations(migrations_dir, 30)
    with ThreadPoolExecutor(8) as pool:
        results = list(
            pool.map(
                lambda _: run_cli("--db", pg_url, "--dir", str(migrations_dir), "up", timeout=180),
                range(8),
            )
        )
    for r in results:
        assert r.returncode == 0, r.stderr
        assert "error" not in r.stderr.lower()
    versions = [f"{n:03d}" for n in range(1, 31)]

    async def check(db: Database) -> None:
        assert [r[0] for r in await db.fetch_all("SELECT version FROM trace ORDER BY seq")] == versions
        ledger = await db.fetch_all("SELECT version, status FROM _migrations ORDER BY version")
        assert [(r[0], r[1]) for r in ledger] == [(v, "applied") for v in versions]
        log = await db.fetch_all(
            "SELECT version, outcome FROM _migrations_log WHERE action = 'apply' ORDER BY id"
        )
        assert [(r[0], r[1]) for r in log] == [(v, "ok") for v in versions]

    with_db(pg_url, check)
    applied = [line for r in results for line in r.stdout.splitlines() if line.startswith("applied")]
    assert len(applied) == 30


@pytest.mark.timeout(120)
def test_non_transactional_concurrent_index_under_the_lock_via_the_cli(
    pg_url: str, migrations_dir: Path
) -> None:
    sql_migration(
        migrations_dir,
        "001",
        "big",
        "CREATE TABLE big (id INTEGER, label TEXT);\n"
        "INSERT INTO big SELECT n, 'x' || n FROM generate_series(1, 20000) n;",
        "DROP TABLE big;",
    )
    write(
        migrations_dir,
        "migration_002_index_big.sql",
        "-- nbmigrate: transactional=false\n-- up\nCREATE INDEX CONCURRENTLY ix_big_label ON big (label);\n"
        "-- down\nDROP INDEX CONCURRENTLY ix_big_label;\n",
    )
    with ThreadPoolExecutor(4) as pool:
        results = list(
            pool.map(
                lambda _: run_cli("--db", pg_url, "--dir", str(migrations_dir), "up", timeout=90), range(4)
            )
        )
    assert all(r.returncode == 0 for r in results), [r.stderr for r in results]
    down = run_cli("--db", pg_url, "--dir", str(migrations_dir), "down", timeout=60)
    assert down.returncode == 0, down.stderr
    status = run_cli("--db", pg_url, "--dir", str(migrations_dir), "status", timeout=60)
    assert "002" in status.stdout and "pending" in status.stdout
