"""Database backends: one small class per database; dialects.py says which serves a URL."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import dialects

if TYPE_CHECKING:
    from ..urls import DatabaseURL
    from .base import Backend


def backend_for(url: DatabaseURL) -> Backend:
    """An unopened backend for the URL; its driver is imported only now."""
    return dialects.backend_class(url.dialect)(url)
