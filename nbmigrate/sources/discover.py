"""Read a migrations directory (.py and .sql files) into Migration objects, with checksums.

File names and versions are checked up front; a file's contents are parsed or imported
only when the migration is about to run or be validated (`load`), so `status` stays
fast on thousands of files.
"""

from __future__ import annotations

import hashlib
import inspect
import os
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple

from ..errors import InvalidMigrationSet, SourceError, TransactionEndsEarly
from ..model import NAME_RE, VERSION_RE, Connection, Migration, shorten, version_key, version_problem
from .sqltext import (
    ENDS_EARLY,
    SqlTextError,
    is_transaction_control,
    parse_sql_migration,
    split_statements,
    transaction_control,
)

FILE_RE = re.compile(r"^migration_(?P<version>[0-9]+)_(?P<name>.+)\.(?P<ext>py|sql)\Z")
_BOM = b"\xef\xbb\xbf"


def checksum_bytes(data: bytes) -> str:
    """Checksum of normalised source: a BOM or CRLF line endings are not a change."""
    if data.startswith(_BOM):
        data = data[len(_BOM) :]
    data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    return hashlib.sha256(data).hexdigest()


def checksum_text(text: str) -> str:
    return checksum_bytes(text.encode("utf-8"))


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
    _check_methods(type(migration), where)
    if migration.checksum is None:
        migration.checksum = checksum_text(migration.source_text())
    return migration


class FileMigration(Migration):
    """A migration read from a file; its contents are loaded on first use."""

    def __init__(self, directory: Path, filename: str, version: str, name: str) -> None:
        super().__init__(version=version, name=name, description="")
        self.directory = directory
        self.filename = filename
        self._path: Path | None = None
        self._data: bytes | None = None
        self._checksum: str | None = None
        self._loaded = False

    @property  # type: ignore[override]
    def path(self) -> Path:
        """Built on first use: listing thousands of files makes no Path objects."""
        if self._path is None:
            self._path = self.directory / self.filename
        return self._path

    def read(self) -> bytes:
        """The file's bytes, read once: what runs is what the checksum describes."""
        if self._data is None:
            self._data = self.path.read_bytes()
        return self._data

    @property  # type: ignore[override]
    def checksum(self) -> str:
        """Read on first use: a no-op `up` never opens the files of applied migrations."""
        if self._checksum is None:
            self._checksum = checksum_bytes(self.read())
        return self._checksum

    def recall_checksum(self, checksum: str) -> None:
        """Use a checksum known for this file's unchanged content (readcache.py) instead of reading it."""
        if self._data is None:
            self._checksum = checksum

    def load(self) -> None:
        if not self._loaded:
            self._load()
            self._loaded = True

    def _load(self) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.version} {self.path}>"


