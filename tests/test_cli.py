"""The `nbmigrate` command line, run as real `python -m nbmigrate` subprocesses on real databases.

Every command with its effect checked in the database itself (read with sqlite3 or asyncpg),
or through the states only nbmigrate knows (`status --json`); `--json`, exit codes (0 ok,
1 failure, 2 usage), no tracebacks for expected errors, configuration order, password
masking, failing, non-transactional, out-of-order, changed, missing and malformed
migrations, and Ctrl-C.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.conftest import ROOT, child_env, main_in_process, query, run_cli, sql_migration, write

LEDGER_TABLES = ("_migrations", "_migrations_log")
SECRET = "s3cret"
CLOSED_PORT_URL = f"postgresql://user:{SECRET}@127.0.0.1:1/db"  # localhost, nothing listens on port 1


# -- looking at a database without nbmigrate ------------------------------------------


def execute(url: str, sql: str) -> None:
    """Run one statement and commit it, with sqlite3 or asyncpg directly."""
    if url.startswith("sqlite:"):
        with closing(sqlite3.connect(url[len("sqlite:///") :])) as conn:
            conn.execute(sql)
            conn.commit()
        return

    async def run() -> None:
        import asyncpg

        conn = await asyncpg.connect(url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


def all_tables(url: str) -> set[str]:
    if url.startswith("sqlite:"):
        if not Path(url[len("sqlite:///") :]).exists():
            return set()
        sql = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    else:
        sql = (
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
        )
    return {r[0] for r in query(url, sql)}


def user_tables(url: str) -> set[str]:
    """The tables a migration made: everything but nbmigrate's own."""
    return {t for t in all_tables(url) if not t.startswith("_migrations")}


def ledger(url: str) -> list[str]:
    """Versions with a row in `_migrations` (applied or failed), in order."""
    if "_migrations" not in all_tables(url):
        return []
    return [r[0] for r in query(url, "SELECT version FROM _migrations ORDER BY version")]


def log(url: str) -> list[tuple[str, str | None, str]]:
    """(action, version, outcome) of every `_migrations_log` event, newest first."""
    rows = query(url, "SELECT action, version, outcome FROM _migrations_log ORDER BY id DESC")
    return [(r[0], r[1], r[2]) for r in rows]


# -- driving the CLI ------------------------------------------------------------------


def explain(r: subprocess.CompletedProcess[str]) -> str:
    return f"exit {r.returncode}\n--- stdout\n{r.stdout}\n--- stderr\n{r.stderr}"


class Project:
    """One database and one migrations directory, driven through `nbmigrate.cli.main` in this
    process (the tests below that need a real process, for exit codes, signals and start-up,
    call `run_cli`)."""

    def __init__(self, url: str, directory: Path, cwd: Path) -> None:
        self.url = url
        self.dir = directory
        self.cwd = cwd

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite:")

    def run(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return main_in_process("--db", self.url, "--dir", str(self.dir), *args, cwd=self.cwd, env=env)

    def ok(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        r = self.run(*args, env=env)
        assert r.returncode == 0, explain(r)
        assert "Traceback" not in r.stderr, explain(r)
        return r

    def fails(self, code: int, *args: str, env: dict[str, str] | None = None) -> str:
        """Run, expect exit `code` and no traceback; return stderr."""
        r = self.run(*args, env=env)
        assert r.returncode == code, explain(r)
        assert "Traceback" not in r.stderr + r.stdout, explain(r)
        assert r.stderr.strip(), explain(r)
        return r.stderr

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "--json").stdout)

    def states(self) -> dict[str, str]:
        return {m["version"]: m["state"] for m in self.json("status")["migrations"]}

    def events(self) -> list[dict[str, Any]]:
        """Every event of the log, newest first."""
        return self.json("history", "--limit", "0")["events"]

    def log(self) -> list[tuple[str, str | None, str]]:
        return log(self.url)

    def tables(self) -> set[str]:
        return user_tables(self.url)

    def ledger(self) -> list[str]:
        return ledger(self.url)


def simple_set(directory: Path, count: int = 3) -> None:
    """Migrations 001..count, each creating table tN (portable SQL)."""
    for i in range(1, count + 1):
        sql_migration(
            directory,
            f"{i:03d}",
            f"table_{i}",
            f"CREATE TABLE t{i} (id INTEGER PRIMARY KEY, note TEXT);",
            f"DROP TABLE t{i};",
        )


@pytest.fixture
def project(db_url: str, migrations_dir: Path, tmp_path: Path) -> Project:
    """A project on each backend in turn (sqlite, postgresql)."""
    return Project(db_url, migrations_dir, tmp_path)


@pytest.fixture
def sqlite_project(sqlite_url: str, migrations_dir: Path, tmp_path: Path) -> Project:
    return Project(sqlite_url, migrations_dir, tmp_path)


# -- status and up --------------------------------------------------------------------


def test_status_then_up_then_status(project: Project) -> None:
    simple_set(project.dir)
    before = project.json("status")
    assert [m["version"] for m in before["migrations"]] == ["001", "002", "003"]
    assert {m["state"] for m in before["migrations"]} == {"pending"}
    assert all(m["applied"] is False and m["applied_at"] is None for m in before["migrations"])
    assert "pending" in project.ok("status").stdout

    out = project.ok("up").stdout
    assert "001" in out and "003" in out
    assert project.tables() == {"t1", "t2", "t3"}
    assert project.ledger() == ["001", "002", "003"]

    after = project.json("status")["migrations"]
    assert {m["state"] for m in after} == {"applied"}
    now = datetime.now(timezone.utc)
    for m in after:
        assert m["applied"] is True
        applied_at = datetime.fromisoformat(m["applied_at"])
        assert applied_at.tzinfo is not None, "applied_at must be UTC, with its offset"
        assert abs(now - applied_at) < timedelta(minutes=5)

    again = project.json("up")
    assert again["steps"] == []
    assert project.ledger() == ["001", "002", "003"]


