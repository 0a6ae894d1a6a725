"""What commands return: reports, plain records that render.py turns into text, JSON and HTML."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from .model import Event, MigrationStatus, State, StepResult, iso


@dataclass(frozen=True)
class StatusReport:
    """The result of `status`."""

    database: str
    directory: str | None
    migrations: list[MigrationStatus]

    def count(self, state: State) -> int:
        return sum(1 for m in self.migrations if m.state is state)

    @property
    def rows(self) -> list[dict[str, Any]]:
        return [m.as_dict() for m in self.migrations]

    def as_dict(self) -> dict[str, Any]:
        return {"database": self.database, "directory": self.directory, "migrations": self.rows}


@dataclass(frozen=True)
class ColumnInfo:
    name: str
    type: str
    notnull: bool
    default: str | None
    primary_key: bool


@dataclass(frozen=True)
class IndexInfo:
    name: str
    columns: tuple[str, ...]
    unique: bool


@dataclass(frozen=True)
class TableInfo:
    name: str
    columns: tuple[ColumnInfo, ...]
    indexes: tuple[IndexInfo, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "columns": [c.__dict__ for c in self.columns],
            "indexes": [{**i.__dict__, "columns": list(i.columns)} for i in self.indexes],
        }


@dataclass(frozen=True)
class SchemaReport:
    """The result of `schema`: the user tables of the database."""

    database: str
    tables: list[TableInfo]

    @property
    def rows(self) -> list[dict[str, Any]]:
        return [t.as_dict() for t in self.tables]

    def as_dict(self) -> dict[str, Any]:
        return {"database": self.database, "tables": self.rows}


@dataclass(frozen=True)
class SchemaChange:
    """How a dry run would change the schema."""

    added_tables: list[str] = field(default_factory=list)
    dropped_tables: list[str] = field(default_factory=list)
    changed_tables: dict[str, list[str]] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not (self.added_tables or self.dropped_tables or self.changed_tables)

    def lines(self) -> list[str]:
        out = [f"+ table {t}" for t in self.added_tables]
        out += [f"- table {t}" for t in self.dropped_tables]
        for table, changes in self.changed_tables.items():
            out += [f"~ table {table}: {c}" for c in changes]
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "added_tables": self.added_tables,
            "dropped_tables": self.dropped_tables,
            "changed_tables": self.changed_tables,
        }


@dataclass
class RunReport:
    """The result of `up`, `down`, `redo`, `mark`, `unmark`, `repair` or `reset`."""

    command: str
    database: str
    steps: list[StepResult] = field(default_factory=list)
    dry_run: bool = False
    schema_change: SchemaChange | None = None
    message: str | None = None

    @property
    def rows(self) -> list[dict[str, Any]]:
        return [s.as_dict() for s in self.steps]

    def as_dict(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "database": self.database,
            "dry_run": self.dry_run,
            "steps": self.rows,
            "schema_change": self.schema_change.as_dict() if self.schema_change else None,
            "message": self.message,
        }


@dataclass(frozen=True)
class HistoryReport:
    """The result of `history`: newest events first."""

    database: str
    events: list[Event]

    @property
    def rows(self) -> list[dict[str, Any]]:
        return [e.as_dict() for e in self.events]

    def as_dict(self) -> dict[str, Any]:
        return {"database": self.database, "events": self.rows}


@dataclass(frozen=True)
class ValidationReport:
    """The result of `validate`: every problem found; ok when there are none."""

    database: str
    checked: int
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {"database": self.database, "ok": self.ok, "checked": self.checked, "problems": self.problems}


@dataclass(frozen=True)
class SourceReport:
    """The result of `show`: one migration's source."""

    version: str
    name: str
    path: Path | None
    text: str

    def as_dict(self) -> dict[str, Any]:
        path = str(self.path) if self.path else None
        return {"version": self.version, "name": self.name, "path": path, "source": self.text}


@dataclass(frozen=True)
class NewFileReport:
    """The result of `new`: the file written."""

    version: str
    name: str
    path: Path

    def as_dict(self) -> dict[str, Any]:
        return {"version": self.version, "name": self.name, "path": str(self.path)}


@dataclass(frozen=True)
class BackupInfo:
    """One backup file of a SQLite database: when, before which command, how big, where."""

    path: Path
    taken_at: datetime
    command: str
    size: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "taken_at": iso(self.taken_at),
            "command": self.command,
            "size": self.size,
        }


@dataclass(frozen=True)
class BackupUsage:
    """Everything a backups folder holds on disk: complete backups, partial ones, anything else."""

    backups: int = 0
    backup_bytes: int = 0
    partial_files: int = 0  # hidden `.partial` files and their journals, left by a killed backup
    partial_bytes: int = 0
    other_files: int = 0
    other_bytes: int = 0

    @property
    def total_bytes(self) -> int:
        return self.backup_bytes + self.partial_bytes + self.other_bytes

    def as_dict(self) -> dict[str, int]:
        return {
            "backups": self.backups,
            "backup_bytes": self.backup_bytes,
            "partial_files": self.partial_files,
            "partial_bytes": self.partial_bytes,
            "other_files": self.other_files,
            "other_bytes": self.other_bytes,
            "total_bytes": self.total_bytes,
        }


@dataclass(frozen=True)
class BackupReport:
    """The result of `backups` (the list, newest first) and `restore` (what was put back)."""

    database: str
    directory: Path
    backups: list[BackupInfo]
    restored: BackupInfo | None = None  # restore: the backup put back
    saved: BackupInfo | None = None  # restore: the state just before it, to undo the restore
    usage: BackupUsage = BackupUsage()  # the whole folder's disk use

    @property
    def rows(self) -> list[dict[str, Any]]:
        return [b.as_dict() for b in self.backups]

    def as_dict(self) -> dict[str, Any]:
        return {
            "database": self.database,
            "directory": str(self.directory),
            "backups": self.rows,
            "restored": self.restored.as_dict() if self.restored else None,
            "saved": self.saved.as_dict() if self.saved else None,
            "usage": self.usage.as_dict(),
        }


# Everything a command returns: each has `as_dict()`, and a text and an HTML rendering (render/).
Report = (
    StatusReport
    | RunReport
    | HistoryReport
    | ValidationReport
    | SourceReport
    | SchemaReport
    | NewFileReport
    | BackupReport
)
