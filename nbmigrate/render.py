"""Turn results into plain text, JSON and HTML; knows the model and nothing else."""

from __future__ import annotations

import html
import json
from datetime import datetime
from typing import Any

from .model import (
    HistoryReport,
    MigrationStatus,
    NewFileReport,
    RunReport,
    SchemaChange,
    SchemaReport,
    SourceReport,
    State,
    StatusReport,
    ValidationReport,
)

Result = (
    StatusReport | RunReport | HistoryReport | ValidationReport | SourceReport | SchemaReport | NewFileReport
)

STATE_COLOURS = {
    State.APPLIED: "#1a7f37",
    State.PENDING: "#6e7781",
    State.CHANGED: "#bf8700",
    State.MISSING: "#cf222e",
    State.OUT_OF_ORDER: "#8250df",
    State.FAILED: "#cf222e",
}
STATE_ICONS = {
    State.APPLIED: "✔",
    State.PENDING: "…",
    State.CHANGED: "✎",
    State.MISSING: "?",
    State.OUT_OF_ORDER: "↯",
    State.FAILED: "✘",
}


def when(value: datetime | None) -> str:
    """A readable UTC time, to the second."""
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else ""


def table(headers: list[str], rows: list[list[str]]) -> str:
    """A plain-text table with aligned columns."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    return "\n".join(lines)


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
                _short(e.error or "", 60),
            ]
            for e in result.events
        ]
        return table(["STARTED (UTC)", "ACTION", "VERSION", "NAME", "OUTCOME", "TOOK", "BY", "ERROR"], rows)
    if isinstance(result, ValidationReport):
        if result.ok:
            return f"ok: {result.checked} migrations valid, ledger consistent"
        return f"{len(result.problems)} problems:\n" + "\n".join(f"  - {p}" for p in result.problems)
    if isinstance(result, SourceReport):
        where = str(result.path) if result.path else "registered in code"
        return f"-- {result.version} {result.name} ({where})\n{result.text.rstrip()}"
    if isinstance(result, SchemaReport):
        return _schema_text(result)
    if isinstance(result, NewFileReport):
        return f"created {result.path}"
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
    return f"{len(report.migrations)} migrations: " + ", ".join(parts)


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
            lines += [f"    {_indent(sql)};" for sql in step.statements]
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
    raise TypeError(f"cannot render {type(result).__name__}")


def to_json(result: Result) -> str:
    return json.dumps(to_data(result), indent=2, default=str)


# -- HTML -----------------------------------------------------------------------------


def to_html(result: Result) -> str:
    """An HTML table for Jupyter; states coloured, times readable."""
    if isinstance(result, StatusReport):
        if not result.migrations:
            return f"<p>{_e(to_text(result))}</p>"
        body = "".join(_status_row_html(m) for m in result.migrations)
        return (
            f"<div class='nbmigrate'><table><thead><tr><th>version</th><th>name</th>"
            f"<th>state</th><th>applied at (UTC)</th></tr></thead><tbody>{body}</tbody></table>"
            f"<p><small>{_e(_summary(result))} · {_e(result.database)}</small></p></div>"
        )
    if isinstance(result, RunReport) and result.dry_run:
        parts = []
        for step in result.steps:
            sql = ";\n".join(step.statements) + (";" if step.statements else "")
            note = f" <em>{_e(step.note)}</em>" if step.note else ""
            parts.append(
                f"<p><b>{_e(step.direction)} {_e(step.version)} {_e(step.name)}</b>{note}</p>"
                f"<pre>{_e(sql)}</pre>"
            )
        change = "\n".join(_change_lines(result.schema_change))
        parts.append(f"<p><b>schema change (rolled back)</b></p><pre>{_e(change)}</pre>")
        return "<div class='nbmigrate'>" + "".join(parts) + "</div>"
    if isinstance(result, SourceReport):
        return f"<pre>{_e(to_text(result))}</pre>"
    if isinstance(result, (HistoryReport, SchemaReport, RunReport, ValidationReport)):
        return f"<pre>{_e(to_text(result))}</pre>"
    return f"<p>{_e(to_text(result))}</p>"


def _status_row_html(m: MigrationStatus) -> str:
    colour = STATE_COLOURS[m.state]
    icon = STATE_ICONS[m.state]
    return (
        f"<tr><td>{_e(m.version)}</td><td>{_e(m.name)}</td>"
        f"<td style='color:{colour};font-weight:bold'>{icon} {_e(m.state.value)}</td>"
        f"<td>{_e(when(m.applied_at))}</td></tr>"
    )


# -- helpers --------------------------------------------------------------------------


def _duration(ms: float | None) -> str:
    if ms is None:
        return ""
    return f"{ms:.1f} ms" if ms < 1000 else f"{ms / 1000:.2f} s"


def _short(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _indent(sql: str) -> str:
    return sql.replace("\n", "\n    ")


def _indented(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())


def _path(path: Any) -> str | None:
    return str(path) if path else None


def _e(text: str) -> str:
    return html.escape(text)