def test_up_to_version(sqlite_project: Project) -> None:
    project = sqlite_project
    simple_set(project.dir, 4)
    project.ok("up", "002")
    assert project.ledger() == ["001", "002"]
    assert project.tables() == {"t1", "t2"}
    project.ok("up", "3")  # versions are numbers: 3 means 003
    assert project.ledger() == ["001", "002", "003"]
    err = project.fails(1, "up", "999")
    assert "999" in err
    assert project.ledger() == ["001", "002", "003"]


def test_up_dry_run_changes_nothing(project: Project) -> None:
    simple_set(project.dir)
    out = project.ok("up", "--dry-run").stdout
    assert "CREATE TABLE t1" in out and "CREATE TABLE t3" in out
    assert "+ table t2" in out
    data = project.json("up", "--dry-run")
    assert data["dry_run"] is True
    assert sorted(data["schema_change"]["added_tables"]) == ["t1", "t2", "t3"]
    assert any("CREATE TABLE t1" in s for s in data["steps"][0]["statements"])
    assert project.tables() == set()
    assert project.ledger() == []


def test_down_last_steps_to_and_all(project: Project) -> None:
    simple_set(project.dir, 6)
    project.ok("up")

    steps = [
        ([], ["001", "002", "003", "004", "005"], ["006"]),
        (["--steps", "2"], ["001", "002", "003"], ["005", "004"]),
        (["--to", "2"], ["001", "002"], ["003"]),  # VERSION is kept; 2 means 002
        (["--to", "001"], ["001"], ["002"]),
        (["--all"], [], ["001"]),
    ]
    for args, kept, newly_reverted in steps:
        before = len(project.log())
        out = project.ok("down", *args).stdout
        assert all(v in out for v in newly_reverted), out
        assert project.ledger() == kept, args
        assert project.tables() == {f"t{int(v)}" for v in kept}, args
        events = project.log()
        new = events[: len(events) - before][::-1]  # in the order they happened
        assert [v for (a, v, o) in new if a == "revert" and o == "ok"] == newly_reverted, args
    assert project.json("down")["steps"] == []  # nothing left: not an error


def test_down_dry_run_changes_nothing(project: Project) -> None:
    simple_set(project.dir)
    project.ok("up")
    out = project.ok("down", "--dry-run").stdout
    assert "DROP TABLE t3" in out
    assert "- table t3" in out
    out = project.ok("down", "--all", "--dry-run").stdout
    assert "DROP TABLE t1" in out
    assert project.ledger() == ["001", "002", "003"]
    assert project.tables() == {"t1", "t2", "t3"}


def test_down_with_nothing_applied_is_ok(sqlite_project: Project) -> None:
    simple_set(sqlite_project.dir)
    data = sqlite_project.json("down")
    assert data["steps"] == []
    assert sqlite_project.ledger() == []


def test_redo_reverts_and_reapplies_the_last(project: Project) -> None:
    simple_set(project.dir)
    project.ok("up")
    execute(project.url, "INSERT INTO t3 (id, note) VALUES (1, 'dropped by redo')")
    execute(project.url, "INSERT INTO t2 (id, note) VALUES (1, 'kept')")
    project.ok("redo")
    assert project.ledger() == ["001", "002", "003"]
    assert query(project.url, "SELECT count(*) FROM t3") == [(0,)]  # the table was dropped and made again
    assert query(project.url, "SELECT note FROM t2") == [("kept",)]
    newest = project.log()[:2]
    assert newest == [("apply", "003", "ok"), ("revert", "003", "ok")]


# -- new, show, schema ----------------------------------------------------------------


def test_new_python_writes_the_next_valid_migration(sqlite_project: Project) -> None:
    p = sqlite_project
    simple_set(p.dir, 2)
    p.ok("up")
    out = p.ok("new", "add_users", "--python").stdout
    path = p.dir / "migration_003_add_users.py"
    assert path.is_file(), out
    assert "migration_003_add_users.py" in out
    assert "async def up" in path.read_text(encoding="utf-8")
    assert p.json("validate")["ok"] is True
    assert p.states()["003"] == "pending"
    # An unfilled template is never recorded as applied.
    err = p.fails(1, "up")
    assert "migration_003_add_users.py" in err and "write this migration's up step" in err
    assert p.ledger() == ["001", "002"]
    path.write_text(
        "async def up(db):\n    await db.execute('CREATE TABLE users (id INTEGER)')\n", encoding="utf-8"
    )
    p.ok("up")
    assert p.ledger() == ["001", "002", "003"]


def test_new_sql_is_the_default_and_numbers_past_the_ledger(sqlite_project: Project) -> None:
    p = sqlite_project
    simple_set(p.dir, 2)
    p.ok("new", "add_index")
    sql = p.dir / "migration_003_add_index.sql"
    text = sql.read_text(encoding="utf-8")
    assert "-- up" in text and "-- down" in text
    p.ok("new", "add_more", "--sql")
    assert (p.dir / "migration_004_add_more.sql").is_file()
    err = p.fails(2, "new", "Add Users")
    assert "add_users" in err  # the suggested name
    assert sorted(f.name for f in p.dir.iterdir() if f.name.startswith("migration_")) == [
        "migration_001_table_1.sql",
        "migration_002_table_2.sql",
        "migration_003_add_index.sql",
        "migration_004_add_more.sql",
    ]


def test_show_prints_the_source(applied_project: Project) -> None:
    p = applied_project
    source = (p.dir / "migration_002_table_2.sql").read_text(encoding="utf-8")
    out = p.ok("show", "002").stdout
    assert source.strip() in out
    assert p.json("show", "2")["source"] == source
    err = p.fails(1, "show", "999")
    assert "999" in err


