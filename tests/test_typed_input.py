"""Input a user typed is a usage error (exit 2, one line), never "unexpected" (SPEC 7, last bullet).

Versions are 1 to 20 ASCII digits (`"²²²".isdigit()` is True and `int()` then refuses; a
5,000-digit number is more than `int()` takes); names are matched whole (`$` matches before a
final newline); timeouts are finite, from 0 to a week; counts have a bound. Every refusal is
checked to have left the database as it was, read with sqlite3 / asyncpg directly.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

from nbmigrate import commands, config, errors, model
from nbmigrate.errors import ConfigError, InvalidMigrationSet
from nbmigrate.sources import discover, scaffold
from tests.conftest import query, sql_migration, write
from tests.reliability import harness
from tests.test_cli import all_tables, ledger, simple_set
from tests.test_magics import cell, shell  # noqa: F401  (the fixture, for the magics' tests)

BAD_VERSIONS = ["²²²", "٠٠٥", "00١", "1" * 21, "1" * 5000, "1_000", "+5", "-1", "5 5", "0x10", ""]
BAD_SECONDS = ["nan", "NaN", "inf", "-inf", "Infinity", "-1", "-0.5", "1e300", "604801", "١", "x", ""]


@pytest.fixture(autouse=True)
def no_configuration(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key in list(os.environ):
        if key.startswith("NBMIGRATE_") or key == "DATABASE_URL":
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def applied(db_url: str, migrations_dir: Path) -> list[str]:
    """`--db URL --dir DIR` of a database with 001 of 001-002 applied."""
    simple_set(migrations_dir, 2)
    args = ["--db", db_url, "--dir", str(migrations_dir)]
    done = harness.main(*args, "up", "001", "--no-backup")
    assert done.returncode == 0, done.stderr
    return args


def state(url: str) -> tuple[list[str], set[str], int]:
    """Ledger versions, tables, and log events: read without nbmigrate."""
    return ledger(url), all_tables(url), query(url, "SELECT count(*) FROM _migrations_log")[0][0]


def assert_usage_error(done: harness.Finished) -> str:
    assert done.returncode == 2, (done.args, done.returncode, done.stdout, done.stderr)
    assert not done.crashed and "unexpected" not in done.stdout + done.stderr, done.stderr
    [line] = done.stderr.strip().splitlines()
    return line


# -- versions ---------------------------------------------------------------------------


def test_a_version_is_one_to_twenty_ascii_digits() -> None:
    assert model.normalize_version(" 7 ") == "007"
    assert model.normalize_version("9" * 20) == "9" * 20
    for text in BAD_VERSIONS:
        with pytest.raises(ValueError) as caught:
            model.normalize_version(text)
        assert "\n" not in str(caught.value) and len(str(caught.value)) < 120, str(caught.value)
    for pattern, text in [
        (model.VERSION_RE, "001\n"),
        (model.NAME_RE, "abc\n"),
        (discover.FILE_RE, "migration_001_a.sql\n"),
    ]:
        assert pattern.match(text) is None, pattern.pattern


def test_version_arguments_are_usage_errors_on_every_command(applied: list[str], db_url: str) -> None:
    before = state(db_url)
    for version in BAD_VERSIONS:
        for command in (["mark", version], ["unmark", version], ["show", version], ["up", version],
                        ["down", "--to", version], ["history", version]):  # fmt: skip
            line = assert_usage_error(harness.main(*applied, *command))
            assert "VERSION" in line or "--to" in line, line
    assert state(db_url) == before == (["001"], {"t1", "_migrations", "_migrations_log"}, before[2])


@pytest.mark.parametrize("version", ["1" * 21, "9" * 40])
def test_a_file_version_over_twenty_digits_names_the_file(
    applied: list[str], db_url: str, migrations_dir: Path, version: str
) -> None:
    before = state(db_url)
    sql_migration(migrations_dir, version, "huge", "CREATE TABLE huge (id INTEGER);", "DROP TABLE huge;")
    done = harness.main(*applied, "up", "--no-backup")
    assert done.returncode == 1 and not done.crashed, done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line == (
        f"error: invalid migration: migration_{version}_huge.sql: version has {len(version)} digits; at most 20"
    )
    assert state(db_url) == before  # not even 002 ran


def test_twenty_digit_versions_and_odd_digit_files(
    applied: list[str], db_url: str, migrations_dir: Path
) -> None:
    odd = write(migrations_dir, "migration_٠٠٥_arabic.sql", "-- up\nCREATE TABLE arabic (id INTEGER);\n")
    before = state(db_url)
    done = harness.main(*applied, "up", "--no-backup")
    assert done.returncode == 1 and "migration_٠٠٥_arabic.sql" in done.stderr and not done.crashed
    assert state(db_url) == before
    odd.unlink()
    big = "9" * 20
    sql_migration(migrations_dir, big, "big", "CREATE TABLE big (id INTEGER);", "DROP TABLE big;")
    assert harness.main(*applied, "up", "--no-backup").returncode == 0
    assert ledger(db_url)[-1] == big and "big" in all_tables(db_url)
    assert harness.main(*applied, "unmark", big).returncode == 0
    assert big not in ledger(db_url)


def test_a_class_declaring_a_non_ascii_version_names_its_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "migration_005_declared.py",
        "from nbmigrate import Migration\n\n\nclass Declared(Migration):\n    version = '٠٠٥'\n\n"
        "    async def up(self, db):\n        pass\n",
    )
    with pytest.raises(InvalidMigrationSet) as caught:
        discover.load_all(discover.discover(tmp_path))
    assert "migration_005_declared.py" in str(caught.value) and "'٠٠٥'" in str(caught.value)
    assert path.exists()


# -- names ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["abc\n", "a\x07b", "tab\there", "esc\x1b[31m", "é", "x" * 101, "a/b", ""])
def test_new_refuses_names_with_control_characters_and_writes_nothing(
    applied: list[str], db_url: str, migrations_dir: Path, name: str
) -> None:
    files = sorted(p.name for p in migrations_dir.iterdir())
    line = assert_usage_error(harness.main(*applied, "new", name))
    assert line.startswith("error: migration name "), line
    assert sorted(p.name for p in migrations_dir.iterdir()) == files
    status = harness.main(*applied, "status")  # nothing written that breaks later commands
    assert status.returncode == 0 and not status.crashed, status.stderr
    assert ledger(db_url) == ["001"]


def test_check_name_suggests_and_bounds() -> None:
    assert scaffold.check_name("x" * 100) == "x" * 100
    with pytest.raises(ConfigError, match=r"try 'abc'"):
        scaffold.check_name("abc\n")
    with pytest.raises(ConfigError, match="at most 100"):
        scaffold.check_name("x" * 5000)


# -- timeouts and sizes -----------------------------------------------------------------


def test_bad_lock_timeouts_are_usage_errors_and_nothing_runs(
    applied: list[str], db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = state(db_url)
    for seconds in BAD_SECONDS:
        line = assert_usage_error(harness.main(*applied, "up", f"--lock-timeout={seconds}", "--no-backup"))
        assert "--lock-timeout" in line, line
    for seconds in ("nan", "-1", "inf"):
        monkeypatch.setenv("NBMIGRATE_LOCK_TIMEOUT", seconds)
        line = assert_usage_error(harness.main(*applied, "up", "--no-backup"))
        assert line.startswith("error: lock timeout: "), line
    monkeypatch.delenv("NBMIGRATE_LOCK_TIMEOUT")
    for toml in ("nan", "inf", "-3", '"soon"', "true", "1e9"):
        (tmp_path / "pyproject.toml").write_text(f"[tool.nbmigrate]\nlock_timeout = {toml}\n")
        line = assert_usage_error(harness.main(*applied, "up", "--no-backup"))
        assert line.startswith("error: lock timeout: "), line
    assert state(db_url) == before


def test_absurd_counts_are_usage_errors(applied: list[str], db_url: str) -> None:
    before = state(db_url)
    for args in (["down", "--steps", str(10**30)], ["down", "--steps", "1" * 5000], ["down", "--steps", "1_0"],
                 ["down", "--steps", "١"], ["history", "--limit", str(10**30)], ["history", "--limit", "-1"]):  # fmt: skip
        line = assert_usage_error(harness.main(*applied, *args))
        assert ("--steps" in line or "--limit" in line) and len(line) < 200, line
    assert state(db_url) == before
    assert harness.main(*applied, "history", "--limit", str(10**9)).returncode == 0


def test_a_url_connect_timeout_of_nan_is_a_usage_error(tmp_path: Path) -> None:
    line = assert_usage_error(
        harness.main("--db", "postgresql://u@127.0.0.1:1/db?connect_timeout=nan", "status")
    )
    assert "connect_timeout" in line


def test_the_grammar_bounds_seconds_and_counts() -> None:
    assert commands.parse(["up", "--lock-timeout", "1.5"]).lock_timeout == 1.5
    assert commands.parse(["down", "--steps", " 3 "]).steps == 3
    for argv in (
        ["up", "--lock-timeout", "nan"],
        ["down", "--steps", "0"],
        ["runbook", "x", "--timeout", "inf"],
    ):
        with pytest.raises(errors.UsageError):
            commands.parse(argv)
    assert config.check_seconds(config.MAX_SECONDS, "x") == config.MAX_SECONDS


def test_usage_errors_are_one_line_even_with_a_newline_typed(tmp_path: Path) -> None:
    for argv in (["bogus\nx"], ["status", "extra\nline"], ["mark", "1\n2"]):
        assert re.match(r"nbmigrate", assert_usage_error(harness.main(*argv))), argv


# -- in a notebook ----------------------------------------------------------------------


def test_magic_versions_names_and_timeouts_are_usage_errors(
    shell: InteractiveShell,  # noqa: F811  (test_magics' fixture)
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    db = tmp_path / "app.db"
    shell.run_line_magic("migrate", f"connect sqlite:///{db} --dir migrations")
    cell(
        shell, "%%migration 001 first\n-- up\nCREATE TABLE first (id INTEGER);\n-- down\nDROP TABLE first;\n"
    )
    for line in (
        "٠٠٥ x",
        "²²² x",
        f"{'1' * 5000} x",
        f"{'1' * 21} x",
        "002 a\x07b",
        "002 Bad",
        f"002 {'x' * 101}",
    ):
        with pytest.raises(UsageError) as caught:
            shell.run_cell_magic("migration", line, "-- up\nCREATE TABLE never (id INTEGER);\n")
        assert "\n" not in str(caught.value) and "unexpected" not in str(caught.value), str(caught.value)
    for line in ("mark ²²²", "show ٠٠١", f"up {'1' * 5000}", "up --lock-timeout nan", "down --steps 1e3"):
        with pytest.raises(UsageError) as caught:
            shell.run_line_magic("migrate", line)
        assert "\n" not in str(caught.value), str(caught.value)
    magics = shell.magics_manager.registry["NbMigrate"]
    cell(shell, "%config NbMigrate.lock_timeout = 5")
    for value in ("float('nan')", "float('inf')", "-1", "10**12"):
        caplog.clear()
        shell.run_line_magic("config", f"NbMigrate.lock_timeout = {value}")
        assert magics.lock_timeout == 5.0, value
        assert any("NbMigrate.lock_timeout" in r.getMessage() for r in caplog.records), value
    assert sorted(p.name for p in (tmp_path / "migrations").iterdir()) == ["migration_001_first.sql"]
    assert ledger(f"sqlite:///{db}") == [] and "first" not in all_tables(f"sqlite:///{db}")


# -- paths ------------------------------------------------------------------------------

LONG = "n" * 300  # more than any file system's 255-byte name


def test_paths_no_file_system_can_hold_are_usage_errors(
    applied: list[str], db_url: str, tmp_path: Path
) -> None:
    before = state(db_url)
    for args in (
        ["--dir", LONG, "status"],
        ["--dir", str(tmp_path / LONG / "m"), "up"],
        ["--db", f"{LONG}.db", "status"],
        ["--db", f"sqlite:///{LONG}.db", "up"],
        ["runbook", f"{LONG}.ipynb"],
    ):
        line = assert_usage_error(harness.main(*applied, *args))
        assert "too long for a file system" in line, line
    done = harness.main(*applied, "restore", LONG)  # a lookup that finds nothing: not a usage error
    assert "unexpected" not in done.stderr and not done.crashed, done.stderr
    assert state(db_url) == before
    assert not any(LONG in p.name for p in tmp_path.iterdir())
