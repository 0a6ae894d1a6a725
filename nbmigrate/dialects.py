"""The kinds of database nbmigrate knows: the URL schemes each answers to, and its backend.

A new database is one entry here and one module in backends/. The backend is named, not
imported, so parsing a URL never loads a driver.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .backends.base import Backend


@dataclass(frozen=True)
class Dialect:
    """One kind of database: its name, URL schemes, the shape of its URLs, its backend."""

    name: str
    schemes: tuple[str, ...]  # lowercase, as written before `://`
    url_form: str  # "file" (scheme:///path, or a bare path with a suffix below) or "server"
    backend: str  # "module:Class"
    suffixes: tuple[str, ...] = ()  # a bare path ending so names a database of this kind


DIALECTS = (
    Dialect(
        "sqlite",
        ("sqlite",),
        "file",
        "nbmigrate.backends.sqlite:SQLiteBackend",
        (".db", ".sqlite", ".sqlite3"),
    ),
    Dialect(
        "postgresql",
        ("postgresql", "postgres", "postgresql+asyncpg"),
        "server",
        "nbmigrate.backends.postgres:PostgresBackend",
    ),
)
FILE_DEFAULT = DIALECTS[0]  # what `:memory:` means


def for_scheme(scheme: str) -> Dialect | None:
    """The dialect a URL scheme names, or None."""
    wanted = scheme.lower()
    return next((d for d in DIALECTS if wanted in d.schemes), None)


def for_path(path: str) -> Dialect | None:
    """The dialect a bare file path names by its suffix, or None."""
    lowered = path.lower()
    return next((d for d in DIALECTS if d.suffixes and lowered.endswith(d.suffixes)), None)


def named(name: str) -> Dialect:
    return next(d for d in DIALECTS if d.name == name)


def backend_class(name: str) -> type[Backend]:
    """The backend class of dialect `name`, imported now (its driver comes with it)."""
    module, _, cls = named(name).backend.partition(":")
    found: type[Backend] = getattr(importlib.import_module(module), cls)
    return found
