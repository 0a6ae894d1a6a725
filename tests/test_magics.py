"""`%migrate` and `%%migration` through a real IPython InteractiveShell, against real SQLite files."""

from __future__ import annotations

import asyncio
import fcntl
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from IPython.core.completer import provisionalcompleter
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from traitlets.config import Config

from nbmigrate import cli, commands
from nbmigrate.errors import ChangedMigrationError, LockTimeout, MigrationFailed, OutOfOrderError
from nbmigrate.notebook import bridge, display, magics
from nbmigrate.reports import StatusReport

SQL_001 = "-- up\nCREATE TABLE contacts (id INTEGER PRIMARY KEY, note TEXT DEFAULT '{x} $x');\n-- down\nDROP TABLE contacts;\n"
SQL_002 = (
    "-- up\nCREATE INDEX idx_contacts_note ON contacts (note);\n-- down\nDROP INDEX idx_contacts_note;\n"
)
PY_003 = '''"""Add an email column."""


async def up(db):
    await db.execute("ALTER TABLE contacts ADD COLUMN email TEXT")


async def down(db):
    await db.execute("ALTER TABLE contacts DROP COLUMN email")
'''
BROKEN = "-- up\nCREATE TABLE half (id INTEGER);\nINSERT INTO no_such_table VALUES (1);\n-- down\nDROP TABLE half;\n"


@pytest.fixture
def shell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[InteractiveShell]:
    """A fresh InteractiveShell with nbmigrate loaded, working in tmp_path, no NBMIGRATE_* leaking in."""
    for key in list(os.environ):
        if key.startswith("NBMIGRATE_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / ".ipython"))
    monkeypatch.chdir(tmp_path)
    InteractiveShell.clear_instance()
    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    sh = InteractiveShell.instance(config=config)
    sh.run_line_magic("load_ext", "nbmigrate")
    yield sh
    sh.run_line_magic("unload_ext", "nbmigrate")
    InteractiveShell.clear_instance()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "app.db"


@pytest.fixture
def connected(shell: InteractiveShell, db_path: Path) -> InteractiveShell:
    shell.run_line_magic("migrate", f"connect sqlite:///{db_path} --dir migrations")
    return shell


def cell(shell: InteractiveShell, source: str) -> Any:
    """Run a cell; return its value, raising what it raised."""
    result = shell.run_cell(source)
    if result.error_before_exec is not None:
        raise result.error_before_exec
    if result.error_in_exec is not None:
        raise result.error_in_exec
    return result.result


def migration(shell: InteractiveShell, args: str, body: str) -> display.Authored:
    value = cell(shell, f"%%migration {args}\n{body}")
    assert isinstance(value, display.Authored)
    return value


def tables(db_path: Path) -> set[str]:
    with sqlite3.connect(db_path) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def ledger(db_path: Path) -> dict[str, str]:
    with sqlite3.connect(db_path) as conn:
        return dict(conn.execute("SELECT version, status FROM _migrations").fetchall())


def states(shell: InteractiveShell) -> dict[str, str]:
    return {r["version"]: r["state"] for r in shell.run_line_magic("migrate", "status").rows}


# -- one grammar ----------------------------------------------------------------------


def test_grammar_is_shared() -> None:
    assert cli.commands is magics.commands is commands
    line = "down --to 2 --dry-run"
    assert magics._parse(line) == commands.parse(line.split())


def test_cli_refuses_connect(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["connect", "sqlite:///x.db"]) == cli.EXIT_USAGE
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--db URL" in err and "%migrate connect" in err


# -- connect and configuration ----------------------------------------------------------


def test_connect_sets_the_session_database(
    connected: InteractiveShell, db_path: Path, tmp_path: Path
) -> None:
    shown = connected.run_line_magic("migrate", "status")
    assert isinstance(shown, display.Result) and isinstance(shown.value, StatusReport)
    assert shown.value.database == f"sqlite:///{db_path}"
    assert shown.value.directory == str(tmp_path / "migrations")
    assert db_path.exists()


def test_without_connect_the_configuration_is_the_clis(
    shell: InteractiveShell, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.nbmigrate]\ndatabase = "from_pyproject.db"\nmigrations = "m"\n'
    )
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "migration_001_a.sql").write_text(SQL_001)
    assert shell.run_line_magic("migrate", "status").data["database"] == "from_pyproject.db"
    monkeypatch.setenv("NBMIGRATE_DATABASE_URL", f"sqlite:///{tmp_path / 'from_env.db'}")
    shell.run_line_magic("migrate", "up")
    assert ledger(tmp_path / "from_env.db") == {"001": "applied"}
    assert not (tmp_path / "from_pyproject.db").exists() or "_migrations" not in tables(
        tmp_path / "from_pyproject.db"
    )


