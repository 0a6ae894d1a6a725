"""Turn results into plain text, JSON and HTML; knows the model and nothing else."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from .model import State
from .reports import (
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

Result = (
    StatusReport
    | RunReport
    | HistoryReport
    | ValidationReport
    | SourceReport
    | SchemaReport
    | NewFileReport
    | BackupReport
)

STATE_COLOURS = {
    State.APPLIED: "#1a7f37",
    State.APPLIED_OUT_OF_ORDER: "#1a7f37",
    State.RUNNING: "#0969da",
    State.PENDING: "#6e7781",
    State.CHANGED: "#bf8700",
    State.MISSING: "#cf222e",
    State.OUT_OF_ORDER: "#8250df",
    State.FAILED: "#cf222e",
}
STATE_ICONS = {
    State.APPLIED: "✔",
    State.APPLIED_OUT_OF_ORDER: "✔",
    State.RUNNING: "⟳",
    State.PENDING: "…",
    State.CHANGED: "✎",
    State.MISSING: "?",
    State.OUT_OF_ORDER: "↯",
    State.FAILED: "✘",
}


def plural(count: int, noun: str) -> str:
    """`1 migration`, `2 migrations`."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def when(value: datetime | None) -> str:
    """A readable UTC time, to the second."""
    return value.isoformat(" ", "seconds")[:19] if value else ""  # half strftime's cost, per status row


def table(headers: list[str], rows: list[list[str]]) -> str:
    """A plain-text table with aligned columns."""
    widths = [max(map(len, column)) for column in zip(headers, *rows, strict=True)]
    line = "  ".join(f"{{:<{w}}}" for w in widths)  # one format for every row: status lists thousands
    return "\n".join(line.format(*row).rstrip() for row in [headers, *rows])


# -- plain text -----------------------------------------------------------------------


def to_text(result: Result) -> str:
    if isinstance(result, StatusReport):
        return _status_text(result)
    if isinstance(result, RunReport):
        return _run_text(result)
    if isinstance(result, HistoryReport):
        if not result.events:
            return "no events yet"
        rows = [
            [
                when(e.started_at),
                e.action,
                e.version or "",
                e.name or "",
                e.outcome,
                _duration(e.duration_ms),
                e.applied_by or "",
                _short(e.error or e.note or "", 60),
            ]
            for e in result.events
        ]
        return table(["STARTED (UTC)", "ACTION", "VERSION", "NAME", "OUTCOME", "TOOK", "BY", "NOTE"], rows)
    if isinstance(result, ValidationReport):
        if result.ok:
            return f"ok: {plural(result.checked, 'migration')} valid, ledger consistent"
        return f"{plural(len(result.problems), 'problem')}:\n" + "\n".join(
            f"  - {p}" for p in result.problems
        )
    if isinstance(result, SourceReport):
        where = str(result.path) if result.path else "registered in code"
        return f"-- {result.version} {result.name} ({where})\n{result.text.rstrip()}"
    if isinstance(result, SchemaReport):
        return _schema_text(result)
    if isinstance(result, NewFileReport):
        return f"created {result.path}"
    if isinstance(result, BackupReport):
        return _backups_text(result)
    raise TypeError(f"cannot render {type(result).__name__}")


def _status_text(report: StatusReport) -> str:
    if not report.migrations:
        return f"no migrations in {report.directory} (database {report.database})"
    rows = [[m.version, m.name, m.state.value, when(m.applied_at)] for m in report.migrations]
    out = [table(["VERSION", "NAME", "STATE", "APPLIED AT (UTC)"], rows)]
    failed = [m for m in report.migrations if m.state is State.FAILED]
    for m in failed:
        out.append(f"\nmigration {m.version} failed: {m.error}")
        if m.statement:
            out.append(f"  statement: {_short(m.statement, 200)}")
        out.append(f"  recover: `down`, fix and `up` again, or `mark {m.version}`")
    out.append(_summary(report))
    return "\n".join(out)


def _summary(report: StatusReport) -> str:
    parts = [f"{report.count(s)} {s.value}" for s in State if report.count(s)]
    return f"{plural(len(report.migrations), 'migration')}: " + ", ".join(parts)