CONTACTS_SQL = """\
-- contacts
-- up
CREATE TABLE contacts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    telegram_id INTEGER UNIQUE,
    first_name TEXT NOT NULL,
    phone TEXT DEFAULT 'none'
);
CREATE INDEX idx_contacts_phone ON contacts(phone);
CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);
-- down
DROP TABLE notes;
DROP TABLE contacts;
"""


def test_schema_lists_columns_and_indexes(sqlite_project: Project) -> None:
    p = sqlite_project
    write(p.dir, "migration_001_contacts.sql", CONTACTS_SQL)
    p.ok("up")
    out = p.ok("schema", "contacts").stdout
    for word in ("contacts", "telegram_id", "first_name", "phone", "INTEGER", "TEXT", "idx_contacts_phone"):
        assert word in out, out
    assert "notes" not in out.replace("NOT NULL", "")
    everything = p.ok("schema").stdout
    assert "contacts" in everything and "notes" in everything
    assert "_migrations" not in everything
    data = p.json("schema", "contacts")
    assert [t["name"] for t in data["tables"]] == ["contacts"]
    table = data["tables"][0]
    columns = {c["name"]: c for c in table["columns"]}
    assert list(columns) == ["id", "telegram_id", "first_name", "phone"]
    assert columns["first_name"]["notnull"] is True
    assert columns["id"]["primary_key"] is True
    index = next(i for i in table["indexes"] if i["name"] == "idx_contacts_phone")
    assert index["columns"] == ["phone"] and index["unique"] is False
    assert any(i["unique"] and i["columns"] == ["telegram_id"] for i in table["indexes"])
    err = p.fails(1, "schema", "nosuch")
    assert "nosuch" in err


# -- history, validate, mark, unmark, reset -------------------------------------------


def test_history_records_every_apply_and_revert(sqlite_project: Project) -> None:
    p = sqlite_project
    simple_set(p.dir)
    p.ok("up")
    p.ok("down")
    text = p.ok("history").stdout
    assert "apply" in text and "revert" in text
    events = p.events()
    assert [(e["action"], e["version"], e["outcome"]) for e in events] == [
        ("revert", "003", "ok"),
        ("apply", "003", "ok"),
        ("apply", "002", "ok"),
        ("apply", "001", "ok"),
    ]
    assert len({e["run_id"] for e in events}) == 2  # one run id per command
    only = p.json("history", "002")["events"]
    assert [(e["action"], e["version"]) for e in only] == [("apply", "002")]
    rows = query(p.url, "SELECT action, version, outcome FROM _migrations_log ORDER BY id")
    assert rows == [
        ("apply", "001", "ok"),
        ("apply", "002", "ok"),
        ("apply", "003", "ok"),
        ("revert", "003", "ok"),
    ]


def test_history_limit_must_not_be_negative(project: Project) -> None:
    simple_set(project.dir, 1)
    project.ok("up")
    err = project.fails(2, "history", "--limit", "-1")
    assert "--limit" in err


def test_validate_passes_on_a_consistent_project(sqlite_project: Project) -> None:
    p = sqlite_project
    simple_set(p.dir)
    p.ok("up", "002")
    data = p.json("validate")
    assert data["ok"] is True and data["problems"] == [] and data["checked"] == 3
    assert "ok" in p.ok("validate").stdout


def test_mark_and_unmark_change_only_the_ledger(project: Project) -> None:
    simple_set(project.dir)
    project.ok("mark", "001")
    assert project.ledger() == ["001"]
    assert project.tables() == set()  # recorded, not run
    assert project.states() == {"001": "applied", "002": "pending", "003": "pending"}
    project.ok("up")
    assert project.tables() == {"t2", "t3"}
    project.ok("unmark", "003")
    assert project.ledger() == ["001", "002"]
    assert project.tables() == {"t2", "t3"}  # forgotten, not reverted
    err = project.fails(1, "mark", "002")
    assert "002" in err and "already applied" in err
    err = project.fails(1, "unmark", "003")
    assert "003" in err
    marks = [(a, v, o) for (a, v, o) in project.log() if a in ("mark", "unmark")]
    assert marks == [("unmark", "003", "ok"), ("mark", "001", "ok")]


def test_reset_needs_yes_then_drops_everything(project: Project) -> None:
    simple_set(project.dir)
    project.ok("up")
    execute(project.url, "INSERT INTO t1 (id, note) VALUES (1, 'data')")
    err = project.fails(2, "reset")
    assert "--yes" in err
    assert project.tables() == {"t1", "t2", "t3"}
    assert query(project.url, "SELECT note FROM t1") == [("data",)]
    project.ok("reset", "--yes")
    assert project.tables() == set()
    assert project.ledger() == []
    assert project.log()[0][0] == "reset"
    project.ok("up")
    assert query(project.url, "SELECT count(*) FROM t1") == [(0,)]


# -- --json ---------------------------------------------------------------------------


def test_json_output_has_the_documented_keys(sqlite_project: Project) -> None:
    p = sqlite_project
    write(p.dir, "migration_001_contacts.sql", CONTACTS_SQL)
    sql_migration(p.dir, "002", "extra", "CREATE TABLE extra (id INTEGER);", "DROP TABLE extra;")

    status = p.json("status")
    assert {"database", "directory", "migrations"} <= set(status)
    assert {"version", "name", "state", "applied", "applied_at"} <= set(status["migrations"][0])

    up = p.json("up")
    assert {"command", "database", "dry_run", "steps", "message"} <= set(up)
    assert up["command"] == "up" and up["dry_run"] is False
    assert [s["version"] for s in up["steps"]] == ["001", "002"]
    assert {"version", "name", "direction", "outcome", "duration_ms"} <= set(up["steps"][0])

    down = p.json("down")
    assert down["command"] == "down"
    assert [(s["version"], s["direction"], s["outcome"]) for s in down["steps"]] == [
        ("002", "down", "reverted")
    ]

    history = p.json("history")
    assert {"database", "events"} <= set(history)
    keys = {"run_id", "action", "version", "name", "started_at", "finished_at", "duration_ms", "outcome"}
    assert keys | {"error", "applied_by", "nbmigrate_version"} <= set(history["events"][0])

    validate = p.json("validate")
    assert {"database", "ok", "checked", "problems"} <= set(validate)

    schema = p.json("schema")
    assert {"database", "tables"} <= set(schema)
    assert {"name", "columns", "indexes"} <= set(schema["tables"][0])
    assert {"name", "type", "notnull", "default", "primary_key"} <= set(schema["tables"][0]["columns"][0])