def test_shell_only_options_are_refused_with_one_line(connected: InteractiveShell) -> None:
    for line in ("status --db sqlite:///other.db", "up --dir elsewhere"):
        with pytest.raises(UsageError) as caught:
            connected.run_line_magic("migrate", line)
        assert "%migrate connect" in str(caught.value) and "\n" not in str(caught.value)


def test_bad_url_fails_the_cell_shortly(shell: InteractiveShell) -> None:
    with pytest.raises(magics.CellFailure) as caught:
        cell(shell, "%migrate connect mysql://user:secret@host/db")
    lines = caught.value._render_traceback_()
    assert lines[0].startswith("ConfigError: ") and "secret" not in "\n".join(lines)


# -- %%migration ------------------------------------------------------------------------


def test_migration_cell_writes_the_file_verbatim(connected: InteractiveShell, tmp_path: Path) -> None:
    cell(connected, "x = 'expanded'")
    shown = migration(connected, "001 create_contacts", SQL_001)
    path = tmp_path / "migrations" / "migration_001_create_contacts.sql"
    assert shown.value.action == "created" and shown.value.path == path
    assert path.read_text() == SQL_001  # `{x}` and `$x` are not expanded in the body
    assert repr(shown) == "wrote migration_001_create_contacts.sql"
    assert states(connected) == {"001": "pending"}


def test_the_line_is_expanded_but_not_the_body(connected: InteractiveShell, tmp_path: Path) -> None:
    cell(connected, "v = '007'; n = 'from_var'")
    migration(connected, "$v {n}", "-- up\nSELECT '$v {n}';\n-- down\n")
    assert (
        tmp_path / "migrations" / "migration_007_from_var.sql"
    ).read_text() == "-- up\nSELECT '$v {n}';\n-- down\n"


def test_identical_cell_again_is_a_no_op(connected: InteractiveShell, tmp_path: Path) -> None:
    migration(connected, "001 create_contacts", SQL_001)
    path = tmp_path / "migrations" / "migration_001_create_contacts.sql"
    before = path.stat().st_mtime_ns
    again = migration(connected, "001 create_contacts", SQL_001 + "\n\n")
    assert again.value.action == "unchanged" and "nothing written" in repr(again)
    assert path.stat().st_mtime_ns == before


def test_changed_unapplied_cell_rewrites_the_file(connected: InteractiveShell, tmp_path: Path) -> None:
    migration(connected, "001 create_contacts", SQL_001)
    edited = SQL_001.replace("note TEXT", "note TEXT NOT NULL")
    shown = migration(connected, "001 create_contacts", edited)
    assert shown.value.action == "rewritten"
    assert (tmp_path / "migrations" / "migration_001_create_contacts.sql").read_text() == edited


