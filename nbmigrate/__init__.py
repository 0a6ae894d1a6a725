"""nbmigrate: async database migrations for Jupyter, the shell and application start-up."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

from .compat import (
    get_database,
    get_migration_manager,
    get_migration_status,
    reset_database,
    run_migrations,
)
from .database import Database, connect
from .errors import (
    ConfigError,
    InvalidMigrationSet,
    LockTimeout,
    MigrationFailed,
    NbMigrateError,
    SourceError,
)
from .manager import MigrationManager
from .model import Migration, State

DatabaseConnection = Database  # the seed's name for the object migrations receive

__all__ = [
    "ConfigError",
    "Database",
    "DatabaseConnection",
    "InvalidMigrationSet",
    "LockTimeout",
    "Migration",
    "MigrationFailed",
    "MigrationManager",
    "NbMigrateError",
    "SourceError",
    "State",
    "__version__",
    "connect",
    "get_database",
    "get_migration_manager",
    "get_migration_status",
    "load_ipython_extension",
    "reset_database",
    "run_migrations",
    "unload_ipython_extension",
]


def load_ipython_extension(ipython: Any) -> None:
    """`%load_ext nbmigrate`: register `%migrate` and `%%migration`."""
    from .magics import load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """`%unload_ext nbmigrate`: close connections and stop the background loop."""
    from .magics import unload

    unload(ipython)
