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
from typing import TYPE_CHECKING, Any

from .errors import ConfigError
from .model import shorten

if TYPE_CHECKING:
    import logging

DEFAULT_URL = "sqlite:///nbmigrate.db"
DEFAULT_DIRECTORY = "migrations"
DEFAULT_LOCK_TIMEOUT = 60.0
DEFAULT_BACKUP_KEEP = 10

_SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")
_POSTGRES_SCHEMES = ("postgresql://", "postgres://", "postgresql+asyncpg://")
_NAME_MAX, _PATH_MAX = 255, 4096  # bytes, as Linux and macOS file systems allow
MAX_SECONDS = 7 * 24 * 3600.0  # a lock timeout or cell timeout beyond a week is a typo

# Passwords of URLs nobody parsed here: the user-info password runs from the first `:` to
# the last `@` of the run of text (quotes and angle brackets end it: JSON, HTML, repr).
_PASSWORD_RE = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s?#\"'<>]*:)[^\s\"'<>`]*(?P<at>@)", re.I)
_QUERY_PASSWORD_RE = re.compile(r"(?P<head>[?&](?:ssl)?password=)[^&#\s\"'<>]*", re.I)
# Every spelling of every password this process has parsed, longest first.
_known_passwords: tuple[str, ...] = ()
# URL parsers misread these in user info (`/ ? #` end the authority; whitespace is dropped).
_MISREAD = {"/": "%2F", "?": "%3F", "#": "%23", " ": "%20"}


def mask_password(text: str) -> str:
    """Hide passwords in URL position in `text` (for messages, logs, reprs, HTML, notebooks).

    Every password this process has parsed is hidden wherever it stands as `:PASSWORD@` or
    `password=PASSWORD`, however it was spelled, so even one character is hidden without
    touching the same letters elsewhere; other URLs' passwords are hidden by their shape.
    """
    for form in _known_passwords:
        if form in text:
            text = text.replace(f":{form}@", ":***@").replace(f"password={form}", "password=***")
    text = _PASSWORD_RE.sub(lambda m: f"{m['head']}***{m['at']}", text)
    return _QUERY_PASSWORD_RE.sub(lambda m: f"{m['head']}***", text)


def remember_password(written: str) -> None:
    """Have `mask_password` hide this password (as written in a URL) from now on, in every spelling."""
    global _known_passwords
    if not written:
        return
    import html
    import json
    from urllib.parse import quote, unquote

    decoded = unquote(written)
    forms = {written, decoded, quote(decoded, safe=""), quote(decoded), quote(decoded, safe="@:")}
    forms |= {html.escape(f) for f in forms} | {json.dumps(f)[1:-1] for f in forms}
    forms |= {repr(f)[1:-1] for f in forms}
    _known_passwords = tuple(sorted(set(_known_passwords) | forms, key=len, reverse=True))


def masking_formatter(fmt: str = "%(message)s") -> logging.Formatter:
    """A logging formatter whose lines (tracebacks included) pass through `mask_password`."""
    import logging

    class Masking(logging.Formatter):
        def format(self, record: logging.LogRecord) -> str:
            return mask_password(super().format(record))

    return Masking(fmt)


@dataclass(frozen=True, repr=False)
class PostgresParts:
    """A PostgreSQL URL taken apart once, as libpq reads its user info.

    The password runs from the first `:` of the user info to the last `@` of the URL;
    `location` is what follows that `@` (hosts, port, database, query), as written.
    """

    scheme: str
    user_written: str | None  # None: no user info at all
    password_written: str | None  # None: no `:` in the user info
    location: str

    @property
    def user(self) -> str | None:
        return _decoded(self.user_written)

    @property
    def password(self) -> str | None:
        return _decoded(self.password_written)

    @property
    def masked(self) -> str:
        """The URL as written, but `***` for the password (in the user info or the query)."""
        userinfo = ""
        if self.user_written is not None:
            password = "" if self.password_written is None else ":***" if self.password_written else ":"
            userinfo = f"{self.user_written}{password}@"
        return f"{self.scheme}://{userinfo}{mask_password(self.location)}"

    def __repr__(self) -> str:
        return f"PostgresParts({self.masked!r})"


@dataclass(frozen=True, repr=False)
class DatabaseURL:
    """A parsed database URL; `masked` (also its str and repr) is safe to print, `raw` is not."""

    raw: str
    scheme: str  # "sqlite" or "postgresql"
    path: Path | None = None  # SQLite file; None for an in-memory database
    postgres: PostgresParts | None = None

    @property
    def masked(self) -> str:
        return self.postgres.masked if self.postgres is not None else mask_password(self.raw)

    @property
    def is_memory(self) -> bool:
        return self.scheme == "sqlite" and self.path is None

    def __str__(self) -> str:
        return self.masked

    def __repr__(self) -> str:
        return f"DatabaseURL({self.masked!r})"


