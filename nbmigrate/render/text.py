"""Results as the shell prints them: aligned tables and one line per step."""

from __future__ import annotations

from ..model import State
from ..reports import (
    BackupReport,
    HistoryReport,
    NewFileReport,
    RunReport,
    SchemaChange,
    SchemaReport,
    SourceReport,
    StatusReport,
    ValidationReport,
)
from .common import duration, indent, indented, plural, short, size, table, terminated, when
from .dispatch import to_text


@to_text.register
def _(result: StatusReport) -> str:
    return _status_text(result)


@to_text.register
def _(result: RunReport) -> str:
    return _run_text(result)


@to_text.register
def _(result: HistoryReport) -> str:
    if not result.events:
        return "no events yet"
    rows = [
        [
            when(ev.started_at),
            ev.action,
            ev.version or "",
            ev.name or "",
            ev.outcome,
            duration(ev.duration_ms),
            ev.applied_by or "",
            short(ev.error or ev.note or "", 60),
        ]
        for ev in result.events
    ]
    return table(["STARTED (UTC)", "ACTION", "VERSION", "NAME", "OUTCOME", "TOOK", "BY", "NOTE"], rows)


@to_text.register
def _(result: ValidationReport) -> str:
    if result.ok:
        return f"ok: {plural(result.checked, 'migration')} valid, ledger consistent"
    return f"{plural(len(result.problems), 'problem')}:\n" + "\n".join(f"  - {p}" for p in result.problems)


@to_text.register
def _(result: SourceReport) -> str:
    where = str(result.path) if result.path else "registered in code"
    return f"-- {result.version} {result.name} ({where})\n{result.text.rstrip()}"


@to_text.register
def _(result: SchemaReport) -> str:
    return _schema_text(result)


@to_text.register
def _(result: NewFileReport) -> str:
    return f"created {result.path}"


@to_text.register
def _(result: BackupReport) -> str:
    return backups_text(result)


def _status_text(report: StatusReport) -> str:
    if not report.migrations:
        return f"no migrations in {report.directory} (database {report.database})"
    rows = [[m.version, m.name, m.state.value, when(m.applied_at)] for m in report.migrations]
    out = [table(["VERSION", "NAME", "STATE", "APPLIED AT (UTC)"], rows)]
    failed = [m for m in report.migrations if m.state is State.FAILED]
    for m in failed:
        out.append(f"\nmigration {m.version} failed: {m.error}")
        if m.statement:
            out.append(f"  statement: {short(m.statement, 200)}")
        out.append(f"  recover: `down`, fix and `up` again, or `mark {m.version}`")
    out.append(summary(report))
    return "\n".join(out)


def summary(report: StatusReport) -> str:
    parts = [f"{report.count(s)} {s.value}" for s in State if report.count(s)]
    return f"{plural(len(report.migrations), 'migration')}: " + ", ".join(parts)


def _run_text(report: RunReport) -> str:
    lines = []
    verbs = {"applied": "applied", "reverted": "reverted", "dry-run": "would run", "skipped": "skipped"}
    for step in report.steps:
        verb = verbs.get(step.outcome, step.outcome)
        took = f" ({duration(step.duration_ms)})" if step.duration_ms else ""
        note = f": {step.note}" if step.note else ""
        direction = f"{step.direction} " if step.outcome in ("dry-run", "skipped") else ""
        lines.append(f"{verb} {direction}{step.version} {step.name}{took}{note}")
        if report.dry_run:
            lines += [f"    {indent(terminated(sql))}" for sql in step.statements]
    if report.dry_run:
        lines.append("schema change (rolled back):")
        lines += change_lines(report.schema_change)
    if report.message:
        lines.append(report.message)
    return "\n".join(lines) if lines else "nothing to do"


def change_lines(change: SchemaChange | None) -> list[str]:
    if change is None or change.empty:
        return ["  none"]
    return [f"  {line}" for line in change.lines()]


def _schema_text(report: SchemaReport) -> str:
    if not report.tables:
        return f"no tables in {report.database}"
    blocks = []
    for t in report.tables:
        rows = [
            [
                c.name,
                c.type,
                "PK" if c.primary_key else "",
                "NOT NULL" if c.notnull else "",
                "" if c.default is None else str(c.default),
            ]
            for c in t.columns
        ]
        block = [f"table {t.name}", indented(table(["COLUMN", "TYPE", "KEY", "NULL", "DEFAULT"], rows))]
        for ix in t.indexes:
            unique = "unique " if ix.unique else ""
            block.append(f"  {unique}index {ix.name} ({', '.join(ix.columns)})")
        blocks.append("\n".join(block))
    return "\n\n".join(blocks)


def backups_text(report: BackupReport) -> str:
    if report.restored is not None:
        return "\n".join(_restore_lines(report))
    if not report.backups:
        none = f"no backups of {report.database} yet (they go to {report.directory})"
        return "\n".join([none, *usage_lines(report)])
    rows = [[when(b.taken_at), b.command, size(b.size), str(b.path)] for b in report.backups]
    return "\n".join([table(["TAKEN (UTC)", "BEFORE", "SIZE", "PATH"], rows), *usage_lines(report)])


def usage_lines(report: BackupReport) -> list[str]:
    """The folder's whole disk use: complete backups, then what else it holds, said apart."""
    u = report.usage
    lines = [f"{plural(len(report.backups), 'backup')}, {size(u.backup_bytes)}"] if report.backups else []
    if u.partial_files:
        lines.append(
            f"{plural(u.partial_files, 'partial backup file')} (an interrupted backup, or its journal), "
            f"{size(u.partial_bytes)}: the next command that takes the lock removes "
            + ("it" if u.partial_files == 1 else "them")
        )
    if u.other_files:
        lines.append(f"{plural(u.other_files, 'other file')}, {size(u.other_bytes)}")
    if u.partial_files or u.other_files:
        lines.append(f"{size(u.total_bytes)} in all in {report.directory}")
    return lines


def _restore_lines(report: BackupReport) -> list[str]:
    restored, saved = report.restored, report.saved
    assert restored is not None
    lines = [f"restored {report.database} from {restored.path.name} (taken {when(restored.taken_at)} UTC)"]
    if saved is not None:
        lines.append(f"the state before the restore is saved as {saved.path}; `restore` again undoes it")
    else:
        lines.append("the state before the restore was not saved (--no-backup)")
    return lines
