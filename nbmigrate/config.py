"""Where the database URL, the migrations directory and the settings come from.

Order: explicit argument, environment (`NBMIGRATE_DATABASE_URL`, `NBMIGRATE_MIGRATIONS`,
`NBMIGRATE_STRICT`, `NBMIGRATE_LOCK_TIMEOUT`, `NBMIGRATE_BACKUPS`, `NBMIGRATE_BACKUP_KEEP`),
`[tool.nbmigrate]` in the nearest `pyproject.toml`, then the defaults `sqlite:///nbmigrate.db`
and `migrations/` (backups on, the newest 10 kept).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .urls import DatabaseURL, check_path, parse_url

DEFAULT_URL = "sqlite:///nbmigrate.db"
DEFAULT_DIRECTORY = "migrations"
DEFAULT_LOCK_TIMEOUT = 60.0
DEFAULT_BACKUP_KEEP = 10

MAX_SECONDS = 7 * 24 * 3600.0  # a lock timeout or cell timeout beyond a week is a typo


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
    check_path(migrations_dir, "migrations directory")
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
            if sys.version_info >= (3, 11):
                import tomllib
            else:  # pragma: no cover - Python 3.10
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
    return check_seconds(value, "lock timeout")


def check_seconds(value: Any, what: str) -> float:
    """A number of seconds from 0 to a week (not NaN, not infinite); ConfigError naming `what` otherwise."""
    import math

    try:
        if isinstance(value, bool) or (isinstance(value, str) and not value.isascii()):
            raise ValueError
        seconds = float(value)
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(f"{what}: expected seconds, got {value!r}") from None
    if math.isnan(seconds) or seconds < 0:
        raise ConfigError(f"{what}: expected seconds from 0 up, got {value!r}")
    if seconds > MAX_SECONDS:
        raise ConfigError(f"{what}: at most {MAX_SECONDS:.0f} seconds (a week), got {value!r}")
    return seconds