def test_changed_applied_cell_is_refused_then_forced(connected: InteractiveShell, db_path: Path) -> None:
    migration(connected, "001 create_contacts --apply", SQL_001)
    assert ledger(db_path) == {"001": "applied"}
    edited = SQL_001.replace("note TEXT", "note TEXT NOT NULL")
    with pytest.raises(magics.CellFailure) as caught:
        migration(connected, "001 create_contacts", edited)
    assert isinstance(caught.value.error, ChangedMigrationError)
    assert "write a new migration" in str(caught.value).lower()
    assert states(connected) == {"001": "applied"}
    forced = migration(connected, "001 create_contacts --force", edited)
    assert forced.value.action == "forced"
    assert states(connected) == {"001": "changed"}


def test_apply_applies_at_once(connected: InteractiveShell, db_path: Path) -> None:
    shown = migration(connected, "001 create_contacts --apply", SQL_001)
    assert shown.value.run is not None and [s.outcome for s in shown.value.run.steps] == ["applied"]
    assert "applied 001 create_contacts" in repr(shown)
    assert "contacts" in tables(db_path)
    assert shown.data["run"]["steps"][0]["version"] == "001"


def test_python_cell_is_detected_and_written_as_py(connected: InteractiveShell, tmp_path: Path) -> None:
    migration(connected, "001 create_contacts", SQL_001)
    shown = migration(connected, "003 add_email --apply", PY_003)
    assert shown.value.kind == "python"
    assert (tmp_path / "migrations" / "migration_003_add_email.py").read_text() == PY_003
    assert states(connected) == {"001": "applied", "003": "applied"}


def test_another_name_for_a_used_version_is_refused(connected: InteractiveShell) -> None:
    migration(connected, "001 create_contacts", SQL_001)
    with pytest.raises(magics.CellFailure) as caught:
        migration(connected, "001 something_else", SQL_002)
    message = str(caught.value)
    assert "already used by migration_001_create_contacts.sql" in message and "002" in message


def test_a_second_file_with_the_same_version_is_refused(connected: InteractiveShell, tmp_path: Path) -> None:
    migration(connected, "001 create_contacts", SQL_001)
    (tmp_path / "migrations" / "migration_001_create_contacts.py").write_text(PY_003)
    with pytest.raises(magics.CellFailure) as caught:
        migration(connected, "001 create_contacts", SQL_001.replace("note", "body"))
    assert "has 2 files" in str(caught.value)


def test_malformed_cells_are_refused_naming_the_problem(connected: InteractiveShell, tmp_path: Path) -> None:
    cases = {
        "CREATE TABLE t (id INTEGER);": "no '-- up' marker",
        "async def up(db):\n    await db.execute('x'\n": "syntax error at line",
        "def up(db):\n    pass\n": "`up` must be async",
    }
    for body, problem in cases.items():
        with pytest.raises(magics.CellFailure) as caught:
            migration(connected, "001 bad", body)
        assert problem in str(caught.value)
    assert not (tmp_path / "migrations").exists() or not list((tmp_path / "migrations").iterdir())


def test_bad_migration_arguments_are_usage_errors(connected: InteractiveShell) -> None:
    for line in ("001", "abc name", "001 Bad-Name", "001 name --nope"):
        with pytest.raises(UsageError) as caught:
            connected.run_cell_magic("migration", line, SQL_001)
        assert "\n" not in str(caught.value)
    with pytest.raises(UsageError, match="empty"):
        connected.run_cell_magic("migration", "001 a", "\n  \n")


# -- %migrate: running and rendering ----------------------------------------------------


def _three(shell: InteractiveShell) -> None:
    migration(shell, "001 create_contacts", SQL_001)
    migration(shell, "002 index_note", SQL_002)
    migration(shell, "003 add_email", PY_003)


