"""The Migration base class and the plain records nbmigrate passes between its layers."""

from __future__ import annotations

import enum
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from .errors import UsageError

Params = Sequence[Any] | dict[str, Any] | None

MAX_VERSION_DIGITS = 20
# `\Z`, not `$`: `$` also matches before a final newline, and `abc\n` is no name.
VERSION_RE = re.compile(rf"^[0-9]{{3,{MAX_VERSION_DIGITS}}}\Z")
NAME_RE = re.compile(r"^[a-z0-9_]+\Z")


def version_key(version: str) -> int:
    """Versions compare as integers: `1000` comes after `999`."""
    return int(version)


def normalize_version(text: str) -> str:
    """Accept `2`, `02` or `002` from a user and return the canonical zero-padded form.

    Only ASCII digits (`str.isdigit` accepts `²` and `٥`, which `int` then refuses), at most 20.
    """
    text = text.strip()
    problem = version_problem(text)
    if problem is not None:
        raise UsageError(problem)
    return text.zfill(3) if len(text) < 3 else text


def version_problem(text: str) -> str | None:
    """Why `text` is not a version (ASCII digits, 1 to 20 of them), or None."""
    if not text.isascii() or not text.isdigit():
        return f"version must be digits 0-9, like 001 (got {shorten(text)!r})"
    if len(text) > MAX_VERSION_DIGITS:
        return f"version has {len(text)} digits; at most {MAX_VERSION_DIGITS}"
    return None


def shorten(text: str, limit: int = 40) -> str:
    """`text` cut to `limit` characters for a message (a pasted 5,000-digit number stays one short line)."""
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


class Connection(Protocol):
    """What a migration receives as `db` (nbmigrate's Database): statements, rows, one transaction helper."""

    @property
    def dialect(self) -> str: ...

    async def execute(self, sql: str, params: Params = None) -> int: ...

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...

    async def fetch_all(self, sql: str, params: Params = None) -> list[Any]: ...

    async def fetch_one(self, sql: str, params: Params = None) -> Any | None: ...

    async def fetch_val(self, sql: str, params: Params = None) -> Any: ...

    def iterate(self, sql: str, params: Params = None) -> AsyncIterator[Any]: ...

    async def commit(self) -> None: ...

    async def rollback(self) -> None: ...

    def transaction(self) -> AbstractAsyncContextManager[Any]: ...


class Migration:
    """One schema change: subclass it and define async `up(db)` and `down(db)`.

    Either pass `version`, `name` and `description` to `__init__` (the seed's style)
    or set them as class attributes. Set `transactional = False` for statements that
    cannot run inside a transaction (`VACUUM`, `CREATE INDEX CONCURRENTLY`).
    """

    version: str = ""
    name: str = ""
    description: str = ""
    transactional: bool = True
    # PostgreSQL lock safety for this migration's session (`-- nbmigrate: lock_timeout=30s`);
    # None: the settings' default. And the lint rules it allows (`allow = [...]` in Python).
    lock_timeout: float | None = None
    statement_timeout: float | None = None
    allowed: frozenset[str] = frozenset()

    def __init__(
        self,
        version: str | None = None,
        name: str | None = None,
        description: str | None = None,
        *,
        transactional: bool | None = None,
    ) -> None:
        if version is not None:
            self.version = str(version)
        if name is not None:
            self.name = name
        if description is not None:
            self.description = description
        if transactional is not None:
            self.transactional = transactional

    async def up(self, db: Connection) -> None:
        raise NotImplementedError

    async def down(self, db: Connection) -> None:
        raise NotImplementedError

    # Filled in by the loader; a migration registered in code has no file.
    path: Path | None = None
    checksum: str | None = None
    kind: str = "code"

    @property
    def reversible(self) -> bool:
        """True when the migration defines a down step."""
        return type(self).down is not Migration.down

    @property
    def label(self) -> str:
        return f"{self.version} {self.name}"

    def source_text(self) -> str:
        """The source a person would read: the file, or the class's code."""
        if self.path is not None:
            return self.path.read_text(encoding="utf-8-sig")
        import inspect

        try:
            return inspect.getsource(type(self))
        except (OSError, TypeError):
            return f"# {type(self).__qualname__}: source not available"

    def __repr__(self) -> str:
        return f"<Migration {self.version} {self.name}>"


