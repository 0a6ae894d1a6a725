"""The seed system's README, run as real code with only its import lines changed.

Each snippet below is copied from the seed's README (`seed/000_c28db45773ab7572.txt`);
the one change is the import line, which becomes `IMPORT`. The migrations are the repo's
`migrations/` (whose 002 is the README's own example, written here verbatim), the README's
migration template filled in, and the data migration from its best practices.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, write

IMPORT = (
    "from nbmigrate import get_database, run_migrations, get_migration_status, "
    "get_migration_manager, reset_database"
)

# -- the README's snippets, verbatim but for IMPORT -----------------------------------

MANUALLY_RUN = f"""
import asyncio
import sys
sys.path.insert(0, 'src')
{IMPORT}

async def main():
    db = get_database()
    await db.connect()
    await run_migrations(db)
    await db.disconnect()

asyncio.run(main())
"""

CHECK_STATUS = f"""
{IMPORT}

async def check_status():
    db = get_database()
    await db.connect()
    
    status = await get_migration_status(db)
    
    for migration in status:
        applied = "✓" if migration['applied'] else "✗"
        print(f"{{applied}} {{migration['version']}} - {{migration['name']}}")
        if migration['applied']:
            print(f"  Applied: {{migration['applied_at']}}")
    
    await db.disconnect()
"""  # noqa: W293  (the README's blank lines keep their indentation)

ROLLBACK = f"""
{IMPORT}

async def rollback():
    db = get_database()
    await db.connect()
    
    manager = get_migration_manager(db)
    success = await manager.rollback_last_migration()
    
    if success:
        print("✓ Rollback successful")
    else:
        print("✗ Rollback failed")
    
    await db.disconnect()
"""  # noqa: W293

RESET = f"""
{IMPORT}

async def reset():
    db = get_database()
    await db.connect()
    await reset_database(db)
    await db.disconnect()