def parse_url(text: str, base: Path | None = None) -> DatabaseURL:
    """Parse a database URL or a bare SQLite path; raise ConfigError naming the argument."""
    from urllib.parse import unquote  # only when parsing: keeps start-up short

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
        path = check_path(Path(unquote(rest)), "database file")
        if not path.is_absolute() and base is not None:
            path = base / path
        return DatabaseURL(raw, "sqlite", path)
    if lowered.startswith(_POSTGRES_SCHEMES):
        return DatabaseURL(raw, "postgresql", None, parse_postgres(raw))
    if "://" not in raw and lowered.endswith(_SQLITE_SUFFIXES):
        path = check_path(Path(raw).expanduser(), "database file")
        if not path.is_absolute() and base is not None:
            path = base / path
        return DatabaseURL(raw, "sqlite", path)
    _remember_any_password(raw)
    raise ConfigError(
        f"unsupported database URL {mask_password(raw)!r}: use sqlite:///file.db, a path "
        f"ending in .db or .sqlite, or postgresql://user:password@host:port/database"
    )


def check_path(path: Path, what: str) -> Path:
    """A typed path no file system can hold is a ConfigError, not an OSError at first use."""
    text = os.fsencode(path)
    if b"\0" in text:
        raise ConfigError(f"{what} {shorten(str(path))!r}: a path cannot hold a NUL character")
    if len(text) >= _PATH_MAX or any(len(part) > _NAME_MAX for part in text.split(b"/")):
        raise ConfigError(
            f"{what} {shorten(str(path))!r}: too long for a file system "
            f"(each name at most {_NAME_MAX} bytes, the whole path under {_PATH_MAX})"
        )
    return path


def parse_postgres(raw: str) -> PostgresParts:
    """Take a PostgreSQL URL apart; raise ConfigError (never showing the password) if it is misread."""
    from urllib.parse import parse_qsl, urlsplit

    scheme, _, rest = raw.partition("://")
    userinfo, at, location = rest.rpartition("@")
    user = password = None
    if at:
        user, colon, password_text = userinfo.partition(":")
        password = password_text if colon else None
        remember_password(password or "")
    for _, value in _query_passwords(location):
        remember_password(value)
    parts = PostgresParts(scheme, user if at else None, password, location)
    misread = _misread(userinfo) if at else []
    if misread:
        raise ConfigError(_misread_message(parts, misread))
    try:
        split = urlsplit(f"postgresql://{location}")
        split.port  # noqa: B018  (raises ValueError on a bad port)
    except ValueError:
        raise ConfigError(f"PostgreSQL URL {parts.masked}: bad host or port") from None
    if not split.hostname and "host" not in dict(parse_qsl(split.query)):
        raise ConfigError(f"PostgreSQL URL {parts.masked} names no host")
    return parts


def _misread(userinfo: str) -> list[str]:
    """The characters of the user info that URL parsers misread (a space stands for any whitespace)."""
    return sorted({" " if c.isspace() else c for c in userinfo if c in _MISREAD or c.isspace()})


def _misread_message(parts: PostgresParts, found: list[str]) -> str:
    """Which characters to percent-encode; the user info itself is not shown (it may be the password)."""
    shown = f"{parts.scheme}://***@{mask_password(parts.location)}"
    names = ", ".join("a space" if c == " " else repr(c) for c in found)
    codes = ", ".join(f"{'space' if c == ' ' else c} as {_MISREAD[c]}" for c in found)
    return (
        f"PostgreSQL URL {shown}: the part before its last @ (user and password, not shown) holds "
        f"{names}, which URL parsers misread there: percent-encode them in the password ({codes}); "
        f"an @ in the database name or a parameter must be written %40"
    )


def _query_passwords(location: str) -> list[tuple[str, str]]:
    from urllib.parse import parse_qsl

    query = location.partition("?")[2]
    return [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k.lower().endswith("password")]


def _remember_any_password(raw: str) -> None:
    """A URL refused as unsupported may still hold a password: remember it before saying so."""
    userinfo = raw.split("://", 1)[-1].rpartition("@")[0]
    if ":" in userinfo:
        remember_password(userinfo.partition(":")[2])


def _decoded(text: str | None) -> str | None:
    from urllib.parse import unquote

    return None if text is None else unquote(text)


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
