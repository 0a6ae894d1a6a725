"""Database backends: one small class per database, chosen from the URL's scheme."""

from __future__ import annotations

from ..config import DatabaseURL
from .base import Backend


def backend_for(url: DatabaseURL) -> Backend:
    """Return an unopened backend for the URL; PostgreSQL support is imported only when used."""
    if url.scheme == "sqlite":
        from .sqlite import SQLiteBackend

        return SQLiteBackend(url)
    if url.scheme == "postgresql":
        from .postgres import PostgresBackend

        return PostgresBackend(url)
    raise AssertionError(f"unhandled scheme {url.scheme}")  # config rejects others first
