"""After a failed `%migrate connect` nothing is connected: every later command refuses, in one line
naming the failure (URL masked), until a connect succeeds. Never the default database, never the
one connected before, silently. Databases are read with sqlite3 / asyncpg directly.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell

from nbmigrate.notebook import magics
from tests.test_cli import all_tables, ledger, simple_set
from tests.test_magics import cell, shell  # noqa: F401  (the fixture)

BAD_CONNECTS = [
    (
        "postgresql://app:Zq@127.0.0.1:1/app?connect_timeout=2",
        "Zq",
        "cannot connect to postgresql://app:***@",
    ),
    ("postgresql://app:a/b@127.0.0.1:5432/app", "a/b", "percent-encode"),
    ("mysql://app:q@127.0.0.1/app", "q", "unsupported database URL 'mysql://app:***@"),
]
LATER = ["%migrate up", "%migrate status", "%migrate history", "%migrate mark 002", "%migrate dashboard"]


def failure_line(shell: InteractiveShell, source: str) -> str:  # noqa: F811
    with pytest.raises(magics.CellFailure) as caught:
        cell(shell, source)
    lines = caught.value._render_traceback_()
    assert len(lines) == 1, lines
    return lines[0]


def assert_refused(shell: InteractiveShell, password: str, reason: str, tmp_path: Path) -> None:  # noqa: F811
    for source in [*LATER, "%%migration 003 third\n-- up\nCREATE TABLE t3 (id INTEGER);\n"]:
        line = failure_line(shell, source)
        assert line.startswith("ConfigError: the last `%migrate connect` failed ("), line
        assert reason in line and line.endswith("run `%migrate connect URL` again"), line
        assert f":{password}@" not in line, line
    assert not (tmp_path / "migrations" / "migration_003_third.sql").exists()
    assert not (tmp_path / "nbmigrate.db").exists()  # never the default database


@pytest.mark.parametrize(("url", "password", "reason"), BAD_CONNECTS, ids=["refused", "misread", "mysql"])
def test_a_failed_first_connect_leaves_nothing_to_fall_back_on(
    shell: InteractiveShell,  # noqa: F811
    tmp_path: Path,
    url: str,
    password: str,
    reason: str,
) -> None:
    (tmp_path / "migrations").mkdir()
    simple_set(tmp_path / "migrations", 2)
    line = failure_line(shell, f"%migrate connect {url} --dir migrations")
    assert f":{password}@" not in line
    assert_refused(shell, password, reason, tmp_path)
    assert magics.NbMigrate.known_versions(shell.magics_manager.registry["NbMigrate"]) == []


def test_a_failed_connect_disconnects_the_earlier_database_until_a_connect_succeeds(
    shell: InteractiveShell,  # noqa: F811
    db_url: str,
    tmp_path: Path,
) -> None:
    (tmp_path / "migrations").mkdir()
    simple_set(tmp_path / "migrations", 2)
    cell(shell, f"%migrate connect {db_url} --dir migrations")
    cell(shell, "%migrate up 001")
    assert ledger(db_url) == ["001"]
    for url, password, reason in BAD_CONNECTS:
        failure_line(shell, f"%migrate connect {url} --dir migrations")
        assert_refused(shell, password, reason, tmp_path)
        assert ledger(db_url) == ["001"] and "t2" not in all_tables(db_url)  # the earlier one: untouched
    assert cell(shell, f"%migrate connect {db_url} --dir migrations").text().startswith("connected to ")
    assert [r["version"] for r in cell(shell, "%migrate up").rows] == ["002"]
    assert ledger(db_url) == ["001", "002"] and "t2" in all_tables(db_url)
