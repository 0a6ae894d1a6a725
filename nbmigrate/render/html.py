"""Results as Jupyter shows them: HTML tables, states and outcomes coloured, times on hover."""

from __future__ import annotations

from datetime import datetime

from ..model import State
from ..reports import (
    BackupReport,
    HistoryReport,
    NewFileReport,
    RunReport,
    SchemaReport,
    SourceReport,
    StatusReport,
    ValidationReport,
)
from . import text
from .common import (
    OUTCOME_COLOURS,
    STATE_COLOURS,
    STATE_ICONS,
    duration,
    e,
    plural,
    short,
    size,
    terminated,
    when,
)
from .dispatch import to_html, to_text, wrap


@to_html.register
def _(result: StatusReport) -> str:
    return wrap(_status_html(result))


@to_html.register
def _(result: RunReport) -> str:
    return wrap(_run_html(result))


@to_html.register
def _(result: HistoryReport) -> str:
    if not result.events:
        return wrap(f"<p>{e(to_text(result))}</p>")
    rows = [
        [
            _time_html(ev.started_at),
            e(ev.action),
            e(ev.version or ""),
            e(ev.name or ""),
            _coloured(ev.outcome, OUTCOME_COLOURS.get(ev.outcome)),
            e(duration(ev.duration_ms)),
            e(ev.applied_by or ""),
            e(ev.error or ev.note or ""),
        ]
        for ev in result.events
    ]
    headers = ["started (UTC)", "action", "version", "name", "outcome", "took", "by", "note"]
    return wrap(_html_table(headers, rows) + _caption(f"{len(result.events)} events", result.database))


@to_html.register
def _(result: ValidationReport) -> str:
    if result.ok:
        return wrap(f"<p>{_coloured(to_text(result), OUTCOME_COLOURS['ok'])}</p>")
    items = "".join(f"<li>{e(p)}</li>" for p in result.problems)
    head = _coloured(plural(len(result.problems), "problem"), OUTCOME_COLOURS["failed"])
    return wrap(f"<p>{head}</p><ul>{items}</ul>")


@to_html.register
def _(result: SourceReport) -> str:
    where = str(result.path) if result.path else "registered in code"
    return wrap(
        f"<p><b>{e(result.version)} {e(result.name)}</b> <small>{e(where)}</small></p>"
        f"<pre>{e(result.text.rstrip())}</pre>"
    )


@to_html.register
def _(result: NewFileReport) -> str:
    return wrap(f"<p>created <code>{e(str(result.path))}</code></p>")


@to_html.register
def _(result: SchemaReport) -> str:
    return wrap(_schema_html(result))


@to_html.register
def _(result: BackupReport) -> str:
    return wrap(_backups_html(result))


def _status_html(report: StatusReport) -> str:
    if not report.migrations:
        return f"<p>{e(to_text(report))}</p>"
    rows = [
        [
            e(m.version),
            e(m.name),
            _coloured(f"{STATE_ICONS[m.state]} {m.state.value}", STATE_COLOURS[m.state]),
            _time_html(m.applied_at),
        ]
        for m in report.migrations
    ]
    out = [_html_table(["version", "name", "state", "applied at (UTC)"], rows)]
    for m in report.migrations:
        if m.state is State.FAILED:
            statement = f"<br>statement: <code>{e(short(m.statement, 200))}</code>" if m.statement else ""
            out.append(
                f"<p>{_coloured(f'migration {m.version} failed', STATE_COLOURS[State.FAILED])}: "
                f"{e(m.error or '')}{statement}<br>recover: <code>down</code>, fix and "
                f"<code>up</code> again, or <code>mark {e(m.version)}</code></p>"
            )
    out.append(_caption(text.summary(report), report.database))
    return "".join(out)


def _run_html(report: RunReport) -> str:
    if report.dry_run:
        parts = []
        for step in report.steps:
            sql = "\n".join(terminated(s) for s in step.statements)
            note = f" <em>{e(step.note)}</em>" if step.note else ""
            parts.append(
                f"<p><b>{e(step.direction)} {e(step.version)} {e(step.name)}</b>{note}</p><pre>{e(sql)}</pre>"
            )
        change = "\n".join(text.change_lines(report.schema_change))
        parts.append(f"<p><b>schema change (rolled back)</b></p><pre>{e(change)}</pre>")
        if report.message:
            parts.append(f"<p>{e(report.message)}</p>")
        return "".join(parts)
    out = []
    if report.steps:
        rows = [
            [
                e(s.version),
                e(s.name),
                _coloured(s.outcome, OUTCOME_COLOURS.get(s.outcome)),
                e(duration(s.duration_ms) if s.duration_ms else ""),
                e(s.note or ""),
            ]
            for s in report.steps
        ]
        out.append(_html_table(["version", "name", "outcome", "took", "note"], rows))
    if report.message:
        out.append(f"<p>{e(report.message)}</p>")
    out.append(_caption(report.command, report.database))
    return "".join(out)


def _schema_html(report: SchemaReport) -> str:
    if not report.tables:
        return f"<p>{e(to_text(report))}</p>"
    blocks = []
    for t in report.tables:
        rows = [
            [
                e(c.name),
                e(c.type),
                "PK" if c.primary_key else "",
                "NOT NULL" if c.notnull else "",
                e("" if c.default is None else str(c.default)),
            ]
            for c in t.columns
        ]
        indexes = "".join(
            f"<li>{'unique ' if ix.unique else ''}index {e(ix.name)} ({e(', '.join(ix.columns))})</li>"
            for ix in t.indexes
        )
        blocks.append(
            f"<p><b>table {e(t.name)}</b></p>"
            + _html_table(["column", "type", "key", "null", "default"], rows)
            + (f"<ul>{indexes}</ul>" if indexes else "")
        )
    return "".join(blocks) + _caption(f"{len(report.tables)} tables", report.database)


def _backups_html(report: BackupReport) -> str:
    if report.restored is not None or not report.backups:
        return "".join(f"<p>{e(line)}</p>" for line in text.backups_text(report).splitlines())
    rows = [
        [_time_html(b.taken_at), e(b.command), e(size(b.size)), f"<code>{e(str(b.path))}</code>"]
        for b in report.backups
    ]
    headers = ["taken (UTC)", "before", "size", "path"]
    first, *rest = text.usage_lines(report)
    return (
        _html_table(headers, rows)
        + "".join(f"<p>{e(line)}</p>" for line in rest)
        + _caption(first, report.database)
    )


def _html_table(headers: list[str], rows: list[list[str]]) -> str:
    """A table from cells that are already HTML (escaped by the caller)."""
    head = "".join(f"<th style='text-align:left'>{e(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td style='text-align:left'>{cell}</td>" for cell in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _coloured(text: str, colour: str | None) -> str:
    if colour is None:
        return e(text)
    return f"<span style='color:{colour};font-weight:bold'>{e(text)}</span>"


def _time_html(value: datetime | None) -> str:
    """Readable UTC time; the exact ISO timestamp on hover."""
    if value is None:
        return ""
    return f"<span title='{e(value.isoformat())}'>{e(when(value))}</span>"


def _caption(what: str, database: str) -> str:
    return f"<p><small>{e(what)} · {e(database)}</small></p>"
