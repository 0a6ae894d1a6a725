"""SQL text: one linear lexer, statements split outside quotes and bodies, transaction control told apart."""

from __future__ import annotations

import re
from collections.abc import Iterator

__all__ = [
    "ABSORBED",
    "ENDS_EARLY",
    "is_transaction_control",
    "might_hold_transaction_control",
    "split_statements",
    "tokens",
    "transaction_control",
]


# --------------------------------------------------------------------------- lexer
#
# One linear pass over the text.  A regex finds the next character that can open
# something (a quote, a comment, a dollar quote, a bracket) or end a statement; the end
# of each opened thing is found with str.find.  Everything in between is a "gap" of
# ordinary SQL that is never copied, only looked at by position.

GAP = 0  # ordinary SQL text (words, punctuation, whitespace)
SEMI = 1  # a top-level ';'
LINE_COMMENT = 2  # '-- ...' up to, not including, the newline
BLOCK_COMMENT = 3  # '/* ... */' (not nested, as in SQLite)
QUOTED = 4  # '...', E'...', "...", `...`, [...], $tag$...$tag$

_SPECIAL = re.compile(r"--|/\*|['\"`\[$;]")
_DOLLAR_TAG = re.compile(r"\$(?:[^\W\d]\w*)?\$")
_ESCAPE_STOP = re.compile(r"[\\']")
NONSPACE = re.compile(r"\S")

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


def tokens(text: str) -> Iterator[_Token]:
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
        kind = QUOTED
        if c == ";":
            kind, end = SEMI, s + 1
        elif c == "-":
            kind, end = LINE_COMMENT, text.find("\n", s)
            if end < 0:
                end = n
        elif c == "/":
            kind, end = BLOCK_COMMENT, text.find("*/", s + 2)
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
            yield (GAP, gap, s, True)
        if end < 0:
            yield (kind, s, n, False)
            return
        yield (kind, s, end, True)
        gap = pos = end
    if gap < n:
        yield (GAP, gap, n, True)


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
    for kind, s, e, _closed in tokens(text):
        if same_line:
            same_line = kind == GAP and _INLINE_SPACE.fullmatch(text, s, e) is not None
            if kind == LINE_COMMENT:
                start = e
        if kind == GAP:
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
        elif kind == QUOTED:
            head = _HEAD_DONE
            if body is not None:
                body.at_start = False
        elif kind == SEMI:
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