# -- exit codes, usage errors, tracebacks ----------------------------------------------


@pytest.fixture(scope="module")
def applied_project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    """One SQLite project with three applied migrations, shared by tests that must not change it."""
    root = tmp_path_factory.mktemp("applied")
    directory = root / "migrations"
    directory.mkdir()
    simple_set(directory)
    p = Project(f"sqlite:///{root / 'app.db'}", directory, root)
    p.ok("up")
    return p


@pytest.mark.parametrize(
    "args",
    [
        ["frobnicate"],
        ["up", "abc"],
        ["down", "--steps", "0"],
        ["down", "--steps", "x"],
        ["reset"],
        ["down", "--to", "1", "--all"],
        ["down", "--steps", "2", "--to", "001"],
        ["--db", "mysql://localhost/db", "status"],
        ["status", "--db", "ftp://example.invalid/x"],
        ["up", "--lock-timeout", "soon"],
        ["new", "add_x", "--sql", "--python"],
        [],
    ],
    ids=lambda a: " ".join(a) or "no-command",
)
def test_usage_errors_exit_2_without_traceback(applied_project: Project, args: list[str]) -> None:
    p = applied_project
    ours = [] if "--db" in args else ["--db", p.url]
    r = run_cli(*ours, "--dir", str(p.dir), *args, cwd=p.cwd)
    assert r.returncode == 2, explain(r)
    assert "Traceback" not in r.stderr + r.stdout, explain(r)
    assert r.stderr.strip(), explain(r)
    assert len(r.stderr.strip().splitlines()) <= 2, explain(r)
    assert p.ledger() == ["001", "002", "003"]
    assert p.tables() == {"t1", "t2", "t3"}


def test_help_exits_0(tmp_path: Path) -> None:
    r = run_cli("--help", cwd=tmp_path)
    assert r.returncode == 0, explain(r)
    for command in ("status", "up", "down", "redo", "new", "history", "validate", "mark", "unmark"):
        assert command in r.stdout
    r = run_cli("down", "--help", cwd=tmp_path)
    assert r.returncode == 0 and "--steps" in r.stdout, explain(r)


def failing_set(directory: Path) -> None:
    """001 and 002 fine; 003 fails at the second of its three statements."""
    simple_set(directory, 2)
    sql_migration(
        directory,
        "003",
        "broken",
        "CREATE TABLE first_of_three (id INTEGER);\n"
        "INSERT INTO nosuch_table (id) VALUES (1);\n"
        "CREATE TABLE third_of_three (id INTEGER);",
        "DROP TABLE first_of_three;",
    )


def test_debug_shows_a_traceback(sqlite_project: Project) -> None:
    p = sqlite_project
    failing_set(p.dir)
    quiet = p.run("up")
    assert quiet.returncode == 1 and "Traceback" not in quiet.stderr, explain(quiet)
    loud = p.run("--debug", "up")
    assert loud.returncode == 1, explain(loud)
    assert "Traceback" in loud.stderr, explain(loud)
    assert "nosuch_table" in loud.stderr
    usage = p.run("reset", "--debug")
    assert usage.returncode == 2 and "Traceback" in usage.stderr, explain(usage)


# -- where the database and the directory come from ------------------------------------


@pytest.mark.parametrize(
    "order",
    [
        ["--db", "{db}", "--dir", "{dir}", "up"],
        ["up", "--db", "{db}", "--dir", "{dir}"],
        ["--db", "{db}", "up", "--dir", "{dir}"],
        ["--dir", "{dir}", "up", "--db", "{db}", "--json"],
    ],
    ids=["before", "after", "mixed", "mixed-json"],
)
def test_db_and_dir_before_or_after_the_command(tmp_path: Path, order: list[str]) -> None:
    migrations = tmp_path / "elsewhere" / "migs"
    migrations.mkdir(parents=True)
    simple_set(migrations)
    db = tmp_path / "elsewhere" / "app.db"
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    args = [a.format(db=f"sqlite:///{db}", dir=migrations) for a in order]
    r = run_cli(*args, cwd=cwd)
    assert r.returncode == 0, explain(r)
    if "--json" in args:
        assert [s["version"] for s in json.loads(r.stdout)["steps"]] == ["001", "002", "003"]
    assert ledger(f"sqlite:///{db}") == ["001", "002", "003"]
    assert not (cwd / "nbmigrate.db").exists()