def test_up_status_down_history_text_and_html(connected: InteractiveShell, db_path: Path) -> None:
    _three(connected)
    up = connected.run_line_magic("migrate", "up")
    assert [r["outcome"] for r in up.rows] == ["applied"] * 3
    assert repr(up).splitlines()[0].startswith("applied 001 create_contacts")
    assert "<table>" in up._repr_html_() and "#1a7f37" in up._repr_html_()

    status = connected.run_line_magic("migrate", "status")
    text = repr(status)
    assert text.splitlines()[0].split() == ["VERSION", "NAME", "STATE", "APPLIED", "AT", "(UTC)"]
    assert text.splitlines()[-1] == "3 migrations: 3 applied"
    html = status._repr_html_()
    assert html.count("<tr>") == 4 and "✔ applied" in html and "title='20" in html
    assert status.rows[0]["applied"] is True and status.data["migrations"][2]["name"] == "add_email"

    down = connected.run_line_magic("migrate", "down --steps 2")
    assert repr(down).startswith("reverted 003 add_email")
    assert states(connected) == {"001": "applied", "002": "pending", "003": "pending"}
    assert "email" not in {c[1] for c in sqlite3.connect(db_path).execute("PRAGMA table_info(contacts)")}

    history = connected.run_line_magic("migrate", "history")
    assert [e["action"] for e in history.rows][:2] == ["revert", "revert"]
    assert "STARTED (UTC)" in repr(history) and "<table>" in history._repr_html_()


def test_dry_run_shows_sql_and_schema_change(connected: InteractiveShell, db_path: Path) -> None:
    migration(connected, "001 create_contacts", SQL_001)
    shown = connected.run_line_magic("migrate", "up --dry-run")
    text = repr(shown)
    assert "CREATE TABLE contacts" in text and "+ table contacts" in text
    assert "CREATE TABLE contacts" in shown._repr_html_() and "schema change" in shown._repr_html_()
    assert "contacts" not in tables(db_path) and states(connected) == {"001": "pending"}


def test_json_returns_the_data(connected: InteractiveShell) -> None:
    migration(connected, "001 create_contacts", SQL_001)
    data = connected.run_line_magic("migrate", "status --json")
    assert isinstance(data, dict) and data["migrations"][0]["state"] == "pending"


def test_schema_show_validate_new(connected: InteractiveShell, tmp_path: Path) -> None:
    migration(connected, "001 create_contacts --apply", SQL_001)
    schema = connected.run_line_magic("migrate", "schema")
    assert "table contacts" in repr(schema) and "<table>" in schema._repr_html_()
    assert connected.run_line_magic("migrate", "show 1").data["source"] == SQL_001
    assert repr(connected.run_line_magic("migrate", "validate")).startswith("ok: 1 migration valid")
    created = connected.run_line_magic("migrate", "new add_phone")
    assert created.data["path"] == str(tmp_path / "migrations" / "migration_002_add_phone.sql")


def test_validate_with_problems_fails_the_cell(connected: InteractiveShell, tmp_path: Path) -> None:
    migration(connected, "001 create_contacts --apply", SQL_001)
    (tmp_path / "migrations" / "migration_001_create_contacts.sql").write_text(SQL_001 + "-- edited\n")
    with pytest.raises(magics.CellFailure) as caught:
        cell(connected, "%migrate validate")
    assert "changed since it was applied" in "\n".join(caught.value._render_traceback_())


def test_to_dataframe(connected: InteractiveShell) -> None:
    migration(connected, "001 create_contacts", SQL_001)
    status = connected.run_line_magic("migrate", "status")
    try:
        import pandas  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="pip install pandas"):
            status.to_dataframe()
    else:
        assert list(status.to_dataframe()["version"]) == ["001"]


# -- errors -----------------------------------------------------------------------------


def test_usage_errors_are_one_line(connected: InteractiveShell) -> None:
    for line in ("", "bogus", "up abc", "down --to 1 --all", "down --steps 0", "status 'unclosed"):
        with pytest.raises(UsageError) as caught:
            connected.run_line_magic("migrate", line)
        message = str(caught.value)
        assert "\n" not in message and "nbmigrate" not in message, message


