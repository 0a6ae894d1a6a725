"""A `.sql` migration's sections: `-- up` and `-- down` markers and `-- nbmigrate:` directives."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import NbMigrateError
from .sqltext import GAP, LINE_COMMENT, NONSPACE, QUOTED, tokens


@dataclass(frozen=True)
class SqlMigrationText:
    """The sections of a ``.sql`` migration file.

    ``up`` is the SQL of the up section (stripped, possibly several statements); ``down``
    is that of the down section, or None when it holds no statement (irreversible);
    ``transactional`` is False when the file says ``-- nbmigrate: transactional=false``.
    """

    up: str
    down: str | None
    transactional: bool
    lock_timeout: float | None = None  # seconds, from `-- nbmigrate: lock_timeout=30s`
    statement_timeout: float | None = None  # seconds; 0: off
    allowed: frozenset[str] = frozenset()  # lint rule ids of `-- nbmigrate: allow RULE_ID` lines


class SqlTextError(NbMigrateError, ValueError):
    """Malformed migration text; ``.line`` is the 1-based line number or None."""

    def __init__(self, message: str, line: int | None = None) -> None:
        self.message = message
        self.line = line
        super().__init__(message if line is None else f"line {line}: {message}")

    def __reduce__(self) -> tuple[type[SqlTextError], tuple[str, int | None]]:
        return (type(self), (self.message, self.line))


# ---------------------------------------------------------------- migration files

_MARKER = re.compile(r"--\s*(?:migrate\s*:\s*)?(up|down)\s*", re.IGNORECASE)
_DIRECTIVE_PREFIX = re.compile(r"--\s*nbmigrate\s*:", re.IGNORECASE)
_DIRECTIVE = re.compile(
    r"--\s*nbmigrate\s*:\s*(transactional|down|lock_timeout|statement_timeout)\s*=\s*"
    r"(true|false|noop|[0-9.]+\s*(?:ms|s|min|h)?|off)\s*",
    re.IGNORECASE,
)
_VALUES = {"transactional": {"true", "false"}, "down": {"noop"}}  # the rest are durations
_ALLOW = re.compile(r"--\s*nbmigrate\s*:\s*allow\s+([A-Za-z0-9_,\s-]+?)\s*", re.IGNORECASE)

_UNCLOSED = {
    "'": "string literal",
    '"': "quoted identifier",
    "`": "quoted identifier",
    "[": "bracketed identifier",
    "$": "dollar-quoted string",
    "/": "block comment",
}


def _line_of(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def _starts_line(text: str, pos: int) -> bool:
    line_start = text.rfind("\n", 0, pos) + 1
    return line_start == pos or text[line_start:pos].isspace()


def _excerpt(text: str, pos: int, limit: int = 40) -> str:
    end = text.find("\n", pos)
    snippet = (text[pos:] if end < 0 else text[pos:end]).strip()
    return snippet if len(snippet) <= limit else snippet[: limit - 3] + "..."


@dataclass(frozen=True)
class _Marker:
    name: str  # "up" or "down"
    start: int  # offset of the '--'
    end: int  # offset just after the marker text (its newline or the end of text)
    line: int


def parse_sql_migration(text: str) -> SqlMigrationText:
    """Parse a ``.sql`` migration: ``-- up`` and ``-- down`` sections and directives.

    A leading BOM is dropped and line endings are normalised to '\\n' first.  Raises
    SqlTextError (with a line number where one applies) when the text is malformed.
    """
    if text.startswith("\ufeff"):
        text = text[1:]
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    scan = _Scan(text)
    up, down = scan.sections()
    directives = scan.directives
    if directives.get("down") == "noop" and scan.first_sql[2] is not None:
        raise SqlTextError("'-- nbmigrate: down=noop' but the down section holds SQL", down.line)
    down_sql: str | None = text[down.end :].strip() if scan.first_sql[2] is not None else None
    if directives.get("down") == "noop":
        down_sql = ""  # reversible, and its down does nothing on purpose
    return SqlMigrationText(
        up=text[up.end : down.start].strip(),
        down=down_sql,
        transactional=directives.get("transactional", "true") == "true",
        lock_timeout=_seconds(directives, "lock_timeout"),
        statement_timeout=_seconds(directives, "statement_timeout"),
        allowed=frozenset(scan.allowed),
    )


class _Scan:
    """One pass over the text: markers, directives, and where SQL first appears in each stretch."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.markers: list[_Marker] = []
        # first_sql[i]: offset of the first SQL in the i-th stretch between markers, or None
        self.first_sql: list[int | None] = [None]
        self.directives: dict[str, str] = {}
        self.allowed: list[str] = []
        self._lines: dict[str, int] = {}
        for kind, s, e, closed in tokens(text):
            if not closed:
                what = _UNCLOSED[text[s]]
                raise SqlTextError(
                    f"unterminated {what}: the one opened on this line is never closed", _line_of(text, s)
                )
            if kind == GAP and self.first_sql[-1] is None:
                m = NONSPACE.search(text, s, e)
                if m is not None:
                    self.first_sql[-1] = m.start()
            elif kind == QUOTED and self.first_sql[-1] is None:
                self.first_sql[-1] = s
            elif kind == LINE_COMMENT and _starts_line(text, s):
                self._comment(s, e)

    def _comment(self, s: int, e: int) -> None:
        comment = self.text[s:e]
        marker = _MARKER.fullmatch(comment)
        if marker is not None:
            self.markers.append(_Marker(marker.group(1).lower(), s, e, _line_of(self.text, s)))
            self.first_sql.append(None)
        elif _DIRECTIVE_PREFIX.match(comment):
            self._directive(comment, _line_of(self.text, s), s)

    def _directive(self, comment: str, line: int, pos: int) -> None:
        allow = _ALLOW.fullmatch(comment)
        if allow is not None:
            self.allowed += [r.lower() for r in re.split(r"[\s,]+", allow.group(1).strip()) if r]
            return
        found = _DIRECTIVE.fullmatch(comment)
        if found is None:
            raise SqlTextError(
                f"unrecognised directive {_excerpt(self.text, pos)!r}; expected one of "
                "'-- nbmigrate: transactional=false', 'down=noop', 'lock_timeout=30s', "
                "'statement_timeout=5min', 'allow RULE_ID'",
                line,
            )
        key, value = found.group(1).lower(), found.group(2).lower()
        allowed = _VALUES.get(key)
        if allowed is not None and value not in allowed:
            takes = " or ".join(sorted(allowed))
            raise SqlTextError(f"'-- nbmigrate: {key}=' takes {takes}, not {value!r}", line)
        if key in self.directives and self.directives[key] != value:
            first = self._lines[key]
            said = self.directives[key]
            problem = f"conflicting '-- nbmigrate: {key}' directives (line {first} says {said})"
            raise SqlTextError(problem, line)
        if allowed is None:
            parse_duration(value, f"line {line}: {key}")
        self.directives[key], self._lines[key] = value, line

    def sections(self) -> tuple[_Marker, _Marker]:
        """The `-- up` and `-- down` markers, checked: one of each, in order, SQL only after `-- up`."""
        ups = [m for m in self.markers if m.name == "up"]
        downs = [m for m in self.markers if m.name == "down"]
        if not ups:
            raise SqlTextError("no '-- up' marker: the up SQL must follow a line reading '-- up'")
        if len(ups) > 1:
            raise SqlTextError(f"duplicate '-- up' marker (the first is on line {ups[0].line})", ups[1].line)
        if not downs:
            raise SqlTextError(
                "no '-- down' marker: add a '-- down' line after the up SQL "
                "(leave its section empty for an irreversible migration)"
            )
        if len(downs) > 1:
            raise SqlTextError(
                f"duplicate '-- down' marker (the first is on line {downs[0].line})", downs[1].line
            )
        up, down = ups[0], downs[0]
        if down.start < up.start:
            raise SqlTextError(
                f"'-- down' marker comes before the '-- up' marker (line {up.line})", down.line
            )
        before = self.first_sql[0]
        if before is not None:
            excerpt = _excerpt(self.text, before)
            raise SqlTextError(
                f"SQL before the '-- up' marker ({excerpt!r}); only comments may precede it",
                _line_of(self.text, before),
            )
        if self.first_sql[1] is None:
            raise SqlTextError("the up section contains no SQL statement", up.line)
        return up, down


_DURATION = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*(ms|s|min|h)?")
_UNITS = {"ms": 0.001, "s": 1.0, "min": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(text: str, what: str) -> float:
    """`30s`, `500ms`, `2min`, `1h` or plain seconds; `0` or `off`: no limit. SqlTextError otherwise."""
    text = text.strip().lower()
    if text == "off":
        return 0.0
    found = _DURATION.fullmatch(text)
    if found is None:
        raise SqlTextError(f"{what}: expected a duration like 30s, 500ms or 2min, got {text!r}")
    return float(found.group(1)) * _UNITS[found.group(2)]


def _seconds(directives: dict[str, str], key: str) -> float | None:
    value = directives.get(key)
    return None if value is None else parse_duration(value, key)