def test_configuration_order(tmp_path: Path) -> None:
    """--db beats NBMIGRATE_DATABASE_URL beats [tool.nbmigrate] beats the defaults."""
    cwd = tmp_path / "project"
    for folder, table in (
        ("migrations", "from_default_dir"),
        ("pp_migs", "from_pyproject_dir"),
        ("arg_migs", "from_arg_dir"),
    ):
        (cwd / folder).mkdir(parents=True)
        sql_migration(
            cwd / folder, "001", table, f"CREATE TABLE {table} (id INTEGER);", f"DROP TABLE {table};"
        )

    def up(*args: str, env: dict[str, str] | None = None) -> None:
        r = run_cli(*args, "up", cwd=cwd, env=env)
        assert r.returncode == 0, explain(r)

    def tables_of(name: str) -> set[str]:
        return user_tables(f"sqlite:///{cwd / name}")

    up()  # the defaults: sqlite:///nbmigrate.db and migrations/
    assert tables_of("nbmigrate.db") == {"from_default_dir"}

    (cwd / "pyproject.toml").write_text(
        '[project]\nname = "demo"\n\n[tool.nbmigrate]\ndatabase = "sqlite:///pp.db"\nmigrations = "pp_migs"\n',
        encoding="utf-8",
    )
    up()
    assert tables_of("pp.db") == {"from_pyproject_dir"}

    env = {"NBMIGRATE_DATABASE_URL": "sqlite:///env.db"}
    up(env=env)
    assert tables_of("env.db") == {"from_pyproject_dir"}  # the directory still from pyproject.toml

    up("--db", "sqlite:///arg.db", env=env)
    assert tables_of("arg.db") == {"from_pyproject_dir"}

    up("--db", "sqlite:///arg2.db", "--dir", "arg_migs", env=env)
    assert tables_of("arg2.db") == {"from_arg_dir"}

    up("--db", "bare.sqlite", env=env)  # a bare path ending in .sqlite is a SQLite file
    assert tables_of("bare.sqlite") == {"from_pyproject_dir"}

    # and nothing leaked into the databases of the earlier levels
    assert tables_of("nbmigrate.db") == {"from_default_dir"}
    assert tables_of("pp.db") == {"from_pyproject_dir"}
    assert tables_of("env.db") == {"from_pyproject_dir"}


def test_configuration_from_a_pyproject_in_a_parent_folder(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.nbmigrate]\ndatabase = "data/app.db"\nmigrations = "db/migrations"\n', encoding="utf-8"
    )
    (tmp_path / "data").mkdir()
    migrations = tmp_path / "db" / "migrations"
    migrations.mkdir(parents=True)
    simple_set(migrations, 1)
    sub = tmp_path / "notebooks"
    sub.mkdir()
    r = run_cli("up", cwd=sub)
    assert r.returncode == 0, explain(r)
    assert user_tables(f"sqlite:///{tmp_path / 'data' / 'app.db'}") == {"t1"}


# -- passwords ------------------------------------------------------------------------


def assert_no_secret(r: subprocess.CompletedProcess[str]) -> None:
    assert SECRET not in r.stdout, explain(r)
    assert SECRET not in r.stderr, explain(r)


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://user:{SECRET}@/db",  # no host
        f"postgresql://user:{SECRET}@127.0.0.1:99999/db",  # bad port
        f"mysql://user:{SECRET}@127.0.0.1/db",  # unsupported scheme
        f"postgres://user:{SECRET}@127.0.0.1:notaport/db",
    ],
    ids=["no-host", "bad-port", "mysql", "port-not-a-number"],
)
def test_password_masked_in_url_errors(tmp_path: Path, url: str) -> None:
    for args, env in (
        (["--db", url, "status"], None),
        (["--debug", "up", "--json"], {"NBMIGRATE_DATABASE_URL": url}),
    ):
        r = run_cli(*args, cwd=tmp_path, env=env)
        assert r.returncode == 2, explain(r)
        assert_no_secret(r)
        if "--debug" not in args:
            assert "Traceback" not in r.stderr, explain(r)


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://user@127.0.0.1:99999/db?password={SECRET}",  # bad port: a configuration error
        f"postgresql://user@127.0.0.1:1/db?sslmode=disable&password={SECRET}",  # closed port
    ],
    ids=["bad-port", "postgresql-closed-port"],
)
def test_password_in_the_query_string_is_never_printed(tmp_path: Path, url: str) -> None:
    r = run_cli("--db", url, "status", cwd=tmp_path)
    assert r.returncode in (1, 2), explain(r)
    assert "Traceback" not in r.stderr, explain(r)
    assert_no_secret(r)


def test_password_containing_an_at_sign_is_never_printed(tmp_path: Path) -> None:
    url = f"postgresql://user:pa@{SECRET}@127.0.0.1:99999/db"  # bad port: fails before any connection
    for args, env in ((["--db", url, "status"], None), (["up"], {"NBMIGRATE_DATABASE_URL": url})):
        r = run_cli(*args, cwd=tmp_path, env=env)
        assert r.returncode == 2, explain(r)
        assert "Traceback" not in r.stderr, explain(r)
        assert_no_secret(r)


def test_password_never_printed_postgresql_closed_port(tmp_path: Path) -> None:
    """A PostgreSQL URL with a password on localhost's closed port 1: every command fails, none shows it."""
    migrations = tmp_path / "migrations"
    migrations.mkdir()
    simple_set(migrations, 2)
    commands = [
        ["status"],
        ["up", "--json"],
        ["-v", "up", "--dry-run"],
        ["down", "--all"],
        ["history", "--json"],
        ["validate", "--json"],
        ["schema"],
        ["reset", "--yes"],
    ]
    for args in commands:
        r = run_cli("--db", CLOSED_PORT_URL, "--dir", str(migrations), *args, cwd=tmp_path, timeout=60)
        assert r.returncode == 1, explain(r)
        assert_no_secret(r)
        assert "Traceback" not in r.stderr, explain(r)
        assert "127.0.0.1" in r.stderr, explain(r)  # the message says which server
    from_env = run_cli("up", cwd=tmp_path, env={"NBMIGRATE_DATABASE_URL": CLOSED_PORT_URL})
    assert from_env.returncode == 1, explain(from_env)
    assert_no_secret(from_env)
    debug = run_cli("--debug", "--db", CLOSED_PORT_URL, "status", cwd=tmp_path)
    assert debug.returncode == 1 and "Traceback" in debug.stderr, explain(debug)
    assert_no_secret(debug)


