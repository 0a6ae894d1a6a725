"""Read a migrations directory (.py and .sql files) into Migration objects, with checksums.

File names and versions are checked up front; a file's contents are parsed or imported
only when the migration is about to run or be validated (`load`), so `status` stays
fast on thousands of files.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

from ..errors import InvalidMigrationSet, SourceError
from ..model import NAME_RE, VERSION_RE, Migration, shorten, version_key, version_problem
from .file_migration import FileMigration, checksum_text
from .python_files import PythonFileMigration, check_methods
from .sql_files import SqlFileMigration

FILE_RE = re.compile(r"^migration_(?P<version>[0-9]+)_(?P<name>.+)\.(?P<ext>py|sql)\Z")


def looks_like_migration(filename: str) -> bool:
    """Files the loader must account for: anything named like a migration or a numbered step."""
    lower = filename.lower()
    if not lower.endswith((".py", ".sql")) or lower.startswith(("_", ".")):
        return False
    return lower.startswith("migration") or lower[:1].isdigit()


class MigrationFileName(NamedTuple):
    """A migration file's name, taken apart."""

    filename: str
    version: str
    name: str
    ext: str


def migration_file_names(directory: Path) -> list[MigrationFileName]:
    """Every migration file's name in `directory`, by version; raise on bad names or duplicates.

    Only the listing is read: a no-op `up` on thousands of files needs nothing more.
    """
    if not directory.exists():
        return []
    if not directory.is_dir():
        raise InvalidMigrationSet([SourceError(directory, "is not a directory")])
    problems: list[SourceError] = []
    found: dict[int, MigrationFileName] = {}
    # scandir knows which entries are files without a stat each: a listing of thousands stays cheap.
    with os.scandir(directory) as entries:
        names = sorted(e.name for e in entries if looks_like_migration(e.name) and e.is_file())
    for filename in names:
        match = FILE_RE.match(filename)
        if match is None:
            problems.append(SourceError(directory / filename, _name_problem(filename)))
            continue
        version, name, ext = match.group("version", "name", "ext")
        if not VERSION_RE.match(version):
            problems.append(SourceError(directory / filename, _version_problem(version)))
        elif not NAME_RE.match(name):
            problem = f"name {name!r} may use only lowercase letters, digits and _"
            problems.append(SourceError(directory / filename, problem))
        elif (first := found.get(version_key(version))) is not None:
            problems.append(SourceError(directory / filename, _duplicate(version, first.filename)))
        else:
            found[version_key(version)] = MigrationFileName(filename, version, name, ext)
    if problems:
        raise InvalidMigrationSet(problems)
    return [found[key] for key in sorted(found)]


def discover(directory: Path) -> list[Migration]:
    """Every migration file in `directory`, sorted by version; raise on bad names or duplicates."""
    kinds = {"sql": SqlFileMigration, "py": PythonFileMigration}
    return [kinds[f.ext](directory, f.filename, f.version, f.name) for f in migration_file_names(directory)]


def duplicate_problems(migrations: Iterable[Migration]) -> list[SourceError]:
    seen: dict[int, Migration] = {}
    problems = []
    for m in migrations:
        key = version_key(m.version)
        if key in seen:
            first = seen[key]
            problems.append(
                SourceError(
                    m.path or f"<registered {type(m).__name__}>",
                    _duplicate(m.version, _where(first)),
                )
            )
        else:
            seen[key] = m
    return problems


def load_all(migrations: Iterable[Migration]) -> None:
    """Parse or import every migration given; raise one InvalidMigrationSet listing all problems."""
    problems = []
    for m in migrations:
        if isinstance(m, FileMigration):
            try:
                m.load()
            except SourceError as exc:
                problems.append(exc)
    if problems:
        raise InvalidMigrationSet(problems)


def check_registered(migration: Migration) -> Migration:
    """Validate a migration registered in code, as files are validated."""
    where = f"<registered {type(migration).__name__}>"
    if not isinstance(migration, Migration):
        raise SourceError(where, "register_migration() takes a nbmigrate.Migration instance")
    version = str(migration.version or "")
    if not VERSION_RE.match(version):
        problem = f"version {shorten(version)!r} must be digits 0-9, 3 to 20 of them (e.g. '004')"
        raise SourceError(where, problem)
    if not NAME_RE.match(migration.name or ""):
        raise SourceError(where, f"name {migration.name!r} may use only lowercase letters, digits and _")
    check_methods(type(migration), where)
    if migration.checksum is None:
        migration.checksum = checksum_text(migration.source_text())
    return migration


def _name_problem(filename: str) -> str:
    return (
        f"bad file name {filename!r}: expected migration_XXX_name.py or .sql "
        f"(XXX: at least 3 digits; name: lowercase letters, digits and _)"
    )


def _version_problem(version: str) -> str:
    if len(version) < 3:
        return f"version {version!r} must have at least 3 digits ({version.zfill(3)})"
    return version_problem(version) or f"version {version!r} is not 3 to 20 digits"


def _duplicate(version: str, other: str) -> str:
    return f"duplicate version {version}: also used by {other}"


def _where(m: Migration) -> str:
    return m.path.name if m.path else f"<registered {type(m).__name__}>"
