"""`authoring.write_cell`, the logic behind `%%migration`, without IPython, on real SQLite files."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest

from nbmigrate import Database, MigrationManager
from nbmigrate.errors import ChangedMigrationError, ConfigError, PlanError, SourceError
from nbmigrate.notebook import authoring

T = TypeVar("T")

SQL = "-- up\nCREATE TABLE t (id INTEGER, note TEXT DEFAULT '{x} $x');\n-- down\nDROP TABLE t;\n"
PY = "async def up(db):\n    await db.execute('CREATE TABLE p (id INTEGER)')\n"


def run(tmp_path: Path, action: Callable[[MigrationManager], Awaitable[T]]) -> T:
    async def go() -> T:
        manager = MigrationManager(Database(f"sqlite:///{tmp_path / 'a.db'}"), tmp_path / "migrations")
        try:
            return await action(manager)
        finally:
            await manager.db.disconnect()

    return asyncio.run(go())


def write(tmp_path: Path, version: str, name: str, body: str, **kw: bool) -> authoring.AuthoredMigration:
    return run(tmp_path, lambda m: authoring.write_cell(m, version, name, body, **kw))


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        (SQL, "sql"),
        (PY, "python"),
        ("-- up\n-- down\n", "sql"),  # parses as Python (`- -up`), defines no up
        ("from nbmigrate import Migration\nclass M(Migration):\n    async def up(self, db): ...\n", "python"),
        ("async def up(db):\n    await db.execute('x'\n", "python"),  # broken Python is still Python
    ],
)
def test_detect_kind(body: str, kind: str) -> None:
    assert authoring.detect_kind(body) == kind


def test_write_no_op_rewrite(tmp_path: Path) -> None:
    first = write(tmp_path, "1", "create_t", SQL)
    assert (first.version, first.action, first.kind) == ("001", "created", "sql")
    assert first.path.read_text() == SQL
    assert write(tmp_path, "001", "create_t", SQL + "\n  \n").action == "unchanged"
    assert write(tmp_path, "001", "create_t", SQL.replace("id", "key")).action == "rewritten"


def test_changing_kind_of_an_unapplied_migration_replaces_its_file(tmp_path: Path) -> None:
    sql = write(tmp_path, "001", "create_t", SQL)
    py = write(tmp_path, "001", "create_t", PY)
    assert py.action == "rewritten" and py.replaced == sql.path and not sql.path.exists()
    assert "removed migration_001_create_t.sql" in py.message


def test_applied_is_refused_unless_forced(tmp_path: Path) -> None:
    applied = write(tmp_path, "001", "create_t", SQL, apply=True)
    assert applied.run is not None and applied.run.steps[0].outcome == "applied"
    with pytest.raises(ChangedMigrationError, match="Write a new migration"):
        write(tmp_path, "001", "create_t", SQL.replace("id", "key"))
    assert write(tmp_path, "001", "create_t", SQL).action == "unchanged"
    assert write(tmp_path, "001", "create_t", SQL.replace("id", "key"), force=True).action == "forced"
    status = run(tmp_path, lambda m: m.status())
    assert [s.state.value for s in status.migrations] == ["changed"]
    restored = write(tmp_path, "001", "create_t", SQL)  # back to what was applied: allowed
    assert restored.action == "rewritten"
    assert [s.state.value for s in run(tmp_path, lambda m: m.status()).migrations] == ["applied"]


def test_file_deleted_after_apply_can_be_written_back(tmp_path: Path) -> None:
    first = write(tmp_path, "001", "create_t", SQL, apply=True)
    first.path.unlink()
    assert write(tmp_path, "001", "create_t", SQL).action == "created"
    with pytest.raises(ChangedMigrationError):
        write(tmp_path, "001", "create_t", SQL + "-- more\n")


def test_a_used_version_under_another_name_is_refused(tmp_path: Path) -> None:
    write(tmp_path, "001", "create_t", SQL)
    write(tmp_path, "002", "second", SQL.replace("t ", "u "))
    with pytest.raises(PlanError, match=r"already used by migration_001_create_t\.sql.*next free one is 003"):
        write(tmp_path, "001", "other", SQL)


def test_a_version_in_the_ledger_under_another_name_is_refused(tmp_path: Path) -> None:
    first = write(tmp_path, "001", "create_t", SQL, apply=True)
    first.path.unlink()
    with pytest.raises(PlanError, match="recorded in the ledger as 'create_t'"):
        write(tmp_path, "001", "renamed", SQL)


def test_malformed_cells_name_the_file_and_problem(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"migration_001_x\.sql: .*no '-- down' marker"):
        write(tmp_path, "001", "x", "-- up\nSELECT 1;\n")
    with pytest.raises(SourceError, match=r"migration_001_x\.py: syntax error at line 2"):
        write(tmp_path, "001", "x", "async def up(db):\n    await (\n")
    with pytest.raises(SourceError, match="`down` must be async"):
        write(tmp_path, "001", "x", PY + "\ndef down(db):\n    pass\n")
    with pytest.raises(SourceError, match="syntax error"):
        write(tmp_path, "001", "x", "async def up(db):\n    pass\nawait up(None)\n")
    with pytest.raises(ConfigError, match="lowercase"):
        write(tmp_path, "001", "Bad-Name", SQL)
    assert not (tmp_path / "migrations").exists()