def _run_text(report: RunReport) -> str:
    lines = []
    verbs = {"applied": "applied", "reverted": "reverted", "dry-run": "would run", "skipped": "skipped"}
    for step in report.steps:
        verb = verbs.get(step.outcome, step.outcome)
        took = f" ({_duration(step.duration_ms)})" if step.duration_ms else ""
        note = f": {step.note}" if step.note else ""
        direction = f"{step.direction} " if step.outcome in ("dry-run", "skipped") else ""
        lines.append(f"{verb} {direction}{step.version} {step.name}{took}{note}")
        if report.dry_run:
            lines += [f"    {_indent(_terminated(sql))}" for sql in step.statements]
    if report.dry_run:
        lines.append("schema change (rolled back):")
        lines += _change_lines(report.schema_change)
    if report.message:
        lines.append(report.message)
    return "\n".join(lines) if lines else "nothing to do"


def _change_lines(change: SchemaChange | None) -> list[str]:
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
        block = [f"table {t.name}", _indented(table(["COLUMN", "TYPE", "KEY", "NULL", "DEFAULT"], rows))]
        for ix in t.indexes:
            unique = "unique " if ix.unique else ""
            block.append(f"  {unique}index {ix.name} ({', '.join(ix.columns)})")
        blocks.append("\n".join(block))
    return "\n\n".join(blocks)


# -- JSON -----------------------------------------------------------------------------


def to_data(result: Result) -> Any:
    """Plain data for `--json` and for Python users."""
    if isinstance(result, StatusReport):
        return {"database": result.database, "directory": result.directory, "migrations": result.rows}
    if isinstance(result, RunReport):
        return {
            "command": result.command,
            "database": result.database,
            "dry_run": result.dry_run,
            "steps": result.rows,
            "schema_change": result.schema_change.as_dict() if result.schema_change else None,
            "message": result.message,
        }
    if isinstance(result, HistoryReport):
        return {"database": result.database, "events": result.rows}
    if isinstance(result, ValidationReport):
        return {
            "database": result.database,
            "ok": result.ok,
            "checked": result.checked,
            "problems": result.problems,
        }
    if isinstance(result, SourceReport):
        return {
            "version": result.version,
            "name": result.name,
            "path": _path(result.path),
            "source": result.text,
        }
    if isinstance(result, SchemaReport):
        return {"database": result.database, "tables": result.rows}
    if isinstance(result, NewFileReport):
        return {"version": result.version, "name": result.name, "path": str(result.path)}
    if isinstance(result, BackupReport):
        return {
            "database": result.database,
            "directory": str(result.directory),
            "backups": result.rows,
            "restored": result.restored.as_dict() if result.restored else None,
            "saved": result.saved.as_dict() if result.saved else None,
            "usage": result.usage.as_dict(),
        }
    raise TypeError(f"cannot render {type(result).__name__}")


def to_json(result: Result) -> str:
    return json.dumps(to_data(result), indent=2, default=str)


# -- HTML -----------------------------------------------------------------------------

OUTCOME_COLOURS = {
    "applied": "#1a7f37",
    "ok": "#1a7f37",
    "reverted": "#6e7781",
    "marked": "#8250df",
    "unmarked": "#8250df",
    "repaired": "#bf8700",
    "dry-run": "#0969da",
    "skipped": "#bf8700",
    "interrupted": "#bf8700",
    "failed": "#cf222e",
}