class SqlFileMigration(FileMigration):
    """`migration_XXX_name.sql` with `-- up` and `-- down` sections."""

    kind = "sql"

    def _load(self) -> None:
        try:
            text = self.read().decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise SourceError(self.path, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
        try:
            parsed = parse_sql_migration(text)
        except SqlTextError as exc:
            raise SourceError(self.path, str(exc)) from None
        self.up_statements = split_statements(parsed.up)
        self.down_statements = split_statements(parsed.down) if parsed.down else None
        self.transactional = parsed.transactional
        self.description = _sql_description(text) or self.name.replace("_", " ")
        if self.transactional:
            self._refuse_early_end(self.up_statements, "up")
            self._refuse_early_end(self.down_statements or [], "down")

    def _refuse_early_end(self, statements: list[str], section: str) -> None:
        """ROLLBACK and the like would end the migration's transaction: refused before anything runs."""
        for statement in statements:
            if transaction_control(statement) == ENDS_EARLY:
                raise SourceError(self.path, f"{section} section: {TransactionEndsEarly(statement)}")

    @property
    def reversible(self) -> bool:
        self.load()
        return self.down_statements is not None

    async def up(self, db: Connection) -> None:
        self.load()
        await self._run(db, self.up_statements)

    async def down(self, db: Connection) -> None:
        self.load()
        await self._run(db, self.down_statements or [])

    async def _run(self, db: Connection, statements: list[str]) -> None:
        for statement in statements:
            if self.transactional and is_transaction_control(statement):
                continue  # a habit from hand-run scripts; nbmigrate owns the transaction
            await db.execute(statement)


class PythonFileMigration(FileMigration):
    """`migration_XXX_name.py`: one Migration subclass, or module-level `async def up(db)`."""

    kind = "python"

    def _load(self) -> None:
        # Under `nbmigrate.`, so a migration's `logging.getLogger(__name__)` lines show with -v.
        module = _import(self.path, f"nbmigrate.migrations.{self.path.stem}", self.read())
        classes = [
            obj
            for obj in vars(module).values()
            if inspect.isclass(obj)
            and issubclass(obj, Migration)
            and obj.__module__ == module.__name__
            and not issubclass(obj, FileMigration)
        ]
        if len(classes) > 1:
            names = ", ".join(c.__name__ for c in classes)
            raise SourceError(self.path, f"defines {len(classes)} Migration classes ({names}); one per file")
        if classes:
            self.target = self._from_class(classes[0])
        elif hasattr(module, "up"):
            self.target = self._from_functions(module)
        else:
            raise SourceError(
                self.path, "no migration found: define a Migration subclass or `async def up(db)`"
            )
        self.transactional = bool(getattr(self.target, "transactional", True))

    def _from_class(self, cls: type[Migration]) -> Migration:
        _check_methods(cls, self.path)
        try:
            obj = cls()
        except Exception as exc:
            raise SourceError(self.path, f"{cls.__name__}() failed: {type(exc).__name__}: {exc}") from None
        declared = str(obj.version or "")
        if declared and (version_problem(declared) is not None or int(declared) != int(self.version)):
            raise SourceError(
                self.path,
                f"{cls.__name__} declares version {declared!r} but the file name says {self.version}",
            )
        self.description = obj.description or (inspect.getdoc(cls) or "").strip()
        return obj

    def _from_functions(self, module: ModuleType) -> Any:
        _check_callable(getattr(module, "up", None), "up", self.path, required=True)
        _check_callable(getattr(module, "down", None), "down", self.path, required=False)
        self.description = (inspect.getdoc(module) or "").strip()
        return module

    @property
    def reversible(self) -> bool:
        self.load()
        if isinstance(self.target, Migration):
            return self.target.reversible
        return getattr(self.target, "down", None) is not None

    async def up(self, db: Connection) -> None:
        self.load()
        await self.target.up(db)

    async def down(self, db: Connection) -> None:
        self.load()
        await self.target.down(db)


def _import(path: Path, module_name: str, source: bytes) -> ModuleType:
    # Compiled from source every time, never from __pycache__: a notebook may rewrite a
    # file twice within one second, and a size-and-mtime check would run stale code.
    module = ModuleType(module_name)
    module.__file__ = str(path)
    module.__package__ = ""  # no parent: `from . import x` fails with a hint, not a wrong lookup
    sys.modules[module_name] = module
    try:
        code = compile(source, str(path), "exec", dont_inherit=True)
        exec(code, module.__dict__)
    except SyntaxError as exc:
        sys.modules.pop(module_name, None)
        raise SourceError(path, f"syntax error at line {exc.lineno}: {exc.msg}") from None
    except ImportError as exc:
        sys.modules.pop(module_name, None)
        hint = ""
        if "relative import" in str(exc) or "no known parent" in str(exc):
            hint = " (import the base class with `from nbmigrate import Migration`)"
        raise SourceError(path, f"import failed: {exc}{hint}") from None
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # SystemExit, GeneratorExit ...: whatever a module raises
        sys.modules.pop(module_name, None)
        line = _error_line(exc, path)
        raise SourceError(path, f"raised {type(exc).__name__} while importing{line}: {exc}") from None
    return module


def _check_methods(cls: type[Migration], where: Path | str) -> None:
    if cls.up is Migration.up:
        raise SourceError(where, f"{cls.__name__} has no `async def up(self, db)`")
    _check_callable(cls.up, "up", where, required=True)
    if cls.down is not Migration.down:
        _check_callable(cls.down, "down", where, required=False)


def _check_callable(fn: Any, label: str, where: Path | str, *, required: bool) -> None:
    if fn is None:
        if required:
            raise SourceError(where, f"no `{label}` function")
        return
    if not inspect.iscoroutinefunction(fn):
        raise SourceError(where, f"`{label}` must be async: write `async def {label}(db)`")


def _error_line(exc: BaseException, path: Path) -> str:
    tb = exc.__traceback__
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == str(path):
            line = tb.tb_lineno
        tb = tb.tb_next
    return f" at line {line}" if line else ""


def _sql_description(text: str) -> str:
    """The first comment line before `-- up`, if any: a SQL file's description."""
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if not line.startswith("--"):
            break
        body = line.lstrip("-").strip()
        lowered = body.lower().replace(" ", "")
        if lowered in ("up", "migrate:up") or lowered.startswith("nbmigrate:"):
            break
        if body:
            return body
    return ""


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