def test_usage_error_does_not_fail_like_a_runtime_error(connected: InteractiveShell) -> None:
    result = connected.run_cell("%migrate bogus")
    assert isinstance(result.error_in_exec, UsageError)


def test_help_is_shown(connected: InteractiveShell, capsys: pytest.CaptureFixture[str]) -> None:
    assert connected.run_line_magic("migrate", "--help") is None
    out = capsys.readouterr().out
    assert out.startswith("usage: %migrate") and "connect" in out
    connected.run_line_magic("migrate", "up --help")
    assert "usage: %migrate up" in capsys.readouterr().out
    doc = connected.find_line_magic("migrate").__doc__
    assert "usage: %migrate" in doc and "%migrate down [--to VERSION]" in doc
    assert "%%migration" in connected.find_cell_magic("migration").__doc__


def test_failing_migration_fails_the_cell_shortly(connected: InteractiveShell, db_path: Path) -> None:
    migration(connected, "001 create_contacts", SQL_001)
    migration(connected, "002 broken", BROKEN)
    result = connected.run_cell("%migrate up")
    failure = result.error_in_exec
    assert isinstance(failure, magics.CellFailure) and isinstance(failure.error, MigrationFailed)
    lines = failure._render_traceback_()
    assert len(lines) <= 4
    assert lines[0].startswith("MigrationFailed: migration 002 (migration_002_broken.sql) failed")
    assert any("INSERT INTO no_such_table" in line for line in lines)
    assert "half" not in tables(db_path)
    assert ledger(db_path) == {"001": "applied"}


def test_debug_shows_the_real_exception(connected: InteractiveShell) -> None:
    migration(connected, "001 broken", BROKEN)
    with pytest.raises(MigrationFailed):
        connected.run_line_magic("migrate", "up --debug")


# -- settings ---------------------------------------------------------------------------


def _out_of_order(shell: InteractiveShell) -> None:
    migration(shell, "001 create_contacts", SQL_001)
    migration(shell, "003 add_email --apply", PY_003)
    migration(shell, "002 index_note", SQL_002)


def test_config_strict_takes_effect(connected: InteractiveShell) -> None:
    _out_of_order(connected)
    cell(connected, "%config NbMigrate.strict = True")
    with pytest.raises(magics.CellFailure) as caught:
        cell(connected, "%migrate up")
    assert isinstance(caught.value.error, OutOfOrderError)
    cell(connected, "%config NbMigrate.strict = False")
    assert [r["version"] for r in connected.run_line_magic("migrate", "up").rows] == ["002"]


def test_strict_flag_overrides_config(connected: InteractiveShell) -> None:
    _out_of_order(connected)
    with pytest.raises(magics.CellFailure):
        cell(connected, "%migrate up --strict")


