"""The seed system's functions, so its README snippets run with only their imports changed."""

from __future__ import annotations

from typing import Any

from . import config
from .engine.database import Database
from .engine.manager import MigrationManager
from .reports import RunReport


def get_database(url: str | None = None) -> Database:
    """A not-yet-connected Database for the configured URL (call `await db.connect()`)."""
    return Database(url)


def get_migration_manager(db: Database, directory: str | None = None) -> MigrationManager:
    """A manager for the configured migrations directory; files are discovered on their own."""
    settings = config.resolve(directory=directory)
    return MigrationManager.from_settings(db, settings)


async def run_migrations(db: Database, directory: str | None = None) -> RunReport:
    """Apply every pending migration, as the seed's application did at start-up."""
    return await get_migration_manager(db, directory).up()


async def get_migration_status(db: Database, directory: str | None = None) -> list[dict[str, Any]]:
    """One dict per migration: version, name, applied, applied_at (plus state and more)."""
    report = await get_migration_manager(db, directory).status()
    return report.rows


async def reset_database(db: Database, directory: str | None = None) -> RunReport:
    """Drop every table, ledger included (development only); `run_migrations` rebuilds."""
    return await get_migration_manager(db, directory).reset(yes=True)