def to_html(result: Result) -> str:
    """HTML for Jupyter: tables, states and outcomes coloured, times readable (UTC)."""
    if isinstance(result, StatusReport):
        return _wrap(_status_html(result))
    if isinstance(result, RunReport):
        return _wrap(_run_html(result))
    if isinstance(result, HistoryReport):
        if not result.events:
            return _wrap(f"<p>{_e(to_text(result))}</p>")
        rows = [
            [
                _time_html(e.started_at),
                _e(e.action),
                _e(e.version or ""),
                _e(e.name or ""),
                _coloured(e.outcome, OUTCOME_COLOURS.get(e.outcome)),
                _e(_duration(e.duration_ms)),
                _e(e.applied_by or ""),
                _e(e.error or e.note or ""),
            ]
            for e in result.events
        ]
        headers = ["started (UTC)", "action", "version", "name", "outcome", "took", "by", "note"]
        return _wrap(_html_table(headers, rows) + _caption(f"{len(result.events)} events", result.database))
    if isinstance(result, ValidationReport):
        if result.ok:
            return _wrap(f"<p>{_coloured(to_text(result), OUTCOME_COLOURS['ok'])}</p>")
        items = "".join(f"<li>{_e(p)}</li>" for p in result.problems)
        head = _coloured(plural(len(result.problems), "problem"), OUTCOME_COLOURS["failed"])
        return _wrap(f"<p>{head}</p><ul>{items}</ul>")
    if isinstance(result, SourceReport):
        where = str(result.path) if result.path else "registered in code"
        return _wrap(
            f"<p><b>{_e(result.version)} {_e(result.name)}</b> <small>{_e(where)}</small></p>"
            f"<pre>{_e(result.text.rstrip())}</pre>"
        )
    if isinstance(result, SchemaReport):
        return _wrap(_schema_html(result))
    if isinstance(result, BackupReport):
        return _wrap(_backups_html(result))
    return _wrap(f"<p>{_e(to_text(result))}</p>")


def _status_html(report: StatusReport) -> str:
    if not report.migrations:
        return f"<p>{_e(to_text(report))}</p>"
    rows = [
        [
            _e(m.version),
            _e(m.name),
            _coloured(f"{STATE_ICONS[m.state]} {m.state.value}", STATE_COLOURS[m.state]),
            _time_html(m.applied_at),
        ]
        for m in report.migrations
    ]
    out = [_html_table(["version", "name", "state", "applied at (UTC)"], rows)]
    for m in report.migrations:
        if m.state is State.FAILED:
            statement = f"<br>statement: <code>{_e(_short(m.statement, 200))}</code>" if m.statement else ""
            out.append(
                f"<p>{_coloured(f'migration {m.version} failed', STATE_COLOURS[State.FAILED])}: "
                f"{_e(m.error or '')}{statement}<br>recover: <code>down</code>, fix and "
                f"<code>up</code> again, or <code>mark {_e(m.version)}</code></p>"
            )
    out.append(_caption(_summary(report), report.database))
    return "".join(out)


def _run_html(report: RunReport) -> str:
    if report.dry_run:
        parts = []
        for step in report.steps:
            sql = "\n".join(_terminated(s) for s in step.statements)
            note = f" <em>{_e(step.note)}</em>" if step.note else ""
            parts.append(
                f"<p><b>{_e(step.direction)} {_e(step.version)} {_e(step.name)}</b>{note}</p>"
                f"<pre>{_e(sql)}</pre>"
            )
        change = "\n".join(_change_lines(report.schema_change))
        parts.append(f"<p><b>schema change (rolled back)</b></p><pre>{_e(change)}</pre>")
        if report.message:
            parts.append(f"<p>{_e(report.message)}</p>")
        return "".join(parts)
    out = []
    if report.steps:
        rows = [
            [
                _e(s.version),
                _e(s.name),
                _coloured(s.outcome, OUTCOME_COLOURS.get(s.outcome)),
                _e(_duration(s.duration_ms) if s.duration_ms else ""),
                _e(s.note or ""),
            ]
            for s in report.steps
        ]
        out.append(_html_table(["version", "name", "outcome", "took", "note"], rows))
    if report.message:
        out.append(f"<p>{_e(report.message)}</p>")
    out.append(_caption(report.command, report.database))
    return "".join(out)


def _schema_html(report: SchemaReport) -> str:
    if not report.tables:
        return f"<p>{_e(to_text(report))}</p>"
    blocks = []
    for t in report.tables:
        rows = [
            [
                _e(c.name),
                _e(c.type),
                "PK" if c.primary_key else "",
                "NOT NULL" if c.notnull else "",
                _e("" if c.default is None else str(c.default)),
            ]
            for c in t.columns
        ]
        indexes = "".join(
            f"<li>{'unique ' if ix.unique else ''}index {_e(ix.name)} ({_e(', '.join(ix.columns))})</li>"
            for ix in t.indexes
        )
        blocks.append(
            f"<p><b>table {_e(t.name)}</b></p>"
            + _html_table(["column", "type", "key", "null", "default"], rows)
            + (f"<ul>{indexes}</ul>" if indexes else "")
        )
    return "".join(blocks) + _caption(f"{len(report.tables)} tables", report.database)