def test_password_not_in_history_postgresql(make_db_url: Any, migrations_dir: Path, tmp_path: Path) -> None:
    """On a real server: a URL with a password works and the password is in no output and no row."""
    plain = make_db_url("postgresql")
    parts = urlsplit(plain)
    user = parts.username or "postgres"
    with_secret = urlunsplit(parts._replace(netloc=f"{user}:{SECRET}@{parts.hostname}:{parts.port or 5432}"))
    simple_set(migrations_dir, 2)
    p = Project(with_secret, migrations_dir, tmp_path)
    first = p.run("up")
    assert_no_secret(first)
    if first.returncode != 0:
        pytest.skip(f"the test server does not accept a password for {user}: {first.stderr.strip()}")
    outputs = [
        first,
        p.run("status", "--json"),
        p.run("history"),
        p.run("history", "--json"),
        p.run("-v", "down", "--json"),
        p.run("-v", "--debug", "up", "--dry-run", "--json"),
    ]
    for r in outputs:
        assert_no_secret(r)
    assert [r.returncode for r in outputs] == [0] * len(outputs)
    for table in LEDGER_TABLES:
        for row in query(plain, f"SELECT * FROM {table}"):
            assert SECRET not in " ".join(str(v) for v in row), row


# -- a failing migration --------------------------------------------------------------


def test_failing_migration_names_everything_and_leaves_nothing(project: Project) -> None:
    failing_set(project.dir)
    err = project.fails(1, "up")
    assert "003" in err
    assert "migration_003_broken.sql" in err
    assert "INSERT INTO nosuch_table" in err
    db_message = (
        "no such table: nosuch_table" if project.is_sqlite else 'relation "nosuch_table" does not exist'
    )
    assert db_message in err
    assert project.ledger() == ["001", "002"]
    assert project.tables() == {"t1", "t2"}  # neither first_of_three nor third_of_three
    assert project.states() == {"001": "applied", "002": "applied", "003": "pending"}
    failed = [e for e in project.events() if e["outcome"] == "failed"]
    assert [(e["action"], e["version"]) for e in failed] == [("apply", "003")]
    assert "nosuch_table" in failed[0]["error"]


@pytest.mark.parametrize(
    "failure",
    [
        'await db.execute("INSERT INTO nosuch_table (id) VALUES (1)")',
        'raise RuntimeError("boom after commit")',
    ],
    ids=["db-error", "python-error"],
)
def test_commit_inside_a_migration_does_not_break_atomicity(project: Project, failure: str) -> None:
    simple_set(project.dir, 1)
    write(
        project.dir,
        "migration_002_commits_then_fails.py",
        f'''"""Commits half-way, as the seed's migrations do, then fails."""
from nbmigrate import Migration


class CommitsThenFails(Migration):
    def __init__(self):
        super().__init__(version="002", name="commits_then_fails", description="commit, then fail")

    async def up(self, db):
        await db.execute("CREATE TABLE committed_early (id INTEGER)")
        await db.execute("INSERT INTO committed_early (id) VALUES (1)")
        await db.commit()
        {failure}

    async def down(self, db):
        await db.execute("DROP TABLE committed_early")
''',
    )
    err = project.fails(1, "up")
    assert "002" in err and "migration_002_commits_then_fails.py" in err
    assert ("RuntimeError: boom after commit" in err) if "Runtime" in failure else ("nosuch_table" in err)
    assert project.tables() == {"t1"}
    assert project.ledger() == ["001"]
    assert ("apply", "002", "failed") in project.log()


# -- a non-transactional migration that fails half-way ---------------------------------

NONTX_SQL = """\
-- nbmigrate: transactional=false
-- up
CREATE TABLE {if_not_exists}half (id INTEGER);
INSERT INTO {target} (id) VALUES (1);
-- down
DROP TABLE IF EXISTS half;
"""

NONTX_PY = '''\
"""Half of it runs outside any transaction."""
from nbmigrate import Migration


class Half(Migration):
    transactional = False

    async def up(self, db):
        await db.execute("CREATE TABLE {if_not_exists}half (id INTEGER)")
        await db.execute("INSERT INTO {target} (id) VALUES (1)")

    async def down(self, db):
        await db.execute("DROP TABLE IF EXISTS half")
'''


def write_nontx(directory: Path, kind: str, *, fixed: bool) -> None:
    template, ext = (NONTX_SQL, "sql") if kind == "sql" else (NONTX_PY, "py")
    text = template.format(
        if_not_exists="IF NOT EXISTS " if fixed else "", target="half" if fixed else "nosuch_table"
    )
    write(directory, f"migration_002_half.{ext}", text)


@pytest.mark.parametrize(("kind", "recovery"), [("sql", "down"), ("py", "fix"), ("sql", "mark")])
def test_non_transactional_failure_and_recovery(project: Project, kind: str, recovery: str) -> None:
    simple_set(project.dir, 1)
    write_nontx(project.dir, kind, fixed=False)
    sql_migration(
        project.dir, "003", "after", "CREATE TABLE after_half (id INTEGER);", "DROP TABLE after_half;"
    )

    err = project.fails(1, "up")
    assert "002" in err and "nosuch_table" in err
    assert project.tables() == {"t1", "half"}  # half-way: its first statement stayed
    text = project.ok("status").stdout
    lines = {line.split()[0]: line for line in text.splitlines() if line[:3].isdigit()}
    assert "failed" in lines["002"] and "pending" in lines["003"], text
    assert "nosuch_table" in text  # the error, under the table

    refusal = project.fails(1, "up")
    assert "002" in refusal
    for way in ("down", "up", "mark 002"):
        assert way in refusal, refusal
    assert project.tables() == {"t1", "half"}  # 003 was not run past the failure

    if recovery == "down":
        project.ok("down")
        assert project.tables() == {"t1"}
        assert project.states() == {"001": "applied", "002": "pending", "003": "pending"}
        assert project.ledger() == ["001"]
        expected = ("revert", "002", "ok")
    elif recovery == "fix":
        write_nontx(project.dir, kind, fixed=True)
        project.ok("up")
        assert query(project.url, "SELECT id FROM half") == [(1,)]
        expected = ("apply", "002", "ok")
    else:
        project.ok("mark", "002")
        project.ok("up")
        expected = ("mark", "002", "ok")
    if recovery != "down":
        assert project.tables() == {"t1", "half", "after_half"}
        assert project.states() == {"001": "applied", "002": "applied", "003": "applied"}
        assert project.ledger() == ["001", "002", "003"]
    events = project.log()
    assert expected in events
    assert ("apply", "002", "failed") in events


