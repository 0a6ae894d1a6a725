"""Where the database URL, the migrations directory and the settings come from.

Order: explicit argument, environment (`NBMIGRATE_DATABASE_URL`, `NBMIGRATE_MIGRATIONS`,
`NBMIGRATE_STRICT`, `NBMIGRATE_LOCK_TIMEOUT`, `NBMIGRATE_BACKUPS`, `NBMIGRATE_BACKUP_KEEP`),
`[tool.nbmigrate]` in the nearest `pyproject.toml`, then the defaults `sqlite:///nbmigrate.db`
and `migrations/` (backups on, the newest 10 kept).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError

DEFAULT_URL = "sqlite:///nbmigrate.db"
DEFAULT_DIRECTORY = "migrations"
DEFAULT_LOCK_TIMEOUT = 60.0
DEFAULT_BACKUP_KEEP = 10

_SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")
# The user-info password runs to the last `@` of the authority, as urlsplit and libpq
# read it (a password may contain `@`); a password may also come as a query parameter.
_PASSWORD_RE = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s?#]*:)(?P<pw>[^/?#\s]*)(?P<at>@)", re.I)
_QUERY_PASSWORD_RE = re.compile(r"(?P<head>[?&](?:ssl)?password=)[^&#\s]*", re.I)


def mask_password(text: str) -> str:
    """Hide any password in URLs inside `text` (for messages and logs)."""
    text = _PASSWORD_RE.sub(lambda m: f"{m['head']}***{m['at']}", text)
    return _QUERY_PASSWORD_RE.sub(lambda m: f"{m['head']}***", text)


@dataclass(frozen=True)
class DatabaseURL:
    """A parsed database URL; `masked` is safe to print."""

    raw: str
    scheme: str  # "sqlite" or "postgresql"
    path: Path | None = None  # SQLite file; None for an in-memory database

    @property
    def masked(self) -> str:
        return mask_password(self.raw)

    @property
    def is_memory(self) -> bool:
        return self.scheme == "sqlite" and self.path is None

    def __str__(self) -> str:
        return self.masked


def parse_url(text: str, base: Path | None = None) -> DatabaseURL:
    """Parse a database URL or a bare SQLite path; raise ConfigError naming the argument."""
    from urllib.parse import unquote, urlsplit  # only when parsing: keeps start-up short

    raw = text.strip()
    if not raw:
        raise ConfigError("empty database URL")
    lowered = raw.lower()
    if lowered in (":memory:", "sqlite://", "sqlite:///:memory:"):
        return DatabaseURL(raw, "sqlite", None)
    if lowered.startswith("sqlite:///"):
        rest = raw[len("sqlite:///") :]
        rest = rest.split("?", 1)[0]
        if not rest:
            raise ConfigError(f"database URL {raw!r} has no file path (sqlite:///file.db)")
        path = Path(unquote(rest))
        if not path.is_absolute() and base is not None:
            path = base / path
        return DatabaseURL(raw, "sqlite", path)
    if lowered.startswith(("postgresql://", "postgres://", "postgresql+asyncpg://")):
        try:
            parts = urlsplit(raw)
            parts.port  # noqa: B018  (raises ValueError on a bad port)
        except ValueError:  # its text can quote part of the password: say it in our words
            raise ConfigError(
                "invalid PostgreSQL URL (not shown: it may hold a password): a bad host or port "
                "(percent-encode special characters in the password, e.g. @ as %40)"
            ) from None
        if not parts.hostname and "host=" not in parts.query:
            raise ConfigError(f"PostgreSQL URL {mask_password(raw)} names no host")
        return DatabaseURL(raw, "postgresql", None)
    if "://" not in raw and lowered.endswith(_SQLITE_SUFFIXES):
        path = Path(raw).expanduser()
        if not path.is_absolute() and base is not None:
            path = base / path
        return DatabaseURL(raw, "sqlite", path)
    raise ConfigError(
        f"unsupported database URL {mask_password(raw)!r}: use sqlite:///file.db, a path "
        f"ending in .db or .sqlite, or postgresql://user:password@host:port/database"
    )


@dataclass(frozen=True)
class Settings:
    """Everything a manager needs to know besides the migrations themselves."""

    url: DatabaseURL
    directory: Path
    strict: bool = False
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT
    backups: bool = True  # SQLite files: back up before up, down, redo and reset
    backup_keep: int = DEFAULT_BACKUP_KEEP


def resolve(
    database: str | None = None,
    directory: str | os.PathLike[str] | None = None,
    *,
    strict: bool | None = None,
    lock_timeout: float | None = None,
    backups: bool | None = None,
    backup_keep: int | None = None,
    cwd: Path | None = None,
) -> Settings:
    """Combine arguments, environment, pyproject.toml and defaults into Settings."""
    cwd = cwd or Path.cwd()
    table, table_dir = _pyproject_table(cwd)
    env = os.environ

    def pick(arg: Any, env_name: str, key: str) -> tuple[Any, Path]:
        if arg is not None:
            return arg, cwd
        if env.get(env_name):
            return env[env_name], cwd
        if key in table:
            return table[key], table_dir
        return None, cwd

    url_text, url_base = pick(database, "NBMIGRATE_DATABASE_URL", "database")
    dir_text, dir_base = pick(
        os.fspath(directory) if directory is not None else None, "NBMIGRATE_MIGRATIONS", "migrations"
    )
    strict_value, _ = pick(strict, "NBMIGRATE_STRICT", "strict")
    timeout_value, _ = pick(lock_timeout, "NBMIGRATE_LOCK_TIMEOUT", "lock_timeout")

    url = parse_url(str(url_text) if url_text is not None else DEFAULT_URL, url_base)
    enabled, keep = backup_settings(backups, backup_keep, cwd)
    migrations_dir = Path(str(dir_text)) if dir_text is not None else Path(DEFAULT_DIRECTORY)
    if not migrations_dir.is_absolute():
        migrations_dir = dir_base / migrations_dir
    return Settings(
        url=url,
        directory=migrations_dir,
        strict=_as_bool(strict_value, "strict"),
        lock_timeout=_as_timeout(timeout_value),
        backups=enabled,
        backup_keep=keep,
    )


def backup_settings(
    backups: bool | None = None, keep: int | None = None, cwd: Path | None = None
) -> tuple[bool, int]:
    """Whether to back up SQLite files before changing commands, and how many backups to keep.

    Explicit argument, then `NBMIGRATE_BACKUPS` / `NBMIGRATE_BACKUP_KEEP`, then `backups` /
    `backup_keep` in `[tool.nbmigrate]`, then on and 10.
    """
    table: dict[str, Any] | None = None

    def pick(arg: Any, env_name: str, key: str) -> Any:
        nonlocal table
        if arg is not None:
            return arg
        if os.environ.get(env_name):
            return os.environ[env_name]
        if table is None:
            table = _pyproject_table(cwd or Path.cwd())[0]
        return table.get(key)

    enabled = pick(backups, "NBMIGRATE_BACKUPS", "backups")
    count = pick(keep, "NBMIGRATE_BACKUP_KEEP", "backup_keep")
    return (True if enabled is None else _as_bool(enabled, "backups")), _as_keep(count)


def _pyproject_table(cwd: Path) -> tuple[dict[str, Any], Path]:
    """The `[tool.nbmigrate]` table of the nearest pyproject.toml, and that file's folder."""
    for folder in (cwd, *cwd.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            text = candidate.read_text(encoding="utf-8", errors="replace")
            if "[tool.nbmigrate]" not in text:
                return {}, folder
            try:
                import tomllib
            except ModuleNotFoundError:  # Python 3.10
                import tomli as tomllib
            try:
                data = tomllib.loads(text)
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError(f"{candidate}: invalid TOML: {exc}") from None
            table = data.get("tool", {}).get("nbmigrate", {})
            if not isinstance(table, dict):
                raise ConfigError(f"{candidate}: [tool.nbmigrate] must be a table")
            return table, folder
    return {}, cwd


def _as_bool(value: Any, name: str) -> bool:
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"setting {name}: expected true or false, got {value!r}")


def _as_keep(value: Any) -> int:
    if value is None:
        return DEFAULT_BACKUP_KEEP
    try:
        count = int(str(value).strip()) if not isinstance(value, int) else value
    except ValueError:
        raise ConfigError(f"backup_keep: expected a whole number, got {value!r}") from None
    if count < 1 or isinstance(value, bool):
        raise ConfigError(f"backup_keep: must be at least 1, got {value!r} (use backups = false for none)")
    return count


def _as_timeout(value: Any) -> float:
    if value is None:
        return DEFAULT_LOCK_TIMEOUT
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"lock timeout: expected seconds, got {value!r}") from None
    if seconds < 0:
        raise ConfigError(f"lock timeout: must not be negative, got {value!r}")
    return seconds