class State(str, enum.Enum):
    """Where a migration stands relative to the database."""

    APPLIED = "applied"
    APPLIED_OUT_OF_ORDER = "applied (out of order)"  # applied after a newer migration was
    PENDING = "pending"
    CHANGED = "changed"
    MISSING = "missing"
    OUT_OF_ORDER = "pending (out of order)"  # older than the newest applied one
    RUNNING = "running"  # a non-transactional step another run is executing right now
    FAILED = "failed"

    def __str__(self) -> str:
        return self.value


APPLIED_STATES = frozenset({State.APPLIED, State.APPLIED_OUT_OF_ORDER, State.CHANGED, State.MISSING})
PENDING_STATES = frozenset({State.PENDING, State.OUT_OF_ORDER})


@dataclass(frozen=True)
class AppliedRecord:
    """One row of the `_migrations` ledger."""

    version: str
    name: str
    description: str | None = None
    checksum: str | None = None
    applied_at: datetime | None = None
    execution_ms: float | None = None
    applied_by: str | None = None
    status: str = "applied"
    error: str | None = None
    statement: str | None = None
    out_of_order: bool = False


@dataclass(frozen=True)
class MigrationStatus:
    """One line of `status`: a migration known from a file, the ledger, or both."""

    version: str
    name: str
    state: State
    applied_at: datetime | None = None
    execution_ms: float | None = None
    description: str | None = None
    path: Path | None = None
    error: str | None = None
    statement: str | None = None

    @property
    def applied(self) -> bool:
        return self.state in APPLIED_STATES

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "name": self.name,
            "state": self.state.value,
            "applied": self.applied,
            "applied_at": iso(self.applied_at),
            "execution_ms": self.execution_ms,
            "description": self.description,
            "path": str(self.path) if self.path else None,
            "error": self.error,
            "statement": self.statement,
        }


@dataclass
class StepResult:
    """What happened to one migration during a run."""

    version: str
    name: str
    direction: str  # "up" or "down"
    outcome: str  # "applied", "reverted", "marked", "unmarked", "dry-run", "skipped"
    duration_ms: float = 0.0
    statements: list[str] = field(default_factory=list)
    note: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "name": self.name,
            "direction": self.direction,
            "outcome": self.outcome,
            "duration_ms": round(self.duration_ms, 3),
            "statements": self.statements,
            "note": self.note,
        }


@dataclass(frozen=True)
class Progress:
    """Sent to a progress callback before ("start") and after ("done") each step of a run."""

    phase: str
    direction: str
    version: str
    name: str
    index: int
    total: int


@dataclass(frozen=True)
class Event:
    """One row of the append-only `_migrations_log`."""

    id: int
    run_id: str
    action: str
    version: str | None
    name: str | None
    started_at: datetime | None
    finished_at: datetime | None
    duration_ms: float | None
    outcome: str
    error: str | None
    applied_by: str | None
    nbmigrate_version: str | None
    note: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "run_id": self.run_id,
            "action": self.action,
            "version": self.version,
            "name": self.name,
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "duration_ms": self.duration_ms,
            "outcome": self.outcome,
            "error": self.error,
            "applied_by": self.applied_by,
            "nbmigrate_version": self.nbmigrate_version,
            "note": self.note,
        }


@dataclass(frozen=True)
class Interruption:
    """What an interrupt (Ctrl-C, SIGTERM, a kernel interrupt, Stop) left behind, as the database shows it.

    `outcome` of the step in flight: "rolled back", "not started", "applied", "reverted",
    "recorded as failed", "left unfinished" (its evidence row says running: status shows it as failed),
    or "unknown" (nbmigrate stopped waiting for its COMMIT). None when no step was in flight.
    """

    version: str | None = None
    name: str | None = None
    direction: str | None = None
    outcome: str | None = None
    completed: list[StepResult] = field(default_factory=list)

    def describe(self) -> str:
        if self.version is None:
            return "no migration was in flight; nothing is left half done"
        what = f"migration {self.version} ({self.name})"
        if self.outcome == "rolled back":
            return f"{what} was rolled back"
        if self.outcome == "not started":
            return f"{what} had not started; nothing of it ran"
        if self.outcome in ("applied", "reverted"):
            return f"{what} was {self.outcome} (its COMMIT had been sent); the run stopped there"
        if self.outcome == "recorded as failed":
            return f"{what} is not transactional: recorded as failed, the database may be partly changed"
        if self.outcome == "left unfinished":
            return (
                f"{what} is not transactional and its failure could not be recorded: the ledger says "
                "it is still running, status shows it as failed; the database may be partly changed"
            )
        return f"the outcome of {what} is unknown (its COMMIT was in flight): run `status`"


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