def test_config_lock_timeout_takes_effect(connected: InteractiveShell, db_path: Path) -> None:
    migration(connected, "001 create_contacts", SQL_001)
    cell(connected, "%config NbMigrate.lock_timeout = 0.3")
    fd = os.open(str(db_path) + ".nbmigrate-lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.pwrite(fd, b"someone else", 0)
        started = time.monotonic()
        with pytest.raises(magics.CellFailure) as caught:
            cell(connected, "%migrate up")
        assert time.monotonic() - started < 5
        assert isinstance(caught.value.error, LockTimeout) and "someone else" in str(caught.value)
    finally:
        os.close(fd)
    assert connected.run_line_magic("migrate", "up").rows[0]["outcome"] == "applied"


# -- completion -------------------------------------------------------------------------


def _complete(shell: InteractiveShell, line: str) -> list[str]:
    with provisionalcompleter():
        return [c.text for c in shell.Completer.completions(line, len(line))]


def test_completion_of_subcommands_and_versions(connected: InteractiveShell) -> None:
    _three(connected)
    in_notebooks = [c.name for c in commands.in_face("notebook")]
    assert "runbook" in commands.COMMANDS and "runbook" not in in_notebooks
    assert _complete(connected, "%migrate ") == sorted(in_notebooks)
    assert _complete(connected, "%migrate st") == ["status"]
    assert _complete(connected, "%migrate re") == sorted(c for c in in_notebooks if c.startswith("re"))
    assert "runbook" not in _complete(connected, "%migrate run")
    for line in (
        "%migrate up ",
        "%migrate down --to ",
        "%migrate mark ",
        "%migrate unmark ",
        "%migrate show ",
    ):
        assert _complete(connected, line) == ["001", "002", "003"], line
    assert _complete(connected, "%migrate show 00") == ["001", "002", "003"]
    assert "--dry-run" in _complete(connected, "%migrate up --d")
    status_options = _complete(connected, "%migrate status ")  # options, not Jedi's keywords
    assert "--json" in status_options and "--db" not in status_options and "and" not in status_options
    assert "--dir" in _complete(connected, "%migrate connect x.db --")


# -- async: beside top-level await and the user's own manager ---------------------------


def test_magics_beside_top_level_await_and_own_manager(connected: InteractiveShell, db_path: Path) -> None:
    migration(connected, "001 create_contacts", SQL_001)
    migration(connected, "002 index_note", SQL_002)
    cell(
        connected,
        f"import asyncio, nbmigrate\n"
        f"db = await nbmigrate.connect('sqlite:///{db_path}')\n"
        f"manager = nbmigrate.MigrationManager(db, 'migrations')\n"
        f"report = await manager.up('001')\n"
        f"after_own = %migrate status\n"
        f"await asyncio.sleep(0)\n"
        f"by_magic = %migrate up\n"
        f"seen_by_own = [r['applied'] for r in await nbmigrate.get_migration_status(db, 'migrations')]\n",
    )
    ns = connected.user_ns
    assert [s.version for s in ns["report"].steps] == ["001"]
    assert [r["state"] for r in ns["after_own"].rows] == ["applied", "pending"]
    assert [r["version"] for r in ns["by_magic"].rows] == ["002"]
    assert ns["seen_by_own"] == [True, True]
    cell(connected, "await db.disconnect()")


# -- the bridge -------------------------------------------------------------------------


def _interrupt_main_after(event: threading.Event) -> None:
    def fire() -> None:
        if event.wait(10):
            os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=fire, daemon=True).start()


def test_bridge_interrupt_cancels_and_waits_for_the_cleanup() -> None:
    started, cleaned = threading.Event(), threading.Event()

    async def long() -> None:
        started.set()
        try:
            await asyncio.sleep(60)
        finally:
            await asyncio.sleep(0.2)  # a rollback takes a moment
            cleaned.set()

    _interrupt_main_after(started)
    with pytest.raises(KeyboardInterrupt):
        bridge.run(long())
    assert cleaned.is_set()
    assert bridge.run(asyncio.sleep(0, result=7)) == 7  # the loop is still usable


def test_bridge_cancel_before_the_coroutine_started() -> None:
    loop = bridge.get_loop()
    ran = threading.Event()

    async def never() -> None:
        ran.set()

    loop.call_soon_threadsafe(time.sleep, 0.2)  # keep the loop busy: the task is queued, not started
    handle = bridge._Handle()
    asyncio.run_coroutine_threadsafe(bridge._hosted(never(), handle), loop)
    bridge._cancel_and_wait(loop, handle)
    assert handle.finished.is_set() and not ran.is_set()
    orphan = bridge._Handle()  # interrupted before it was even submitted
    bridge._cancel_and_wait(loop, orphan)
    assert orphan.finished.is_set()


def test_bridge_timeout_cancels() -> None:
    cancelled = threading.Event()

    async def long() -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    with pytest.raises(TimeoutError):
        bridge.run(long(), timeout=0.2)
    assert cancelled.is_set()


