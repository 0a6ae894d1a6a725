"""nbmigrate: async database migrations for Jupyter, the shell and application start-up."""

from __future__ import annotations

import importlib

from ._version import __version__

# Not `from typing import ...`: this module loads before a Ctrl-C at start-up can be handled
# (__main__.py), so it stays as light as it can be.
TYPE_CHECKING = False

# Names are imported on first use (PEP 562), so `nbmigrate status` and `nbmigrate up` with
# nothing to do never pay for asyncio and the database drivers.
_EXPORTS = {
    "get_database": "compat",
    "get_migration_manager": "compat",
    "get_migration_status": "compat",
    "reset_database": "compat",
    "run_migrations": "compat",
    "Database": "engine.database",
    "DatabaseConnection": "engine.database",  # the seed's name for the object migrations receive
    "connect": "engine.database",
    "ConfigError": "errors",
    "InvalidMigrationSet": "errors",
    "LockTimeout": "errors",
    "MigrationFailed": "errors",
    "NbMigrateError": "errors",
    "SourceError": "errors",
    "MigrationManager": "engine.manager",
    "Migration": "model",
    "State": "model",
}

if TYPE_CHECKING:
    from typing import Any

    from .compat import (
        get_database,
        get_migration_manager,
        get_migration_status,
        reset_database,
        run_migrations,
    )
    from .engine.database import Database, connect
    from .engine.manager import MigrationManager
    from .errors import (
        ConfigError,
        InvalidMigrationSet,
        LockTimeout,
        MigrationFailed,
        NbMigrateError,
        SourceError,
    )
    from .model import Migration, State

    DatabaseConnection = Database


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'nbmigrate' has no attribute {name!r}")
    attribute = "Database" if name == "DatabaseConnection" else name
    value = getattr(importlib.import_module(f".{module}", __name__), attribute)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


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
    from .notebook.magics import load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """`%unload_ext nbmigrate`: close connections and stop the background loop."""
    from .notebook.magics import unload

    unload(ipython)