def _wrap(body: str) -> str:
    return f"<div class='nbmigrate'>{body}</div>"


def _html_table(headers: list[str], rows: list[list[str]]) -> str:
    """A table from cells that are already HTML (escaped by the caller)."""
    head = "".join(f"<th style='text-align:left'>{_e(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td style='text-align:left'>{cell}</td>" for cell in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _coloured(text: str, colour: str | None) -> str:
    if colour is None:
        return _e(text)
    return f"<span style='color:{colour};font-weight:bold'>{_e(text)}</span>"


def _time_html(value: datetime | None) -> str:
    """Readable UTC time; the exact ISO timestamp on hover."""
    if value is None:
        return ""
    return f"<span title='{_e(value.isoformat())}'>{_e(when(value))}</span>"


def _caption(what: str, database: str) -> str:
    return f"<p><small>{_e(what)} · {_e(database)}</small></p>"


# -- helpers --------------------------------------------------------------------------


def _duration(ms: float | None) -> str:
    if ms is None:
        return ""
    return f"{ms:.1f} ms" if ms < 1000 else f"{ms / 1000:.2f} s"


def _short(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _terminated(sql: str) -> str:
    """A statement as it would be written in a script: with one `;` (SQL run from Python may
    already have it; one ending in a line comment gets it on a line of its own)."""
    text = sql.rstrip()
    if text.endswith(";"):
        return text
    last_line = text.rsplit("\n", 1)[-1]
    return f"{text}\n;" if "--" in last_line else f"{text};"


def _indent(sql: str) -> str:
    return sql.replace("\n", "\n    ")


def _indented(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())


def _path(path: Any) -> str | None:
    return str(path) if path else None


def _e(text: str) -> str:
    import html

    return html.escape(text)


# -- backups --------------------------------------------------------------------------


def _backups_text(report: BackupReport) -> str:
    if report.restored is not None:
        return "\n".join(_restore_lines(report))
    if not report.backups:
        none = f"no backups of {report.database} yet (they go to {report.directory})"
        return "\n".join([none, *_usage_lines(report)])
    rows = [[when(b.taken_at), b.command, _size(b.size), str(b.path)] for b in report.backups]
    return "\n".join([table(["TAKEN (UTC)", "BEFORE", "SIZE", "PATH"], rows), *_usage_lines(report)])


def _usage_lines(report: BackupReport) -> list[str]:
    """The folder's whole disk use: complete backups, then what else it holds, said apart."""
    u = report.usage
    lines = [f"{plural(len(report.backups), 'backup')}, {_size(u.backup_bytes)}"] if report.backups else []
    if u.partial_files:
        lines.append(
            f"{plural(u.partial_files, 'partial backup file')} (an interrupted backup, or its journal), "
            f"{_size(u.partial_bytes)}: the next command that takes the lock removes "
            + ("it" if u.partial_files == 1 else "them")
        )
    if u.other_files:
        lines.append(f"{plural(u.other_files, 'other file')}, {_size(u.other_bytes)}")
    if u.partial_files or u.other_files:
        lines.append(f"{_size(u.total_bytes)} in all in {report.directory}")
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


def _backups_html(report: BackupReport) -> str:
    if report.restored is not None or not report.backups:
        return "".join(f"<p>{_e(line)}</p>" for line in _backups_text(report).splitlines())
    rows = [
        [_time_html(b.taken_at), _e(b.command), _e(_size(b.size)), f"<code>{_e(str(b.path))}</code>"]
        for b in report.backups
    ]
    headers = ["taken (UTC)", "before", "size", "path"]
    first, *rest = _usage_lines(report)
    return (
        _html_table(headers, rows)
        + "".join(f"<p>{_e(line)}</p>" for line in rest)
        + _caption(first, report.database)
    )


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"