def test_interrupted_migration_rolls_back_and_releases_the_lock(
    connected: InteractiveShell, db_path: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "started"
    migration(connected, "001 create_contacts", SQL_001)
    long_running = (
        "import asyncio, pathlib\n\n\nasync def up(db):\n"
        "    await db.execute('CREATE TABLE big (n INTEGER)')\n"
        f"    pathlib.Path({str(marker)!r}).touch()\n"
        "    for i in range(10_000_000):\n"
        "        await db.execute('INSERT INTO big VALUES (?)', (i,))\n"
        "        await asyncio.sleep(0)\n\n\nasync def down(db):\n    await db.execute('DROP TABLE big')\n"
    )
    migration(connected, "002 long_running", long_running)
    seen = threading.Event()
    threading.Thread(target=lambda: _wait_for(marker) and seen.set(), daemon=True).start()
    _interrupt_main_after(seen)
    with pytest.raises(KeyboardInterrupt) as caught:
        connected.run_line_magic("migrate", "up")
    assert caught.value._render_traceback_() == [  # type: ignore[attr-defined]
        "KeyboardInterrupt: applied 001 create_contacts first; then migration 002 (long_running) "
        "was rolled back; the lock is released"
    ]
    assert "big" not in tables(db_path)
    assert ledger(db_path) == {"001": "applied"}
    with sqlite3.connect(db_path) as conn:
        assert ("002", "interrupted") in conn.execute(
            "SELECT version, outcome FROM _migrations_log"
        ).fetchall()
    fd = os.open(str(db_path) + ".nbmigrate-lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free: nobody holds it
    finally:
        os.close(fd)
    assert states(connected) == {"001": "applied", "002": "pending"}


def _wait_for(path: Path, seconds: float = 20) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if path.exists():
            return True
        time.sleep(0.01)
    return False


# -- progress, loading, unloading -------------------------------------------------------


def test_progress_bar_on_runs_of_several(
    connected: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    _three(connected)
    connected.run_line_magic("migrate", "up")
    err = capsys.readouterr().err
    assert "3/3" in err or "2/3" in err, err
    connected.run_line_magic("migrate", "down")
    assert "migration/s" not in capsys.readouterr().err  # one migration: no bar


def test_verbose_shows_the_migrations_log_lines(
    connected: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    body = (
        "import logging\n\n\nasync def up(db):\n"
        "    logging.getLogger('nbmigrate').info('hello from 001')\n"
        "    await db.execute('CREATE TABLE t (id INTEGER)')\n"
    )
    migration(connected, "001 logs", body)
    migration(connected, "002 logs_again", body.replace("001", "002").replace("TABLE t", "TABLE u"))
    connected.run_line_magic("migrate", "up 001")
    assert "hello from 001" not in capsys.readouterr().err
    connected.run_line_magic("migrate", "up -v")
    assert "hello from 002" in capsys.readouterr().err


def test_unload_disconnects_and_stops_the_loop(shell: InteractiveShell) -> None:
    shell.run_line_magic("migrate", "status")
    assert bridge.is_running()
    shell.run_line_magic("unload_ext", "nbmigrate")
    assert not bridge.is_running()
    assert shell.find_line_magic("migrate") is None and shell.find_cell_magic("migration") is None
    assert not any(isinstance(c, magics.NbMigrate) for c in shell.configurables)
    assert not any(
        isinstance(getattr(m, "__self__", None), magics.NbMigrate) for m in shell.Completer.custom_matchers
    )
    shell.run_line_magic("load_ext", "nbmigrate")
    assert shell.run_line_magic("migrate", "status").rows == []


def test_the_core_never_imports_ipython() -> None:
    code = "import nbmigrate, nbmigrate.cli, nbmigrate.notebook.authoring, nbmigrate.notebook.display, nbmigrate.notebook.bridge, sys; "
    code += "assert 'IPython' not in sys.modules, 'IPython imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