# -- out of order ---------------------------------------------------------------------


def test_out_of_order_is_applied_and_strict_refuses(sqlite_project: Project) -> None:
    project = sqlite_project
    simple_set(project.dir)
    second = project.dir / "migration_002_table_2.sql"
    held_back = second.read_text(encoding="utf-8")
    second.unlink()
    project.ok("up")
    assert project.ledger() == ["001", "003"]
    second.write_text(held_back, encoding="utf-8")

    assert project.states() == {"001": "applied", "002": "pending (out of order)", "003": "applied"}
    assert "pending (out of order)" in project.ok("status").stdout

    err = project.fails(1, "--strict", "up")
    assert "002" in err
    err = project.fails(1, "up", env={"NBMIGRATE_STRICT": "1"})
    assert "002" in err
    assert project.ledger() == ["001", "003"]
    assert project.tables() == {"t1", "t3"}

    project.ok("up")
    assert project.ledger() == ["001", "002", "003"]
    assert project.tables() == {"t1", "t2", "t3"}
    assert project.states() == {"001": "applied", "002": "applied (out of order)", "003": "applied"}
    assert "applied (out of order)" in project.ok("status").stdout


# -- changed and missing --------------------------------------------------------------


def test_changed_and_missing_files(sqlite_project: Project) -> None:
    project = sqlite_project
    simple_set(project.dir)
    project.ok("up")
    second = project.dir / "migration_002_table_2.sql"
    original = second.read_bytes()

    second.write_bytes(original.replace(b"\n", b"\r\n"))
    assert project.states()["002"] == "applied", "CRLF line endings are not a change"
    second.write_bytes(b"\xef\xbb\xbf" + original)
    assert project.states()["002"] == "applied", "a BOM is not a change"

    second.write_bytes(original.replace(b"note TEXT", b"note TEXT, extra TEXT"))
    text = project.ok("status").stdout
    lines = {line.split()[0]: line for line in text.splitlines() if line[:3].isdigit()}
    assert "changed" in lines["002"] and "applied" in lines["001"] and "applied" in lines["003"], text
    r = project.run("validate")
    assert r.returncode == 1, explain(r)
    assert "Traceback" not in r.stderr, explain(r)
    problem = [line for line in (r.stdout + r.stderr).splitlines() if "migration_002_table_2.sql" in line]
    assert len(problem) == 1 and "changed" in problem[0], explain(r)

    project.ok("repair")
    assert project.run("validate").returncode == 0  # 002 is applied again, nothing else wrong
    assert ("repair", "002", "ok") in project.log()

    (project.dir / "migration_003_table_3.sql").unlink()
    assert project.states() == {"001": "applied", "002": "applied", "003": "missing"}
    r = project.run("validate", "--json")
    assert r.returncode == 1, explain(r)
    problems = json.loads(r.stdout)["problems"]
    assert len(problems) == 1 and "003" in problems[0]


# -- malformed files ------------------------------------------------------------------

GOOD_PY = '''\
"""A fine migration."""
from nbmigrate import Migration


class Fine(Migration):
    async def up(self, db):
        await db.execute("CREATE TABLE fine (id INTEGER)")

    async def down(self, db):
        await db.execute("DROP TABLE fine")
'''

MALFORMED = {
    "short-version": ("migration_1_x.sql", "-- up\nCREATE TABLE x (id INTEGER);\n-- down\n", "3 digits"),
    "uppercase-name": (
        "migration_003_BadName.sql",
        "-- up\nCREATE TABLE x (id INTEGER);\n-- down\n",
        "BadName",
    ),
    "no-prefix": ("003_x.sql", "-- up\nCREATE TABLE x (id INTEGER);\n-- down\n", "migration_XXX_name"),
    "duplicate-version": ("migration_002_again.py", GOOD_PY, "duplicate"),
    "syntax-error": ("migration_003_broken.py", "async def up(db)\n    pass\n", "syntax"),
    "no-up": ("migration_003_no_up.py", "async def down(db):\n    pass\n", "up"),
    "class-without-up": (
        "migration_003_no_up.py",
        "from nbmigrate import Migration\n\n\nclass NoUp(Migration):\n    async def down(self, db):\n        pass\n",
        "up",
    ),
    "sync-up": ("migration_003_sync.py", "def up(db):\n    pass\n", "async"),
    "sql-no-up-marker": ("migration_003_no_marker.sql", "CREATE TABLE x (id INTEGER);\n-- down\n", "-- up"),
    "sql-no-down-marker": ("migration_003_no_down.sql", "-- up\nCREATE TABLE x (id INTEGER);\n", "-- down"),
    "raises-at-import": ("migration_003_raises.py", 'raise RuntimeError("kaboom at import")\n', "kaboom"),
    "seed-relative-import": (
        "migration_003_seed_style.py",
        "from . import Migration\n\n\nclass X(Migration):\n    async def up(self, db):\n        pass\n",
        "import",
    ),
}


