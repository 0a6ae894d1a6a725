"""A migration written in a notebook cell: check it, then write, rewrite, refuse or leave it."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..engine import plan
from ..engine.manager import MigrationManager
from ..errors import ChangedMigrationError, NbMigrateError, PlanError, SourceError
from ..model import (
    AppliedRecord,
    normalize_version,
    version_key,
)
from ..reports import RunReport
from ..sources import scaffold
from ..sources.discover import FILE_RE
from ..sources.file_migration import checksum_bytes, checksum_text
from ..sources.sqlfile import SqlTextError, parse_sql_migration

CREATED = "created"
REWRITTEN = "rewritten"
UNCHANGED = "unchanged"
FORCED = "forced"

_PY_UP = re.compile(r"^[ \t]*(?:async[ \t]+)?def[ \t]+up[ \t]*\(", re.MULTILINE)


@dataclass
class AuthoredMigration:
    """What `%%migration VERSION NAME` did with its cell."""

    version: str
    name: str
    kind: str  # "sql" or "python"
    path: Path
    action: str  # created, rewritten, unchanged or forced
    replaced: Path | None = None  # the file of the other kind this one replaced
    run: RunReport | None = None  # the `up` of --apply

    @property
    def message(self) -> str:
        where = self.path.name
        if self.action == UNCHANGED:
            text = f"{where} is unchanged: nothing written"
        elif self.action == CREATED:
            text = f"wrote {where}"
        elif self.action == REWRITTEN:
            text = f"rewrote {where} (not applied yet)"
        else:
            text = (
                f"rewrote {where} although migration {self.version} is applied (--force): "
                f"the database was not changed and status shows it as changed"
            )
        if self.replaced is not None:
            text += f"; removed {self.replaced.name}"
        return text

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "name": self.name,
            "kind": self.kind,
            "path": str(self.path),
            "action": self.action,
            "replaced": str(self.replaced) if self.replaced else None,
        }


def cell_text(body: str) -> str:
    """The file's text: the cell as written, ending in exactly one newline."""
    return body.rstrip() + "\n"


def detect_kind(text: str) -> str:
    """Say `python` when the text is Python that defines `up`, `sql` otherwise."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        # Python with a mistake in it is still Python: report its syntax error, not missing markers.
        return "python" if _PY_UP.search(text) else "sql"
    return "python" if _defines_up(tree) else "sql"


def check_source(text: str, kind: str, path: Path) -> None:
    """Raise SourceError (naming the file-to-be and the line) when the cell is not a migration."""
    if kind == "sql":
        try:
            parse_sql_migration(text)
        except SqlTextError as exc:
            raise SourceError(path, str(exc)) from None
        return
    try:
        compile(text, str(path), "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as exc:
        line = getattr(exc, "lineno", None)
        where = f" at line {line}" if line else ""
        raise SourceError(path, f"syntax error{where}: {getattr(exc, 'msg', exc)}") from None
    for fn in _step_functions(ast.parse(text)):
        if not isinstance(fn, ast.AsyncFunctionDef):
            raise SourceError(path, f"`{fn.name}` must be async: write `async def {fn.name}(...)`")


async def write_cell(
    manager: MigrationManager,
    version: str,
    name: str,
    body: str,
    *,
    force: bool = False,
    apply: bool = False,
) -> AuthoredMigration:
    """Write `body` as migration VERSION NAME in the manager's directory, if that is allowed.

    Identical to the file: nothing is written. A new or unapplied migration: (re)written.
    An applied one whose source would change: ChangedMigrationError, unless `force`.
    Another name for a version already used (by a file or the ledger): PlanError.
    With `apply`, `manager.up(version)` runs right after.
    """
    version = normalize_version(version)
    name = scaffold.check_name(name)
    if manager.directory is None:
        raise NbMigrateError("this manager has no migrations directory to write to")
    text = cell_text(body)
    kind = detect_kind(text)
    path = manager.directory / scaffold.file_name(version, name, kind)
    check_source(text, kind, path)
    await manager.db.connect()
    # Under the migration lock: no concurrent `up` applies the old file while it is replaced.
    async with manager.db.backend.lock(manager.lock_timeout, "nbmigrate %%migration"):
        ledger = await manager.ledger.read()
        result = _write(manager, version, name, kind, path, text, ledger, force)
    if apply:
        result.run = await manager.up(version)
    return result


def _write(
    manager: MigrationManager,
    version: str,
    name: str,
    kind: str,
    path: Path,
    text: str,
    ledger: list[AppliedRecord],
    force: bool,
) -> AuthoredMigration:
    assert manager.directory is not None
    existing = _files_of_version(manager.directory, version)
    for other in existing:
        match = FILE_RE.match(other.name)
        assert match is not None
        if match["name"] != name:
            raise PlanError(
                f"version {version} is already used by {other.name}: give this migration "
                f"another version{_next_free(manager, ledger)}, or name it {match['name']} to edit that one"
            )
    if len(existing) > 1:
        names = ", ".join(p.name for p in existing)
        raise PlanError(f"version {version} has {len(existing)} files ({names}); delete all but one")
    current = existing[0] if existing else None
    record = next((r for r in ledger if version_key(r.version) == version_key(version)), None)
    if record is not None and record.name and record.name != name:
        raise PlanError(
            f"version {version} is recorded in the ledger as {record.name!r}: give this migration "
            f"another version{_next_free(manager, ledger)}"
        )
    result = AuthoredMigration(version, name, kind, path, CREATED)
    checksum = checksum_text(text)
    if current == path and checksum_bytes(path.read_bytes()) == checksum:
        result.action = UNCHANGED
        return result
    if record is not None and record.status == "applied":
        changes = record.checksum != checksum if record.checksum else current is not None
        if changes and not force:
            raise ChangedMigrationError(version, path)
        if changes:
            result.action = FORCED
        elif current is not None:
            result.action = REWRITTEN
    elif current is not None:
        result.action = REWRITTEN
    scaffold.write_atomically(path, text)
    if current is not None and current != path:
        current.unlink()
        result.replaced = current
    return result


def _files_of_version(directory: Path, version: str) -> list[Path]:
    """Every file named like a migration of this version, valid names or not."""
    if not directory.is_dir():
        return []
    key = version_key(version)
    found = []
    for path in sorted(directory.iterdir()):
        match = FILE_RE.match(path.name)
        if match is not None and int(match["version"]) == key and path.is_file():
            found.append(path)
    return found


def _next_free(manager: MigrationManager, ledger: list[AppliedRecord]) -> str:
    try:
        return f" (the next free one is {plan.next_version(manager.migrations(), ledger)})"
    except NbMigrateError:
        return ""


def _defines_up(tree: ast.Module) -> bool:
    return any(fn.name == "up" for fn in _step_functions(tree))


def _step_functions(tree: ast.Module) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    """Module-level `up`/`down`, and those of top-level classes (the seed's Migration subclasses)."""
    found: list[ast.FunctionDef | ast.AsyncFunctionDef] = []
    for node in tree.body:
        bodies = node.body if isinstance(node, ast.ClassDef) else [node]
        found += [
            fn
            for fn in bodies
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)) and fn.name in ("up", "down")
        ]
    return found
