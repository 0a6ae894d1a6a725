"""Reading migrations: the three formats, registration, checksums and every malformed case."""

from __future__ import annotations

from pathlib import Path

import pytest

from nbmigrate import Migration
from nbmigrate.errors import InvalidMigrationSet, SourceError
from nbmigrate.sources.discover import discover, load_all
from nbmigrate.sources.file_migration import checksum_bytes
from tests.conftest import sql_migration, write

CLASS_MIGRATION = '''
"""Migration 002: Add User Preferences"""
from nbmigrate import Migration

class AddUserPreferences(Migration):
    def __init__(self):
        super().__init__(version="002", name="add_user_preferences", description="prefs table")

    async def up(self, db):
        await db.execute("CREATE TABLE prefs (id INTEGER PRIMARY KEY)")
        await db.commit()

    async def down(self, db):
        await db.execute("DROP TABLE prefs")
'''

FUNCTION_MIGRATION = '''
"""Add an audit table."""

async def up(db):
    await db.execute("CREATE TABLE audit (id INTEGER PRIMARY KEY)")

async def down(db):
    await db.execute("DROP TABLE audit")
'''


def problems_of(directory: Path) -> list[SourceError]:
    with pytest.raises(InvalidMigrationSet) as info:
        load_all(discover(directory))
    return info.value.problems


def test_three_formats_are_discovered_in_version_order(migrations_dir: Path) -> None:
    sql_migration(migrations_dir, "001", "first", "CREATE TABLE a (id INTEGER);", "DROP TABLE a;")
    write(migrations_dir, "migration_002_add_user_preferences.py", CLASS_MIGRATION)
    write(migrations_dir, "migration_1000_audit.py", FUNCTION_MIGRATION)
    write(migrations_dir, "README.md", "not a migration")
    write(migrations_dir, "__init__.py", "")
    found = discover(migrations_dir)
    assert [m.version for m in found] == ["001", "002", "1000"]
    load_all(found)
    assert [m.kind for m in found] == ["sql", "python", "python"]
    assert found[1].description == "prefs table"
    assert found[2].description == "Add an audit table."
    assert all(m.transactional and m.reversible for m in found)


def test_versions_compare_as_integers(migrations_dir: Path) -> None:
    for version in ("999", "1000", "010"):
        sql_migration(migrations_dir, version, f"v{version}", "SELECT 1;")
    assert [m.version for m in discover(migrations_dir)] == ["010", "999", "1000"]


@pytest.mark.parametrize(
    ("filename", "text", "expected"),
    [
        ("migration_1_short.sql", "-- up\nSELECT 1;\n-- down\n", "at least 3 digits"),
        ("migration_001_BadName.sql", "-- up\nSELECT 1;\n-- down\n", "lowercase letters"),
        ("001_golang_style.sql", "-- up\nSELECT 1;\n-- down\n", "bad file name"),
        ("migration_001.sql", "-- up\nSELECT 1;\n-- down\n", "bad file name"),
        ("migration_001_no_up.sql", "SELECT 1;\n-- down\n", "up"),
        ("migration_001_no_down.sql", "-- up\nSELECT 1;\n", "down"),
        ("migration_001_syntax.py", "async def up(db)\n    pass\n", "syntax error at line 1"),
        ("migration_001_nothing.py", "x = 1\n", "no migration found"),
        ("migration_001_sync.py", "def up(db):\n    pass\n", "must be async"),
        (
            "migration_001_sync_down.py",
            "async def up(db): pass\ndef down(db): pass\n",
            "`down` must be async",
        ),
        ("migration_001_raises.py", "raise RuntimeError('boom')\n", "RuntimeError while importing at line 1"),
        ("migration_001_relative.py", "from . import Migration\n", "from nbmigrate import Migration"),
        (
            "migration_001_two.py",
            "from nbmigrate import Migration\n"
            "class A(Migration):\n    async def up(self, db): pass\n"
            "class B(Migration):\n    async def up(self, db): pass\n",
            "one per file",
        ),
        (
            "migration_001_cls_no_up.py",
            "from nbmigrate import Migration\nclass A(Migration):\n    pass\n",
            "no `async def up",
        ),
        (
            "migration_001_wrong_version.py",
            "from nbmigrate import Migration\nclass A(Migration):\n    version = '007'\n"
            "    async def up(self, db): pass\n",
            "declares version '007'",
        ),
    ],
)
def test_each_malformed_file_is_named_with_its_problem(
    migrations_dir: Path, filename: str, text: str, expected: str
) -> None:
    sql_migration(migrations_dir, "002", "fine", "SELECT 1;")
    write(migrations_dir, filename, text)
    problems = problems_of(migrations_dir)
    assert len(problems) == 1
    assert problems[0].path.name == filename
    assert expected in str(problems[0]), str(problems[0])
    assert str(problems[0]).startswith(filename)


