"""The dashboard's pieces: one migration's row of widgets, the layout, and the HTML it shows."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import ipywidgets as w

from .. import render
from ..engine.manager import MigrationManager
from ..errors import MigrationFailed
from ..model import (
    MigrationStatus,
    State,
)
from ..reports import StatusReport
from ..urls import mask_password

CAN_APPLY = frozenset({State.PENDING, State.OUT_OF_ORDER})
CAN_REVERT = frozenset({State.APPLIED, State.APPLIED_OUT_OF_ORDER, State.CHANGED, State.FAILED})
CAN_REHEARSE = CAN_APPLY | {State.APPLIED, State.APPLIED_OUT_OF_ORDER, State.CHANGED}
IN_LEDGER = frozenset(
    {State.APPLIED, State.APPLIED_OUT_OF_ORDER, State.CHANGED, State.MISSING, State.FAILED, State.RUNNING}
)
COLUMNS = "64px minmax(180px, 1fr) 120px 160px 80px 320px"
HEADERS = ["version", "name", "state", "applied at (UTC)", "took", ""]
RED = "#cf222e"
PRE = "font-family:var(--jp-code-font-family,monospace);font-size:12px;margin:2px 0 6px;white-space:pre"


class Row:
    """One migration's line of the table; its widgets are attributes so code can click them."""

    def __init__(self, version: str) -> None:
        self.version = version
        self.status: MigrationStatus | None = None
        self.version_label = w.HTML(html.escape(version))
        self.name_label = w.HTML()
        self.state_label = with_class(w.HTML(), f"nbm-state-{version}")
        self.applied_label = w.HTML()
        self.took_label = w.HTML()
        self.apply_button = button("Apply", f"nbm-apply-{version}", "success")
        self.revert_button = button("Revert…", f"nbm-revert-{version}", "warning")
        self.dry_run_button = button("Dry run", f"nbm-dry-run-{version}")
        self.source_button = button("Source", f"nbm-source-{version}")
        self.buttons = [self.apply_button, self.revert_button, self.dry_run_button, self.source_button]
        self.cells: list[w.Widget] = [
            self.version_label,
            self.name_label,
            self.state_label,
            self.applied_label,
            self.took_label,
            w.HBox(self.buttons),
        ]

    @property
    def state(self) -> State | None:
        return self.status.state if self.status is not None else None

    def update(self, m: MigrationStatus) -> None:
        self.status = m
        title = html.escape(m.description or "", quote=True)
        self.name_label.value = f"<span title='{title}'>{html.escape(m.name)}</span>"
        colour, icon = render.STATE_COLOURS[m.state], render.STATE_ICONS[m.state]
        self.state_label.value = (
            f"<span style='color:{colour};font-weight:bold'>{icon} {html.escape(m.state.value)}</span>"
        )
        self.applied_label.value = html.escape(render.when(m.applied_at))
        self.took_label.value = html.escape(render.duration(m.execution_ms))
        self.apply_button.tooltip = f"apply pending migrations up to and including {m.version}"

    def close(self) -> None:
        """Close this row's widgets (its migration is gone)."""
        for cell in self.cells:
            for child in getattr(cell, "children", ()):
                child.close()
            cell.close()

    def enable(self) -> None:
        state = self.state
        self.apply_button.disabled = state not in CAN_APPLY
        self.revert_button.disabled = state not in CAN_REVERT
        self.dry_run_button.disabled = state not in CAN_REHEARSE
        self.source_button.disabled = state in (None, State.MISSING)


def banner_html(error: BaseException) -> str:
    if isinstance(error, MigrationFailed):
        where = error.path.name if error.path else "registered in code"
        lines = [
            f"<b>✘ Migration {escaped(error.version)} {escaped(error.name)} failed during "
            f"{escaped(error.direction)}</b> ({escaped(where)})",
            f"database said: {escaped(error.db_message)}",
        ]
        if error.statement:
            lines.append(f"statement: <code>{escaped(error.statement)}</code>")
        lines.append(
            "rolled back: nothing of it was kept"
            if error.rolled_back
            else "not transactional: recorded as failed; the database may be partly changed"
        )
    else:
        first, *rest = str(error).splitlines() or [""]
        lines = [
            f"<b>✘ {escaped(type(error).__name__)}</b>: {escaped(first)}",
            *(escaped(line) for line in rest),
        ]
    box = f"border:1px solid {RED};background:#ffebe9;padding:4px 8px"
    return block(f"<div style='{box}'>{'<br>'.join(lines)}</div>")


def recovery_html(failed: MigrationStatus) -> str:
    """What the recovery box says about a failed non-transactional migration, and the ways out."""
    statement = f"<br>statement: <code>{escaped(failed.statement)}</code>" if failed.statement else ""
    return block(
        f"<b style='color:{RED}'>✘ Migration {escaped(failed.version)} {escaped(failed.name)} failed</b>"
        f" and is not transactional: the database may be partly changed.<br>error: "
        f"{escaped(failed.error or '')}{statement}<br>Ways out: revert it (runs its down step), or fix the"
        " database by hand and mark it as applied, or fix the file and press <i>Apply all pending</i>."
    )


def summary(report: StatusReport) -> str:
    counts = [f"{report.count(s)} {s.value}" for s in State if report.count(s)]
    n = len(report.migrations)
    return f"{n} migration{'s' if n != 1 else ''}" + (": " + ", ".join(counts) if counts else "")


def stable_url(manager: MigrationManager) -> str:
    """The database without the parts that vary between machines (folders, password)."""
    url = manager.db.url
    if url.path is not None:
        return f"sqlite:///…/{url.path.name}" if url.path.is_absolute() else f"sqlite:///{url.path}"
    return url.masked


def near(path: Path) -> str:
    """A folder under the working directory as a relative path, others as they are."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(path)


def joined(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def escaped(text: str) -> str:
    return html.escape(mask_password(text))


def button(description: str, css: str, style: str = "") -> w.Button:
    return with_class(
        w.Button(description=description, button_style=style, layout=w.Layout(width="auto")), css
    )


def with_class(widget: Any, name: str) -> Any:
    widget.add_class(name)
    return widget


def boxed(style: str, border: str, **layout: str) -> dict[str, Any]:
    frame = w.Layout(padding="4px 8px", margin="4px 0", border=f"1px solid {border}", **layout)
    return {"layout": frame, "box_style": style}


def block(body: str) -> str:
    """Lines of HTML at reading height (a widget's own line height is a button's)."""
    return f"<div style='line-height:1.45;white-space:normal'>{body}</div>"


def set_visible(widget: w.Widget, shown: bool) -> None:
    widget.layout.display = None if shown else "none"