"""

# The README's example migration (Step 1), with its two relative imports made absolute.
ADD_USER_PREFERENCES = '''\
# migration_002_add_user_preferences.py
"""
Migration 002: Add User Preferences
Adds a user_preferences table for storing user settings
"""

import logging
from nbmigrate import Migration
from nbmigrate import DatabaseConnection

logger = logging.getLogger(__name__)


class AddUserPreferencesMigration(Migration):
    """Add user preferences table"""

    def __init__(self):
        super().__init__(
            version="002",
            name="add_user_preferences",
            description="Add user_preferences table for storing user settings"
        )

    async def up(self, db: DatabaseConnection):
        """Apply the migration"""
        logger.info("Adding user_preferences table...")

        await db.execute("""
            CREATE TABLE IF NOT EXISTS user_preferences (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                user_id INTEGER NOT NULL,
                preference_key TEXT NOT NULL,
                preference_value TEXT,
                created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
                updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
                UNIQUE(user_id, preference_key)
            );
        """)

        await db.execute("""
            CREATE INDEX IF NOT EXISTS idx_user_preferences_user_id 
            ON user_preferences(user_id);
        """)

        await db.commit()
        logger.info("✓ User preferences table added successfully")

    async def down(self, db: DatabaseConnection):
        """Rollback the migration"""
        logger.warning("Removing user_preferences table...")

        await db.execute("DROP TABLE IF EXISTS user_preferences")
        await db.commit()

        logger.warning("✓ User preferences table removed")
'''  # noqa: W291  (the README's trailing space after idx_user_preferences_user_id)

# The README's "Migration File Template", filled in: VERSION and a real statement.
TEMPLATE = '''\
"""
Migration {version}: Brief Description
Detailed description of what this migration does
"""

import logging
from nbmigrate import Migration
from nbmigrate import DatabaseConnection

logger = logging.getLogger(__name__)


class YourMigrationName(Migration):
    """Brief description"""

    def __init__(self):
        super().__init__(
            version="{version}",  # 3-digit version number
            name="your_migration_name",
            description="Detailed description of the migration"
        )

    async def up(self, db: DatabaseConnection):
        """Apply the migration"""
        logger.info("Applying migration...")

        # Your migration code here
        await db.execute("""
            CREATE TABLE IF NOT EXISTS from_template (id INTEGER PRIMARY KEY, note TEXT)
        """)

        await db.commit()
        logger.info("✓ Migration applied successfully")

    async def down(self, db: DatabaseConnection):
        """Rollback the migration"""
        logger.warning("Rolling back migration...")

        # Your rollback code here
        await db.execute("""
            DROP TABLE IF EXISTS from_template
        """)

        await db.commit()
        logger.warning("✓ Migration rolled back successfully")
'''

# Best practice 4, "Handle Data Migrations Carefully": the example's `up`, verbatim, in a class.
DATA_MIGRATION = '''\
"""
Migration 002: Add contacts.verified
The data migration example of the seed README's best practices
"""

import logging
from nbmigrate import Migration
from nbmigrate import DatabaseConnection

logger = logging.getLogger(__name__)


class AddContactVerified(Migration):
    """Mark contacts with a phone number as verified"""

    def __init__(self):
        super().__init__(
            version="002",
            name="add_contact_verified",
            description="Add contacts.verified and backfill it"
        )

    async def up(self, db: DatabaseConnection):
        # Add new column
        await db.execute("ALTER TABLE contacts ADD COLUMN verified BOOLEAN DEFAULT 0")
        
        # Migrate existing data in batches
        offset = 0
        batch_size = 1000
        
        while True:
            rows = await db.fetch_all(
                f"SELECT id FROM contacts LIMIT {batch_size} OFFSET {offset}"
            )
            
            if not rows:
                break
                
            # Process batch
            for row in rows:
                # Update based on business logic
                await db.execute(
                    "UPDATE contacts SET verified = 1 WHERE id = ? AND phone IS NOT NULL",
                    (row[0],)
                )
            
            offset += batch_size
            logger.info(f"Processed {offset} records...")
        
        await db.commit()

    async def down(self, db: DatabaseConnection):
        await db.execute("ALTER TABLE contacts DROP COLUMN verified")
        await db.commit()
'''  # noqa: W293

CONTACTS_SQL = """\
-- the seed's contacts table, as far as the data migration needs it
-- up
CREATE TABLE contacts (id INTEGER PRIMARY KEY AUTOINCREMENT, first_name TEXT NOT NULL, phone TEXT);
-- down
DROP TABLE contacts;
"""

# -- a tmp project like the seed's backend/ folder ------------------------------------


class SeedProject:
    """A tmp cwd whose pyproject.toml points nbmigrate at a tmp database and migrations dir."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.migrations = root / "migrations"
        self.db_path = root / "data" / "contacts.db"

    def versions(self) -> list[str]:
        return sorted(
            m.group(1)
            for p in self.migrations.iterdir()
            if (m := re.match(r"migration_(\d+)_[a-z0-9_]+\.(?:py|sql)$", p.name))
        )

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        with closing(sqlite3.connect(self.db_path)) as conn:
            return [tuple(r) for r in conn.execute(sql)]

    def tables(self) -> set[str]:
        rows = self.query("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        return {r[0] for r in rows if not r[0].startswith("_migrations")}

    def ledger(self) -> list[str]:
        if "_migrations" not in {r[0] for r in self.query("SELECT name FROM sqlite_master")}:
            return []
        return [r[0] for r in self.query("SELECT version FROM _migrations ORDER BY version")]


def snippet(source: str, name: str) -> Any:
    """Define the snippet's code as real module code and return its coroutine function `name`."""
    namespace: dict[str, Any] = {"__name__": "seed_readme_snippet"}
    exec(compile(source, f"<seed README: {name}>", "exec"), namespace)
    return namespace[name]


async def run_migrations_now() -> None:
    from nbmigrate import get_database, run_migrations

    db = get_database()
    await db.connect()
    await run_migrations(db)
    await db.disconnect()


@pytest.fixture
def seed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SeedProject]:
    project = SeedProject(tmp_path / "backend")
    shutil.copytree(ROOT / "migrations", project.migrations)
    write(project.migrations, "migration_002_add_user_preferences.py", ADD_USER_PREFERENCES)
    template_version = f"{int(project.versions()[-1]) + 1:03d}"
    write(
        project.migrations,
        f"migration_{template_version}_your_migration_name.py",
        TEMPLATE.format(version=template_version),
    )
    project.db_path.parent.mkdir()
    write(
        project.root,
        "pyproject.toml",
        '[project]\nname = "backend"\n\n[tool.nbmigrate]\n'
        'database = "sqlite:///data/contacts.db"\nmigrations = "migrations"\n',
    )
    for name in list(os.environ):
        if name in ("NBMIGRATE_DATABASE_URL", "NBMIGRATE_MIGRATIONS", "NBMIGRATE_STRICT"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(project.root)
    yield project


# -- the snippets ---------------------------------------------------------------------


def run_snippet_process(
    seed: SeedProject, code: str, timeout: float = 120, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`python -c CODE` in the project's folder, as the README's shell snippet runs."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("NBMIGRATE_")}
    full_env["PYTHONPATH"] = str(ROOT)
    full_env.update(env or {})
    try:
        return subprocess.run(
            [sys.executable, "-c", code],
            cwd=seed.root,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"the snippet's process did not end within {timeout}s; stderr so far: {exc.stderr!r}")


def test_manually_run_migrations(seed: SeedProject) -> None:
    """The README's shell snippet, `python -c "..."`, with the database from NBMIGRATE_DATABASE_URL."""
    env = {"NBMIGRATE_DATABASE_URL": "sqlite:///from_env.db"}
    r = run_snippet_process(seed, MANUALLY_RUN, env=env)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    assert not seed.db_path.exists()  # the environment beats pyproject.toml
    seed.db_path = seed.root / "from_env.db"
    assert seed.ledger() == seed.versions()
    assert {"contacts", "messages", "user_preferences", "from_template"} <= seed.tables()
    indexes = {r[0] for r in seed.query("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert "idx_user_preferences_user_id" in indexes
    # and again: "Once applied, a migration is never run again"
    again = run_snippet_process(seed, MANUALLY_RUN, env=env)
    assert again.returncode == 0, again.stderr
    assert seed.query("SELECT count(*) FROM _migrations") == [(len(seed.versions()),)]


def test_failing_migration_in_the_manual_snippet_ends_the_process(seed: SeedProject) -> None:
    broken = f"{int(seed.versions()[-1]) + 1:03d}"
    write(
        seed.migrations,
        f"migration_{broken}_broken.sql",
        "-- up\nCREATE TABLE broken_first (id INTEGER);\nINSERT INTO nosuch_table VALUES (1);\n"
        "-- down\nDROP TABLE broken_first;\n",
    )
    r = run_snippet_process(seed, MANUALLY_RUN, timeout=8)
    assert r.returncode == 1, r.stderr
    assert f"migration_{broken}_broken.sql" in r.stderr and "nosuch_table" in r.stderr
    assert seed.ledger() == seed.versions()[:-1]  # the good ones stay applied
    assert "broken_first" not in seed.tables()


def test_check_status(seed: SeedProject, capsys: pytest.CaptureFixture[str]) -> None:
    check_status = snippet(CHECK_STATUS, "check_status")
    asyncio.run(check_status())
    before = capsys.readouterr().out.splitlines()
    assert before[0].startswith("✗ 001 - ")
    assert "✗ 002 - add_user_preferences" in before
    assert len(before) == len(seed.versions())
    assert not any("Applied:" in line for line in before)

    asyncio.run(run_migrations_now())
    asyncio.run(check_status())
    after = capsys.readouterr().out.splitlines()
    assert len(after) == 2 * len(seed.versions())
    names = after[0::2]
    assert [line.split()[1] for line in names] == seed.versions()
    assert all(line.startswith("✓ ") for line in names)
    assert "✓ 002 - add_user_preferences" in names
    assert "✓ " + seed.versions()[-1] + " - your_migration_name" in names
    now = datetime.now(timezone.utc)
    for line in after[1::2]:
        assert line.startswith("  Applied: "), line
        applied_at = datetime.fromisoformat(line.removeprefix("  Applied: "))
        if applied_at.tzinfo is None:
            applied_at = applied_at.replace(tzinfo=timezone.utc)
        assert abs(now - applied_at) < timedelta(minutes=5)


def test_get_migration_status_gives_the_seed_keys(seed: SeedProject) -> None:
    from nbmigrate import get_database, get_migration_status

    async def go() -> list[dict[str, Any]]:
        db = get_database()
        await db.connect()
        try:
            return await get_migration_status(db)
        finally:
            await db.disconnect()

    rows = asyncio.run(go())
    assert [r["version"] for r in rows] == seed.versions()
    for row in rows:
        assert {"version", "name", "applied", "applied_at"} <= set(row)
        assert row["applied"] is False and row["applied_at"] is None


def test_rollback(seed: SeedProject, capsys: pytest.CaptureFixture[str]) -> None:
    rollback = snippet(ROLLBACK, "rollback")
    versions = seed.versions()
    asyncio.run(run_migrations_now())
    assert "from_template" in seed.tables()

    asyncio.run(rollback())
    assert capsys.readouterr().out == "✓ Rollback successful\n"
    assert seed.ledger() == versions[:-1]
    assert "from_template" not in seed.tables()

    from nbmigrate import get_database, get_migration_manager

    async def rollback_returns() -> bool:
        db = get_database()
        await db.connect()
        try:
            return await get_migration_manager(db).rollback_last_migration()
        finally:
            await db.disconnect()

    assert asyncio.run(rollback_returns()) is True
    assert seed.ledger() == versions[:-2]
    while seed.ledger():
        assert asyncio.run(rollback_returns()) is True
    assert asyncio.run(rollback_returns()) is False  # nothing applied

    asyncio.run(rollback())
    assert capsys.readouterr().out == "✗ Rollback failed\n"


def test_rollback_returns_false_when_down_fails(
    seed: SeedProject, capsys: pytest.CaptureFixture[str]
) -> None:
    version = f"{int(seed.versions()[-1]) + 1:03d}"
    write(
        seed.migrations,
        f"migration_{version}_bad_down.py",
        f'''"""A down step that fails half-way."""
from nbmigrate import Migration


class BadDown(Migration):
    def __init__(self):
        super().__init__(version="{version}", name="bad_down", description="down fails")

    async def up(self, db):
        await db.execute("CREATE TABLE bad_down (id INTEGER)")
        await db.commit()

    async def down(self, db):
        await db.execute("DROP TABLE bad_down")
        await db.execute("DROP TABLE no_such_table")
        await db.commit()
''',
    )
    asyncio.run(run_migrations_now())
    asyncio.run(snippet(ROLLBACK, "rollback")())
    assert capsys.readouterr().out == "✗ Rollback failed\n"
    assert seed.ledger()[-1] == version
    assert "bad_down" in seed.tables()  # the half-done down was rolled back


def test_reset_deletes_all_data(seed: SeedProject) -> None:
    asyncio.run(run_migrations_now())
    with closing(sqlite3.connect(seed.db_path)) as conn:
        conn.execute("INSERT INTO contacts (first_name, phone) VALUES ('Ada', '+100')")
        conn.execute("INSERT INTO user_preferences (user_id, preference_key) VALUES (1, 'theme')")
        conn.commit()

    asyncio.run(snippet(RESET, "reset")())
    assert seed.tables() == set()
    assert seed.ledger() == []

    asyncio.run(run_migrations_now())  # "restart the application": everything again, empty
    assert seed.ledger() == seed.versions()
    assert seed.query("SELECT count(*) FROM contacts") == [(0,)]
    assert seed.query("SELECT count(*) FROM user_preferences") == [(0,)]


def test_data_migration_example_and_fetch_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    project = SeedProject(tmp_path / "backend")
    project.migrations.mkdir(parents=True)
    project.db_path.parent.mkdir()
    write(project.migrations, "migration_001_contacts.sql", CONTACTS_SQL)
    monkeypatch.chdir(project.root)
    monkeypatch.setenv("NBMIGRATE_DATABASE_URL", "sqlite:///data/contacts.db")
    monkeypatch.delenv("NBMIGRATE_MIGRATIONS", raising=False)
    total = 2500  # three batches of the example's 1000, and the empty one that ends the loop

    from nbmigrate import get_database, run_migrations

    async def load_contacts() -> None:
        db = get_database()
        await db.connect()
        await run_migrations(db)
        async with db.transaction():
            await db.executemany(
                "INSERT INTO contacts (first_name, phone) VALUES (?, ?)",
                [(f"c{i}", f"+{i}" if i % 3 else None) for i in range(1, total + 1)],
            )
        await db.disconnect()

    asyncio.run(load_contacts())
    write(project.migrations, "migration_002_add_contact_verified.py", DATA_MIGRATION)
    caplog.set_level(logging.INFO)
    asyncio.run(run_migrations_now())
    assert "Processed 3000 records..." in caplog.text

    with_phone = sum(1 for i in range(1, total + 1) if i % 3)
    assert project.ledger() == ["001", "002"]
    assert project.query("SELECT count(*) FROM contacts WHERE verified = 1") == [(with_phone,)]
    assert project.query("SELECT count(*) FROM contacts WHERE verified = 1 AND phone IS NULL") == [(0,)]

    async def fetch_one_checks() -> None:
        db = get_database()
        await db.connect()
        try:
            row = await db.fetch_one("SELECT id, first_name, verified FROM contacts WHERE id = ?", (3,))
            assert row is not None
            assert (row[0], row["first_name"], row["verified"]) == (3, "c3", 0)
            row = await db.fetch_one("SELECT count(*) FROM contacts WHERE verified = 1")
            assert row[0] == with_phone
            assert await db.fetch_one("SELECT id FROM contacts WHERE id < 0") is None
            rows = await db.fetch_all("SELECT id FROM contacts ORDER BY id LIMIT 2")
            assert [r[0] for r in rows] == [1, 2]
        finally:
            await db.disconnect()

    asyncio.run(fetch_one_checks())