def test_duplicate_versions_name_both_files(migrations_dir: Path) -> None:
    sql_migration(migrations_dir, "003", "one", "SELECT 1;")
    write(migrations_dir, "migration_003_two.py", FUNCTION_MIGRATION)
    problems = problems_of(migrations_dir)
    assert len(problems) == 1
    assert "duplicate version 003" in str(problems[0])
    assert "migration_003_one.sql" in str(problems[0])
    assert "migration_003_two.py" in str(problems[0])


def test_every_problem_is_reported_at_once(migrations_dir: Path) -> None:
    write(migrations_dir, "migration_1_a.sql", "")
    write(migrations_dir, "migration_002_B.sql", "")
    with pytest.raises(InvalidMigrationSet) as info:
        discover(migrations_dir)
    assert {p.path.name for p in info.value.problems} == {"migration_1_a.sql", "migration_002_B.sql"}
    assert "2 invalid migrations" in str(info.value)


def test_checksum_ignores_line_endings_and_bom() -> None:
    text = b"-- up\nCREATE TABLE a (id INTEGER);\n-- down\nDROP TABLE a;\n"
    crlf = text.replace(b"\n", b"\r\n")
    bom = b"\xef\xbb\xbf" + crlf
    assert checksum_bytes(text) == checksum_bytes(crlf) == checksum_bytes(bom)
    assert checksum_bytes(text) != checksum_bytes(text.replace(b"a", b"b"))


def test_crlf_and_bom_files_load(migrations_dir: Path) -> None:
    body = "-- up\r\nCREATE TABLE a (id INTEGER);\r\n-- down\r\nDROP TABLE a;\r\n"
    (migrations_dir / "migration_001_crlf.sql").write_bytes(b"\xef\xbb\xbf" + body.encode())
    (m,) = discover(migrations_dir)
    load_all([m])
    assert m.up_statements == ["CREATE TABLE a (id INTEGER)"]  # type: ignore[attr-defined]


def test_sql_directive_turns_transactions_off(migrations_dir: Path) -> None:
    sql_migration(migrations_dir, "001", "vacuum", "VACUUM;", header="-- nbmigrate: transactional=false\n")
    (m,) = discover(migrations_dir)
    load_all([m])
    assert m.transactional is False


def test_empty_down_section_means_irreversible(migrations_dir: Path) -> None:
    sql_migration(migrations_dir, "001", "oneway", "CREATE TABLE a (id INTEGER);", "-- nothing to undo")
    (m,) = discover(migrations_dir)
    assert m.reversible is False


def test_status_does_not_import_python_files(migrations_dir: Path) -> None:
    write(migrations_dir, "migration_001_broken.py", "def up(:\n")
    (m,) = discover(migrations_dir)  # names and checksums only: fast on thousands of files
    assert m.version == "001" and m.checksum
    with pytest.raises(InvalidMigrationSet, match="syntax error"):
        load_all([m])


def test_edited_python_file_is_reloaded_not_cached(migrations_dir: Path) -> None:
    path = write(migrations_dir, "migration_001_x.py", '"""one"""\nasync def up(db): pass\n')
    (first,) = discover(migrations_dir)
    load_all([first])
    path.write_text('"""two"""\nasync def up(db): pass\n')  # same size, same second
    (second,) = discover(migrations_dir)
    load_all([second])
    assert (first.description, second.description) == ("one", "two")
    assert first.checksum != second.checksum


def test_registered_migrations_are_checked() -> None:
    from nbmigrate.sources.discover import check_registered

    class Good(Migration):
        version = "005"
        name = "good"

        async def up(self, db):  # type: ignore[no-untyped-def]
            pass

    class SyncUp(Migration):
        version = "006"
        name = "sync_up"

        def up(self, db):  # type: ignore[no-untyped-def,override]
            pass

    assert check_registered(Good()).checksum
    with pytest.raises(SourceError, match="must be async"):
        check_registered(SyncUp())
    with pytest.raises(SourceError, match="must be digits"):
        check_registered(Good(version="5"))
    with pytest.raises(SourceError, match="lowercase"):
        check_registered(Good(name="Bad Name"))
