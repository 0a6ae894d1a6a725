"""Database URLs: parsing them into what they name, and masking their passwords everywhere.

`mask_password` is the one scrubber: every message, log line, repr, JSON, HTML and executed
notebook that may quote a URL passes through it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from . import dialects
from .errors import ConfigError
from .model import shorten

if TYPE_CHECKING:
    import logging

_NAME_MAX, _PATH_MAX = 255, 4096  # bytes, as Linux and macOS file systems allow

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
class ServerParts:
    """A server's URL (PostgreSQL's) taken apart once, as libpq reads its user info.

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
        return f"ServerParts({self.masked!r})"


@dataclass(frozen=True, repr=False)
class DatabaseURL:
    """A parsed database URL; `masked` (also its str and repr) is safe to print, `raw` is not."""

    raw: str
    dialect: str  # which kind of database: a name of dialects.DIALECTS ("sqlite", "postgresql")
    path: Path | None = None  # a database file; None for an in-memory one or a server
    server: ServerParts | None = None  # a server's URL, taken apart

    @property
    def masked(self) -> str:
        return self.server.masked if self.server is not None else mask_password(self.raw)

    @property
    def is_memory(self) -> bool:
        return self.server is None and self.path is None

    def __str__(self) -> str:
        return self.masked

    def __repr__(self) -> str:
        return f"DatabaseURL({self.masked!r})"


def parse_url(text: str, base: Path | None = None) -> DatabaseURL:
    """Parse a database URL or a bare database file path; raise ConfigError naming the argument.

    Which database a URL names is the dialect registry's answer (dialects.py): its scheme, or
    for a bare path its file suffix. Relative file paths are taken from `base`.
    """
    raw = text.strip()
    if not raw:
        raise ConfigError("empty database URL")
    if raw.lower() == ":memory:":
        return DatabaseURL(raw, dialects.FILE_DEFAULT.name)
    scheme, sep, _ = raw.partition("://")
    dialect = dialects.for_scheme(scheme) if sep else dialects.for_path(raw)
    if dialect is None:
        _remember_any_password(raw)
        raise ConfigError(
            f"unsupported database URL {mask_password(raw)!r}: use sqlite:///file.db, a path "
            f"ending in .db or .sqlite, or postgresql://user:password@host:port/database"
        )
    if dialect.url_form == "server":
        return DatabaseURL(raw, dialect.name, None, parse_server(raw))
    return DatabaseURL(raw, dialect.name, _file_path(raw, sep, base))


def _file_path(raw: str, sep: str, base: Path | None) -> Path | None:
    """The file a file database's URL names (`scheme:///relative`, `scheme:////absolute`, a bare path)."""
    from urllib.parse import unquote  # only when parsing: keeps start-up short

    if not sep:
        path = Path(raw).expanduser()
    else:
        rest = raw.split("://", 1)[1]
        if rest in ("", "/:memory:"):
            return None
        if not rest.startswith("/"):
            _remember_any_password(raw)
            shown = mask_password(raw)
            raise ConfigError(
                f"database URL {shown!r}: write a file path after three slashes (sqlite:///file.db)"
            )
        rest = rest[1:].split("?", 1)[0]
        if not rest:
            raise ConfigError(f"database URL {mask_password(raw)!r} has no file path (sqlite:///file.db)")
        path = Path(unquote(rest))
    path = check_path(path, "database file")
    return base / path if not path.is_absolute() and base is not None else path


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


def parse_server(raw: str) -> ServerParts:
    """Take a server URL apart; raise ConfigError (never showing the password) if it is misread."""
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
    parts = ServerParts(scheme, user if at else None, password, location)
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


def _misread_message(parts: ServerParts, found: list[str]) -> str:
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