@pytest.mark.parametrize("case", list(MALFORMED), ids=list(MALFORMED))
def test_malformed_file_is_a_one_line_error_and_nothing_runs(sqlite_project: Project, case: str) -> None:
    p = sqlite_project
    simple_set(p.dir, 2)
    filename, text, fragment = MALFORMED[case]
    write(p.dir, filename, text)
    err = p.fails(1, "up")
    assert len(err.strip().splitlines()) == 1, err
    assert filename in err, err
    assert fragment.lower() in err.lower(), err
    assert p.tables() == set()
    assert p.ledger() == []


def test_every_problem_is_listed_one_per_line(sqlite_project: Project) -> None:
    p = sqlite_project
    simple_set(p.dir, 2)
    write(p.dir, "migration_003_broken.py", "async def up(db)\n")
    write(p.dir, "migration_004_no_down.sql", "-- up\nCREATE TABLE x (id INTEGER);\n")
    write(p.dir, "migration_005_sync.py", "def up(db):\n    pass\n")
    names = ("migration_003_broken.py", "migration_004_no_down.sql", "migration_005_sync.py")
    err = p.fails(1, "up")
    for name in names:
        assert len([line for line in err.splitlines() if name in line]) == 1, err
    r = p.run("validate", "--json")
    assert r.returncode == 1, explain(r)
    problems = json.loads(r.stdout)["problems"]
    assert len(problems) == 3
    assert [sum(name in problem for problem in problems) for name in names] == [1, 1, 1], problems
    assert p.tables() == set()
    assert p.ledger() == []


def test_bad_file_names_fail_validate_too(sqlite_project: Project) -> None:
    p = sqlite_project
    simple_set(p.dir, 2)
    write(p.dir, "migration_3_short.sql", "-- up\nCREATE TABLE x (id INTEGER);\n-- down\n")
    write(p.dir, "migration_004_Upper.sql", "-- up\nCREATE TABLE y (id INTEGER);\n-- down\n")
    r = p.run("validate")
    assert r.returncode == 1, explain(r)
    out = r.stdout + r.stderr
    assert "Traceback" not in out
    for name in ("migration_3_short.sql", "migration_004_Upper.sql"):
        assert len([line for line in out.splitlines() if name in line]) == 1, explain(r)
    assert p.fails(1, "status")  # a bad name is found without reading any file's contents
    assert p.tables() == set()


def test_malformed_file_blocks_even_up_to_an_earlier_version(sqlite_project: Project) -> None:
    p = sqlite_project
    simple_set(p.dir, 2)
    write(p.dir, "migration_009_broken.py", "async def up(db)\n")
    p.fails(1, "up", "001")
    assert p.ledger() == []


# -- Ctrl-C ---------------------------------------------------------------------------

SLOW_LOOP_PY = '''\
"""Inserts rows one by one for as long as NBM_TEST_ROWS says (a long time by default)."""
import asyncio
import os
from pathlib import Path


async def up(db):
    await db.execute("CREATE TABLE big (n INTEGER)")
    Path(os.environ["NBM_TEST_STARTED"]).touch()
    for i in range(int(os.environ.get("NBM_TEST_ROWS", "100000000"))):
        await db.execute(f"INSERT INTO big (n) VALUES ({i})")
        await asyncio.sleep(0)


async def down(db):
    await db.execute("DROP TABLE big")
'''

SLOW_STATEMENT_PY = '''\
"""One long statement: a recursive CTE counting to NBM_TEST_ROWS (a billion by default)."""
import os
from pathlib import Path


async def up(db):
    await db.execute("CREATE TABLE partial (id INTEGER)")
    Path(os.environ["NBM_TEST_STARTED"]).touch()
    rows = int(os.environ.get("NBM_TEST_ROWS", "1000000000"))
    await db.execute(
        "CREATE TABLE big AS WITH RECURSIVE c(n) AS "
        f"(SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < {rows}) SELECT n FROM c"
    )


async def down(db):
    await db.execute("DROP TABLE big")
    await db.execute("DROP TABLE partial")
'''


def interrupt_up(p: Project, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Start `up`, wait until the slow migration is under way, send SIGINT, wait."""
    started = tmp_path / "started"
    env = child_env()
    env.update(PYTHONPATH=str(ROOT), NBM_TEST_STARTED=str(started))
    proc = subprocess.Popen(
        [sys.executable, "-m", "nbmigrate", "--db", p.url, "--dir", str(p.dir), "up"],
        cwd=p.cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # a shell may start background jobs with SIGINT ignored; a terminal's Ctrl-C is not
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + 60
        while not started.exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the slow migration never started"
            time.sleep(0.02)
        time.sleep(0.3)  # well inside the loop, or the statement
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@pytest.mark.parametrize("slow", [SLOW_LOOP_PY, SLOW_STATEMENT_PY], ids=["insert-loop", "long-statement"])
def test_ctrl_c_rolls_back_and_releases_the_lock(project: Project, tmp_path: Path, slow: str) -> None:
    simple_set(project.dir, 1)
    write(project.dir, "migration_002_slow.py", slow)
    t0 = time.monotonic()
    r = interrupt_up(project, tmp_path)
    assert r.returncode == 130, explain(r)
    assert "Traceback" not in r.stderr, explain(r)
    assert len(r.stderr.strip().splitlines()) == 1, explain(r)
    assert "interrupt" in r.stderr.lower()
    assert "002" in r.stderr and "slow" in r.stderr, explain(r)  # which migration was rolled back
    assert time.monotonic() - t0 < 30
    assert project.tables() == {"t1"}  # nothing of 002: neither `big` nor `partial`
    assert project.ledger() == ["001"]
    assert ("apply", "002", "ok") not in project.log()

    t0 = time.monotonic()
    again = {"NBM_TEST_ROWS": "3", "NBM_TEST_STARTED": str(tmp_path / "again")}
    project.ok("up", "--lock-timeout", "5", env=again)
    assert time.monotonic() - t0 < 5
    assert project.ledger() == ["001", "002"]
    assert query(project.url, "SELECT count(*) FROM big") == [(3,)]
