"""Parse the text of ``.sql`` migration files and split SQL into statements."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = [
    "ABSORBED",
    "ENDS_EARLY",
    "SqlMigrationText",
    "SqlTextError",
    "is_transaction_control",
    "might_hold_transaction_control",
    "parse_sql_migration",
    "split_statements",
    "transaction_control",
]


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


class SqlTextError(ValueError):
    """Malformed migration text; ``.line`` is the 1-based line number or None."""

    def __init__(self, message: str, line: int | None = None) -> None:
        self.message = message
        self.line = line
        super().__init__(message if line is None else f"line {line}: {message}")

    def __reduce__(self) -> tuple[type[SqlTextError], tuple[str, int | None]]:
        return (type(self), (self.message, self.line))


# --------------------------------------------------------------------------- lexer
#
# One linear pass over the text.  A regex finds the next character that can open
# something (a quote, a comment, a dollar quote, a bracket) or end a statement; the end
# of each opened thing is found with str.find.  Everything in between is a "gap" of
# ordinary SQL that is never copied, only looked at by position.

_GAP = 0  # ordinary SQL text (words, punctuation, whitespace)
_SEMI = 1  # a top-level ';'
_LINE_COMMENT = 2  # '-- ...' up to, not including, the newline
_BLOCK_COMMENT = 3  # '/* ... */' (not nested, as in SQLite)
_QUOTED = 4  # '...', E'...', "...", `...`, [...], $tag$...$tag$

_SPECIAL = re.compile(r"--|/\*|['\"`\[$;]")
_DOLLAR_TAG = re.compile(r"\$(?:[^\W\d]\w*)?\$")
_ESCAPE_STOP = re.compile(r"[\\']")
_NONSPACE = re.compile(r"\S")

_Token = tuple[int, int, int, bool]  # kind, start, end, closed


def _is_ident_char(ch: str) -> bool:
    return ch.isalnum() or ch == "_" or ch == "$"


def _doubled_quote_end(text: str, quote: str, pos: int) -> int:
    """End (exclusive) of a quoted run whose body starts at pos; '' escapes; -1 if open."""
    while True:
        i = text.find(quote, pos)
        if i < 0:
            return -1
        if text.startswith(quote, i + 1):
            pos = i + 2
            continue
        return i + 1


def _escape_string_end(text: str, pos: int) -> int:
    """End (exclusive) of a PostgreSQL E'...' body starting at pos (backslash escapes)."""
    while True:
        m = _ESCAPE_STOP.search(text, pos)
        if m is None:
            return -1
        i = m.start()
        if text[i] == "\\" or text.startswith("'", i + 1):
            pos = i + 2
            continue
        return i + 1


def _tokens(text: str) -> Iterator[_Token]:
    """Yield the top-level tokens of text; an unclosed token runs to the end."""
    n = len(text)
    gap = 0  # start of the current gap
    pos = 0  # where to look for the next special character
    search = _SPECIAL.search
    while True:
        m = search(text, pos)
        if m is None:
            break
        s = m.start()
        c = text[s]
        kind = _QUOTED
        if c == ";":
            kind, end = _SEMI, s + 1
        elif c == "-":
            kind, end = _LINE_COMMENT, text.find("\n", s)
            if end < 0:
                end = n
        elif c == "/":
            kind, end = _BLOCK_COMMENT, text.find("*/", s + 2)
            if end >= 0:
                end += 2
        elif c == "'":
            # E'...' (PostgreSQL) takes backslash escapes; the E must be a word of its own.
            # (Checks look back only within the gap: a token just ended is no identifier.)
            if s > gap and text[s - 1] in "eE" and (s - 1 == gap or not _is_ident_char(text[s - 2])):
                end = _escape_string_end(text, s + 1)
            else:
                end = _doubled_quote_end(text, "'", s + 1)
        elif c == '"' or c == "`":
            end = _doubled_quote_end(text, c, s + 1)
        elif c == "[":
            end = text.find("]", s + 1)
            if end >= 0:
                end += 1
        else:  # '$': a dollar quote only when it opens a tag ($$, $body$), not $1 or a$b
            t = None if s > gap and _is_ident_char(text[s - 1]) else _DOLLAR_TAG.match(text, s)
            if t is None:
                pos = s + 1
                continue
            tag = t.group()
            end = text.find(tag, t.end())
            if end >= 0:
                end += len(tag)
        if gap < s:
            yield (_GAP, gap, s, True)
        if end < 0:
            yield (kind, s, n, False)
            return
        yield (kind, s, end, True)
        gap = pos = end
    if gap < n:
        yield (_GAP, gap, n, True)


# --------------------------------------------------------------------- statements

# A statement whose head is CREATE [OR REPLACE|TEMP|TEMPORARY|CONSTRAINT]* followed by
# one of these may hold a BEGIN ... END body with semicolons in it: SQLite triggers, and
# PostgreSQL 14+ "BEGIN ATOMIC" function bodies (psql uses the same heuristic).
_HEAD_MODIFIERS = frozenset({"OR", "REPLACE", "TEMP", "TEMPORARY", "CONSTRAINT"})
_BODY_OBJECTS = frozenset({"TRIGGER", "FUNCTION", "PROCEDURE"})
_WORD_OR_CHAR = re.compile(r"[\w$]+|\S")
_INLINE_SPACE = re.compile(r"[ \t]*")

_HEAD_EMPTY = 0  # nothing but whitespace and comments yet
_HEAD_CREATE = 1  # saw CREATE and maybe modifiers
_HEAD_DONE = 2  # the head is decided


class _Body:
    """BEGIN ... END nesting within one CREATE TRIGGER / FUNCTION / PROCEDURE statement.

    BEGIN opens the body (once); inside it CASE nests, and END closes a CASE, or the body
    itself when END starts a body statement (like SQLite's own ';' END ';' rule).  Keywords
    in parentheses are not counted.  So columns named begin or end (SQLite allows both) do
    not upset the count.
    """

    __slots__ = ("at_start", "depth", "parens")

    def __init__(self) -> None:
        self.depth = 0
        self.parens = 0
        self.at_start = False  # no token yet in the current body statement

    def scan(self, text: str, pos: int, end: int) -> None:
        for m in _WORD_OR_CHAR.finditer(text, pos, end):
            token = m.group()
            if token == "(":
                self.parens += 1
            elif token == ")":
                self.parens = max(self.parens - 1, 0)
            elif self.parens == 0:
                word = token.upper()
                if word == "BEGIN" and self.depth == 0:
                    self.depth = 1
                    self.at_start = True
                    continue
                if word == "ATOMIC" and self.at_start:
                    continue
                if word == "CASE" and self.depth:
                    self.depth += 1
                elif word == "END" and (self.depth > 1 or self.at_start):
                    self.depth -= 1
            self.at_start = False

    def semicolon(self) -> None:
        self.parens = 0  # a statement, in a body or not, ends with its parentheses closed
        self.at_start = self.depth == 1


def split_statements(sql: str) -> list[str]:
    """Split SQL into statements: each stripped, without its ';', comment-only ones dropped.

    Semicolons inside quotes, comments, dollar quotes and bracketed identifiers do not
    split; neither do those inside the BEGIN ... END body of a CREATE TRIGGER (or a
    BEGIN ATOMIC function body), where CASE ... END also nests.  A final statement
    without a semicolon is kept.  Never raises: unclosed quotes run to the end.
    """
    text = sql[1:] if sql.startswith("\ufeff") else sql
    statements: list[str] = []
    start = 0  # where the current statement began (just after the last ';')
    head = _HEAD_EMPTY
    body: _Body | None = None
    # Just after a ';', a '-- comment' on the rest of its line belongs to neither
    # statement (it usually remarks on the one before); it is skipped.
    same_line = False
    for kind, s, e, _closed in _tokens(text):
        if same_line:
            same_line = kind == _GAP and _INLINE_SPACE.fullmatch(text, s, e) is not None
            if kind == _LINE_COMMENT:
                start = e
        if kind == _GAP:
            scan_from = s
            if head != _HEAD_DONE:
                for w in _WORD_OR_CHAR.finditer(text, s, e):
                    word = w.group().upper()
                    if head == _HEAD_EMPTY:
                        head = _HEAD_CREATE if word == "CREATE" else _HEAD_DONE
                    elif word in _BODY_OBJECTS:
                        body = _Body()
                        head = _HEAD_DONE
                    elif word not in _HEAD_MODIFIERS:
                        head = _HEAD_DONE
                    if head == _HEAD_DONE:
                        scan_from = w.end()
                        break
            if body is not None:
                body.scan(text, scan_from, e)
        elif kind == _QUOTED:
            head = _HEAD_DONE
            if body is not None:
                body.at_start = False
        elif kind == _SEMI:
            if body is not None:
                body.semicolon()
                if body.depth:
                    continue
            if head != _HEAD_EMPTY:
                statements.append(text[start:s].strip())
            start = e
            head = _HEAD_EMPTY
            body = None
            same_line = True
    if head != _HEAD_EMPTY:
        statements.append(text[start:].strip())
    return statements


_SKIP_LEADING = re.compile(r"(?:\s|--[^\n]*|/\*.*?(?:\*/|\Z))*", re.DOTALL)
_SKIP_TRAILING = re.compile(r"(?:\s|;|--[^\n]*|/\*.*?(?:\*/|\Z))*", re.DOTALL)
_OPEN_OR_COMMIT = re.compile(
    r"(?:BEGIN(?:\s+(?:DEFERRED|IMMEDIATE|EXCLUSIVE))?(?:\s+(?:TRANSACTION|WORK))?"
    r"|START\s+TRANSACTION"
    r"|(?:COMMIT|END)(?:\s+(?:TRANSACTION|WORK))?(?:\s+AND\s+(?:NO\s+)?CHAIN)?"
    r")(?![\w$])",
    re.IGNORECASE,
)
# ROLLBACK, ABORT, PREPARE TRANSACTION, COMMIT/ROLLBACK PREPARED: each ends (or hands off) the
# open transaction. ROLLBACK [WORK|TRANSACTION] TO [SAVEPOINT] x only unwinds to a savepoint.
_ENDS_EARLY = re.compile(
    r"(?:(?:ROLLBACK|ABORT)(?![\w$])(?!(?:\s+(?:WORK|TRANSACTION))?\s+TO(?![\w$]))"
    r"|PREPARE\s+TRANSACTION(?![\w$])"
    r"|COMMIT\s+PREPARED(?![\w$]))",
    re.IGNORECASE,
)
# Cheap test before splitting a string that might hold any of the above.
_MIGHT_CONTROL = re.compile(r"(?<![\w$])(?:BEGIN|START|COMMIT|END|ROLLBACK|ABORT|PREPARE)(?![\w$])", re.I)

ABSORBED = "absorbed"
ENDS_EARLY = "ends early"


def transaction_control(statement: str) -> str | None:
    """How one statement touches the surrounding transaction.

    ABSORBED: a bare BEGIN / START TRANSACTION / COMMIT / END (nbmigrate owns the
    transaction, so these are habits from hand-run scripts, safely ignored inside it).
    ENDS_EARLY: ROLLBACK, ABORT, PREPARE TRANSACTION, COMMIT/ROLLBACK PREPARED, which would
    end the migration's transaction before its ledger row is written. None: anything else,
    SAVEPOINT, RELEASE and ROLLBACK TO SAVEPOINT included. Leading and trailing comments,
    whitespace and a trailing ';' are ignored.
    """
    lead = _SKIP_LEADING.match(statement)  # always matches, possibly empty
    start = lead.end() if lead else 0
    if _ENDS_EARLY.match(statement, start):
        return ENDS_EARLY
    m = _OPEN_OR_COMMIT.match(statement, start)
    if m is None:
        return None
    tail = _SKIP_TRAILING.match(statement, m.end())
    return ABSORBED if tail is not None and tail.end() == len(statement) else None


def is_transaction_control(statement: str) -> bool:
    """True when statement is a bare BEGIN / START TRANSACTION / COMMIT / END statement."""
    return transaction_control(statement) == ABSORBED


def might_hold_transaction_control(sql: str) -> bool:
    """False when `sql` certainly holds no transaction-control statement (a cheap pre-check)."""
    return _MIGHT_CONTROL.search(sql) is not None


# ---------------------------------------------------------------- migration files

_MARKER = re.compile(r"--\s*(?:migrate\s*:\s*)?(up|down)\s*", re.IGNORECASE)
_DIRECTIVE_PREFIX = re.compile(r"--\s*nbmigrate\s*:", re.IGNORECASE)
_DIRECTIVE = re.compile(r"--\s*nbmigrate\s*:\s*transactional\s*=\s*(true|false)\s*", re.IGNORECASE)

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

    markers: list[_Marker] = []
    # first_sql[i]: offset of the first SQL in the i-th stretch between markers, or None
    first_sql: list[int | None] = [None]
    transactional: bool | None = None
    directive_line = 0
    for kind, s, e, closed in _tokens(text):
        if not closed:
            what = _UNCLOSED[text[s]]
            raise SqlTextError(
                f"unterminated {what}: the one opened on this line is never closed", _line_of(text, s)
            )
        if kind == _GAP:
            if first_sql[-1] is None:
                m = _NONSPACE.search(text, s, e)
                if m is not None:
                    first_sql[-1] = m.start()
        elif kind == _QUOTED:
            if first_sql[-1] is None:
                first_sql[-1] = s
        elif kind == _LINE_COMMENT and _starts_line(text, s):
            comment = text[s:e]
            marker = _MARKER.fullmatch(comment)
            if marker is not None:
                name = marker.group(1).lower()
                markers.append(_Marker(name, s, e, _line_of(text, s)))
                first_sql.append(None)
            elif _DIRECTIVE_PREFIX.match(comment):
                line = _line_of(text, s)
                directive = _DIRECTIVE.fullmatch(comment)
                if directive is None:
                    raise SqlTextError(
                        f"unrecognised directive {_excerpt(text, s)!r}; "
                        "expected '-- nbmigrate: transactional=false' (or =true)",
                        line,
                    )
                value = directive.group(1).lower() == "true"
                if transactional is not None and transactional != value:
                    raise SqlTextError(
                        "conflicting '-- nbmigrate: transactional' directives "
                        f"(line {directive_line} says {str(transactional).lower()})",
                        line,
                    )
                transactional, directive_line = value, line

    ups = [m for m in markers if m.name == "up"]
    downs = [m for m in markers if m.name == "down"]
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
        raise SqlTextError(f"'-- down' marker comes before the '-- up' marker (line {up.line})", down.line)
    before = first_sql[0]
    if before is not None:
        raise SqlTextError(
            f"SQL before the '-- up' marker ({_excerpt(text, before)!r}); only comments may precede it",
            _line_of(text, before),
        )
    if first_sql[1] is None:
        raise SqlTextError("the up section contains no SQL statement", up.line)
    return SqlMigrationText(
        up=text[up.end : down.start].strip(),
        down=text[down.end :].strip() if first_sql[2] is not None else None,
        transactional=True if transactional is None else transactional,
    )
