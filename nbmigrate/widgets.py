"""The migrations dashboard: an ipywidgets control panel that drives the manager on the bridge loop.

Threads: button handlers run on the kernel's thread and only *submit* work to the bridge
loop (`bridge.submit`), so the notebook stays responsive while a migration runs. The
manager reports progress and results from the bridge thread; those widget updates are
queued and applied on the kernel's thread (woken through the kernel's event loop,
captured when the dashboard is built), or by `wait()` when no kernel loop is running.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import html
import logging
import queue
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import ipywidgets as w

from . import bridge, render
from .config import mask_password
from .errors import MigrationFailed, PlanError, UnknownVersion
from .manager import MigrationManager
from .model import (
    MigrationStatus,
    Progress,
    RunReport,
    SourceReport,
    State,
    StatusReport,
    normalize_version,
    version_key,
)

__all__ = ["Confirmation", "Dashboard", "DashboardBusy", "Row"]

logger = logging.getLogger("nbmigrate")

CAN_APPLY = frozenset({State.PENDING, State.OUT_OF_ORDER})
CAN_REVERT = frozenset({State.APPLIED, State.CHANGED, State.FAILED})
IN_LEDGER = frozenset({State.APPLIED, State.CHANGED, State.MISSING, State.FAILED})
COLUMNS = "64px minmax(180px, 1fr) 120px 160px 80px 320px"
HEADERS = ["version", "name", "state", "applied at (UTC)", "took", ""]
RED = "#cf222e"
PRE = "font-family:var(--jp-code-font-family,monospace);font-size:12px;margin:2px 0 6px;white-space:pre"

Action = Callable[[], Coroutine[Any, Any, Any]]


class DashboardBusy(RuntimeError):
    """An action was asked while another one runs; `dash.wait()` first."""


class Interrupted(RuntimeError):
    """The running action was cancelled; the manager rolled back the migration in flight."""


class Confirmation:
    """A destructive action waiting for a yes: `.confirm()` runs it, `.cancel()` drops it."""

    def __init__(self, dashboard: Dashboard, message: str, what: str, action: Action) -> None:
        self.message = message
        self.what = what
        self.state = "pending"  # then "confirmed" or "cancelled"
        self._dashboard = dashboard
        self._action = action

    def confirm(self) -> None:
        """Run the action (on the bridge loop); `dash.wait()` to block until it is done."""
        self._dashboard._confirmed(self)

    def cancel(self) -> None:
        self._dashboard._cancelled(self)

    def __repr__(self) -> str:
        return f"<Confirmation {self.state}: {self.message}>"


class Row:
    """One migration's line of the table; its widgets are attributes so code can click them."""

    def __init__(self, version: str) -> None:
        self.version = version
        self.status: MigrationStatus | None = None
        self.version_label = w.HTML(html.escape(version))
        self.name_label = w.HTML()
        self.state_label = _css(w.HTML(), f"nbm-state-{version}")
        self.applied_label = w.HTML()
        self.took_label = w.HTML()
        self.apply_button = _button("Apply", f"nbm-apply-{version}", "success")
        self.revert_button = _button("Revert…", f"nbm-revert-{version}", "warning")
        self.dry_run_button = _button("Dry run", f"nbm-dry-run-{version}")
        self.source_button = _button("Source", f"nbm-source-{version}")
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
        self.took_label.value = html.escape(_took(m.execution_ms))
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
        self.dry_run_button.disabled = state not in (CAN_APPLY | {State.APPLIED, State.CHANGED})
        self.source_button.disabled = state in (None, State.MISSING)


class Dashboard:
    """Every migration with its state and buttons: Apply, Revert (after a yes), Dry run, Source.

    Build it with `%migrate dashboard`, `Dashboard(manager)` or `Dashboard.open(url)`. The
    manager's database must be opened on the bridge loop or not opened yet (it is then
    opened there): aiosqlite and asyncpg connections belong to the loop that opened them.
    From code: `apply(v)`, `apply_all()`, `revert(v).confirm()`, `mark(v).confirm()`,
    `dry_run(v)`, `show_source(v)`, `refresh()`, then `wait()`.
    """

    def __init__(self, manager: MigrationManager) -> None:
        self.manager = manager
        self.report: StatusReport | None = None
        self.rows: dict[str, Row] = {}
        self.pending: Confirmation | None = None
        self.last_result: Any = None
        self.last_error: BaseException | None = None
        self._ui = _UiQueue()
        self._running: str | None = None
        self._token = 0
        self._future: concurrent.futures.Future[Any] | None = None
        self._cancel_lock = threading.Lock()  # between cancel() and a job that is starting
        self._task: asyncio.Task[Any] | None = None
        self._began = self._cancel_asked = 0
        self._failed: MigrationStatus | None = None
        self._shown: list[str] | None = None  # the versions the table shows, in order
        self._build()
        try:
            self._show_status(bridge.run(manager.status()))
        except Exception as exc:  # shown in the panel; Refresh tries again
            self.last_error = exc
            self._set_banner(exc)
        self._enable()

    @classmethod
    def open(cls, url: str | None = None, directory: str | None = None) -> Dashboard:
        """A dashboard over `url` (or the configured database), opened on the bridge loop."""
        return cls(bridge.Session().connect(url, directory))

    # -- what code can do -------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self._running is not None

    @property
    def running(self) -> str | None:
        """What the running action is, e.g. "apply 003 add_message_status"; None when idle."""
        return self._running

    def apply(self, version: str) -> None:
        """Apply pending migrations up to and including `version` (`%migrate up VERSION`)."""
        v = normalize_version(version)
        self._start(f"apply {self._label(v)}", lambda: self.manager.up(v))

    def apply_all(self) -> None:
        self._start("apply all pending", lambda: self.manager.up())

    def revert(self, version: str) -> Confirmation:
        """Ask to revert `version` and every applied migration above it; nothing runs until confirmed."""
        v = normalize_version(version)
        targets = self._revert_targets(v)
        names = _and([f"{m.version} {m.name}" for m in targets])
        steps = "its down step" if len(targets) == 1 else "their down steps, newest first"
        message = f"Revert {names}? This runs {steps}."
        return self._ask(message, f"revert {names}", lambda: self._down(targets))

    def mark(self, version: str) -> Confirmation:
        """Ask to record `version` as applied without running it (after fixing the database by hand)."""
        v = normalize_version(version)
        label = self._label(v)
        message = (
            f"Mark {label} as applied? Nothing runs: the ledger records it as applied. "
            f"Do this only after fixing the database by hand."
        )
        return self._ask(message, f"mark {label}", lambda: self.manager.mark(v))

    def dry_run(self, version: str) -> None:
        """Rehearse applying (or, when applied, reverting) `version` in a transaction rolled back."""
        v = normalize_version(version)
        row = self._status_of(v)
        if row is not None and row.state in (State.APPLIED, State.CHANGED):
            targets = self._revert_targets(v)
            what = "dry run: revert " + _and([f"{m.version} {m.name}" for m in targets])
            self._start(what, lambda: self._down(targets, dry_run=True))
        else:
            self._start(f"dry run: apply {self._label(v)}", lambda: self.manager.up(v, dry_run=True))

    def show_source(self, version: str) -> None:
        v = normalize_version(version)
        self._start(f"source of {self._label(v)}", lambda: self.manager.show(v), quiet=True)

    def refresh(self) -> None:
        """Read the status again (changes made with `%migrate` in other cells show up)."""
        self._start("refresh", None, quiet=True)

    def wait(self, timeout: float | None = None) -> None:
        """Block until the running action is done and the panel shows its outcome."""
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while self._running is not None:
                self._ui.drain(block=0.05)
                if deadline is not None and time.monotonic() > deadline and self._running is not None:
                    raise TimeoutError(f"still running after {timeout:g}s: {self._running}")
        except KeyboardInterrupt:
            self.cancel()
            until = time.monotonic() + bridge.CANCEL_PATIENCE
            while self._running is not None and time.monotonic() < until:
                self._ui.drain(block=0.05)
            raise
        self._ui.drain()

    def cancel(self) -> None:
        """Cancel the running action; the manager rolls back the migration in flight."""
        with self._cancel_lock:
            if self._running is None:
                return
            task = self._task if self._began == self._token else None
            if task is not None:
                task.get_loop().call_soon_threadsafe(task.cancel)
            else:  # not started yet: the job sees this when it starts
                self._cancel_asked = self._token

    def __repr__(self) -> str:
        where = _stable_url(self.manager)
        if self.report is None:
            return f"Dashboard: {where} — status unknown"
        return f"Dashboard: {where} — {_summary(self.report)}"

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle = dict(self.widget._repr_mimebundle_(**kwargs) or {})
        bundle["text/plain"] = repr(self)
        return bundle

    @property
    def log_text(self) -> str:
        """Everything written to the log area."""
        return "".join(o.get("text", "") for o in self.log.outputs)

    # -- the widgets ------------------------------------------------------------------

    def _build(self) -> None:
        db = self.manager.db.display_url
        folder = _near(self.manager.directory) if self.manager.directory is not None else "registered only"
        self.database_label = _css(
            w.HTML(
                f"<b>nbmigrate</b> · database <code>{html.escape(mask_password(db))}</code>"
                f" · migrations <code>{html.escape(folder)}</code>"
            ),
            "nbm-database",
        )
        self.apply_all_button = _button("Apply all pending", "nbm-apply-all", "primary")
        self.refresh_button = _button("Refresh", "nbm-refresh")
        self.summary_label = _css(w.HTML(), "nbm-summary")
        self.banner = _css(w.HTML(), "nbm-banner")
        self.confirm_label = w.HTML()
        self.confirm_button = _button("Confirm", "nbm-confirm", "danger")
        self.cancel_button = _button("Cancel", "nbm-cancel")
        self.confirm_bar = _css(
            w.HBox(
                [self.confirm_label, self.confirm_button, self.cancel_button],
                **_boxed("warning", "#d4a72c", align_items="center"),
            ),
            "nbm-confirm-bar",
        )
        self.recovery_label = w.HTML()
        self.recovery_revert_button = _button("Revert (run its down step)…", "nbm-recover-revert", "warning")
        self.recovery_mark_button = _button("Mark as applied (after a manual fix)…", "nbm-recover-mark")
        self.recovery = _css(
            w.VBox(
                [self.recovery_label, w.HBox([self.recovery_revert_button, self.recovery_mark_button])],
                **_boxed("danger", RED),
            ),
            "nbm-recovery",
        )
        self._header = [w.HTML(f"<b>{html.escape(h)}</b>") for h in HEADERS]
        self.table = _css(
            w.GridBox(layout=w.Layout(grid_template_columns=COLUMNS, grid_gap="2px 8px")),
            "nbm-table",
        )
        self.progress = w.IntProgress(value=0, min=0, max=1, layout=w.Layout(width="240px"))
        self.status_label = _css(w.HTML("Ready"), "nbm-status")
        self.detail_title = w.HTML()
        self.detail_close_button = _button("Close", "nbm-detail-close")
        self.detail = _css(w.HTML(), "nbm-detail")
        self.detail_box = w.VBox(
            [w.HBox([self.detail_title, self.detail_close_button]), self.detail], **_boxed("info", "#d0d7de")
        )
        self.log = _css(
            w.Output(layout=w.Layout(max_height="160px", overflow="auto", border="1px solid #d0d7de")),
            "nbm-log",
        )
        self.widget = _css(
            w.VBox(
                [
                    self.database_label,
                    w.HBox([self.apply_all_button, self.refresh_button, self.summary_label]),
                    self.banner,
                    self.confirm_bar,
                    self.recovery,
                    self.table,
                    w.HBox([self.progress, self.status_label]),
                    self.detail_box,
                    self.log,
                ]
            ),
            "nbm-dashboard",
        )
        for box in (self.banner, self.confirm_bar, self.recovery, self.detail_box):
            _visible(box, False)
        self.apply_all_button.on_click(lambda _: self._guarded(self.apply_all))
        self.refresh_button.on_click(lambda _: self._guarded(self.refresh))
        self.confirm_button.on_click(lambda _: self._guarded(self._confirm_pending))
        self.cancel_button.on_click(lambda _: self._guarded(self._cancel_pending))
        self.recovery_revert_button.on_click(lambda _: self._guarded(self._recover, self.revert))
        self.recovery_mark_button.on_click(lambda _: self._guarded(self._recover, self.mark))
        self.detail_close_button.on_click(lambda _: _visible(self.detail_box, False))

    def _new_row(self, version: str) -> Row:
        row = Row(version)
        row.apply_button.on_click(lambda _: self._guarded(self.apply, version))
        row.revert_button.on_click(lambda _: self._guarded(self.revert, version))
        row.dry_run_button.on_click(lambda _: self._guarded(self.dry_run, version))
        row.source_button.on_click(lambda _: self._guarded(self.show_source, version))
        return row

    @property
    def buttons(self) -> list[w.Button]:
        """Every button of the panel (all disabled while an action runs)."""
        fixed = [
            self.apply_all_button,
            self.refresh_button,
            self.confirm_button,
            self.cancel_button,
            self.recovery_revert_button,
            self.recovery_mark_button,
            self.detail_close_button,
        ]
        return fixed + [b for row in self.rows.values() for b in row.buttons]

    def _enable(self) -> None:
        """Buttons as the state allows; all of them disabled while an action runs."""
        if self._running is not None:
            for b in self.buttons:
                b.disabled = True
            return
        for row in self.rows.values():
            row.enable()
        states = {row.state for row in self.rows.values()}
        self.apply_all_button.disabled = not (states & (CAN_APPLY | {State.FAILED}))
        for b in (
            self.refresh_button,
            self.confirm_button,
            self.cancel_button,
            self.recovery_revert_button,
            self.recovery_mark_button,
            self.detail_close_button,
        ):
            b.disabled = False

    def _show_status(self, report: StatusReport) -> None:
        self.report = report
        versions = [m.version for m in report.migrations]
        for m in report.migrations:
            if m.version not in self.rows:
                self.rows[m.version] = self._new_row(m.version)
            self.rows[m.version].update(m)
        for gone in set(self.rows) - set(versions):
            self.rows.pop(gone).close()
        if self._shown != versions:
            self._shown = versions
            self.rows = {v: self.rows[v] for v in versions}
            self.table.children = self._header + [cell for row in self.rows.values() for cell in row.cells]
        self.summary_label.value = html.escape(_summary(report))
        self._show_recovery(report)

    def _show_recovery(self, report: StatusReport) -> None:
        failed = next((m for m in report.migrations if m.state is State.FAILED), None)
        _visible(self.recovery, failed is not None)
        self._failed = failed
        if failed is None:
            return
        statement = f"<br>statement: <code>{_e(failed.statement)}</code>" if failed.statement else ""
        self.recovery_label.value = _block(
            f"<b style='color:{RED}'>✘ Migration {_e(failed.version)} {_e(failed.name)} failed</b> and is not"
            f" transactional: the database may be partly changed.<br>error: {_e(failed.error or '')}"
            f"{statement}<br>Ways out: revert it (runs its down step), or fix the database by hand and"
            f" mark it as applied, or fix the file and press <i>Apply all pending</i>."
        )

    def _set_banner(self, error: BaseException | None) -> None:
        _visible(self.banner, error is not None)
        self.banner.value = "" if error is None else _banner_html(error)

    def _log(self, text: str) -> None:
        self.log.append_stdout(mask_password(text.rstrip("\n")) + "\n")

    def _show_detail(self, title: str, body_html: str) -> None:
        self.detail_title.value = f"<b>{_e(title)}</b>"
        self.detail.value = _block(body_html.replace("<pre>", f"<pre style='{PRE}'>"))
        _visible(self.detail_box, True)

    # -- confirmations ----------------------------------------------------------------

    def _ask(self, message: str, what: str, action: Action) -> Confirmation:
        self._ui.drain()
        if self._running is not None:
            raise DashboardBusy(f"busy: {self._running}; wait for it to finish (dash.wait())")
        self._supersede()
        self.pending = Confirmation(self, message, what, action)
        self.confirm_label.value = f"<b>{_e(message)}</b>"
        _visible(self.confirm_bar, True)
        return self.pending

    def _supersede(self) -> None:
        if self.pending is not None and self.pending.state == "pending":
            self.pending.state = "cancelled"
        self.pending = None
        _visible(self.confirm_bar, False)

    def _confirmed(self, c: Confirmation) -> None:
        if c.state != "pending":
            raise RuntimeError(f"this confirmation was already {c.state}; ask again")
        if self._running is not None:
            raise DashboardBusy(f"busy: {self._running}; wait for it to finish (dash.wait())")
        c.state = "confirmed"
        self._start(c.what, c._action)

    def _cancelled(self, c: Confirmation) -> None:
        if c.state == "pending":
            self._supersede()
            self._log(f"cancelled: {c.what}")

    def _confirm_pending(self) -> None:
        if self.pending is not None:
            self.pending.confirm()

    def _cancel_pending(self) -> None:
        if self.pending is not None:
            self.pending.cancel()

    def _recover(self, ask: Callable[[str], Confirmation]) -> None:
        if self._failed is not None:
            ask(self._failed.version)

    # -- running actions on the bridge loop -------------------------------------------

    def _start(self, what: str, action: Action | None, *, quiet: bool = False) -> None:
        self._ui.drain()  # without a kernel loop, a finished run is applied here (or by wait())
        if self._running is not None:
            raise DashboardBusy(f"busy: {self._running}; wait for it to finish (dash.wait())")
        self._supersede()
        self._token += 1
        token = self._token
        self._running = what
        self._set_banner(None)
        self.progress.value, self.progress.max, self.progress.bar_style = 0, 1, "info"
        self.status_label.value = f"Running: {_e(what)}…"
        self._enable()
        if not quiet:
            self._log(f"{what} …")
        try:
            future = bridge.submit(self._job(token, what, action))
        except BaseException:
            self._running = None
            self._enable()
            raise
        self._future = future
        future.add_done_callback(lambda f: self._ui.post(self._lost, token, f))

    async def _job(self, token: int, what: str, action: Action | None) -> None:
        """On the bridge loop: the action, then the status; the outcome is posted to the UI."""
        result: Any = None
        error: BaseException | None = None
        report: StatusReport | None = None
        with self._cancel_lock:
            self._began, self._task = token, asyncio.current_task()
            cancelled = self._cancel_asked == token
        try:
            if cancelled:
                error = Interrupted(f"cancelled before it started: {what}")
            elif action is not None:
                result, error = await self._act(action)
            report = await self.manager.status()
        except asyncio.CancelledError:
            error = Interrupted(f"interrupted: {what}; the migration in flight was rolled back")
            raise
        except Exception as exc:
            error = error or exc
        finally:
            self._ui.post(self._finish, token, what, result, error, report)

    async def _act(self, action: Action) -> tuple[Any, Exception | None]:
        """Run the action with this dashboard's progress callback; a failure is returned."""
        manager = self.manager
        previous, manager.on_progress = manager.on_progress, self._progress
        try:
            return await action(), None
        except Exception as exc:
            return None, exc
        finally:
            if manager.on_progress == self._progress:
                manager.on_progress = previous

    def _progress(self, p: Progress) -> None:  # the manager's callback, on the bridge thread
        self._ui.post(self._show_progress, p)

    def _show_progress(self, p: Progress) -> None:
        self.progress.max = max(p.total, 1)
        self.progress.value = p.index + (1 if p.phase == "done" else 0)
        if p.phase == "start":
            verb = "applying" if p.direction == "up" else "reverting"
            step = f"{verb} {p.version} {p.name} ({p.index + 1}/{p.total})"
            self.status_label.value = f"Running: {_e(step)}"

    def _finish(
        self,
        token: int,
        what: str,
        result: Any,
        error: BaseException | None,
        report: StatusReport | None,
    ) -> None:
        if token != self._token or self._running is None:
            return
        self._running = None
        self.last_result, self.last_error = result, error
        if report is not None:
            self._show_status(report)
        if error is not None:
            self._set_banner(error)
            self.progress.bar_style = "danger"
            self.status_label.value = f"<span style='color:{RED}'>Failed: {_e(what)}</span>"
            self._log(f"failed: {error}")
        else:
            self.progress.value = self.progress.max
            self.progress.bar_style = "success"
            self.status_label.value = f"Done: {_e(what)}"
            self._show_result(what, result)
        self._enable()

    def _lost(self, token: int, future: concurrent.futures.Future[Any]) -> None:
        """After the job's future is done: finish if the job never ran (the bridge loop stopped)."""
        if token == self._token and self._running is not None and self._began != token:
            stopped = Interrupted("the bridge loop stopped before it ran")
            self._finish(token, self._running, None, stopped, None)

    def _show_result(self, what: str, result: Any) -> None:
        if isinstance(result, SourceReport):
            self._show_detail(f"Source of {result.version} {result.name}", render.to_html(result))
        elif isinstance(result, RunReport) and result.dry_run:
            self._show_detail(f"{what.capitalize()} (rolled back)", render.to_html(result))
            self._log(render.to_text(result))
        elif isinstance(result, RunReport):
            self._log(render.to_text(result))
        elif self.report is not None:
            self._log(f"{what}: {_summary(self.report)}")

    async def _down(self, targets: list[MigrationStatus], dry_run: bool = False) -> RunReport:
        """Revert exactly the migrations the confirmation named, or refuse if that changed."""
        now = _revert_targets(await self.manager.status(), targets[-1].version)
        if [m.version for m in now] != [m.version for m in targets]:
            raise PlanError(
                "the database changed since this was asked: reverting "
                f"{targets[-1].version} now means reverting {_and([m.version for m in now])}; ask again"
            )
        return await self.manager.down(steps=len(targets), dry_run=dry_run)

    # -- helpers ----------------------------------------------------------------------

    def _guarded(self, fn: Callable[..., Any], *args: Any) -> None:
        """A button's handler: a refusal becomes the banner, never a traceback in the kernel log."""
        try:
            fn(*args)
        except Exception as exc:
            self.last_error = exc
            self._set_banner(exc)

    def _status_of(self, version: str) -> MigrationStatus | None:
        self._ui.drain()
        if self.report is None:
            return None
        key = version_key(version)
        return next((m for m in self.report.migrations if version_key(m.version) == key), None)

    def _label(self, version: str) -> str:
        m = self._status_of(version)
        return f"{m.version} {m.name}" if m is not None else version

    def _revert_targets(self, version: str) -> list[MigrationStatus]:
        self._ui.drain()
        if self.report is None:
            raise PlanError("the status is unknown; press Refresh first")
        return _revert_targets(self.report, version)


class _UiQueue:
    """Widget updates from any thread, applied on the thread that built the dashboard.

    When that thread runs an event loop (a Jupyter kernel) each post wakes it through
    `call_soon_threadsafe`; otherwise the updates wait for `drain` (called by `wait()`).
    """

    def __init__(self) -> None:
        try:
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None
        self._items: queue.SimpleQueue[tuple[Callable[..., None], tuple[Any, ...]]] = queue.SimpleQueue()

    def post(self, fn: Callable[..., None], *args: Any) -> None:
        self._items.put((fn, args))
        loop = self._loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(self.drain)
            except RuntimeError:  # the loop closed in between: wait() drains instead
                pass

    def drain(self, block: float = 0.0) -> None:
        try:
            item = self._items.get(timeout=block) if block else self._items.get_nowait()
        except queue.Empty:
            return
        while True:
            fn, args = item
            try:
                fn(*args)
            except Exception:  # a display problem must not stop the updates after it
                logger.exception("nbmigrate dashboard: a widget update failed")
            try:
                item = self._items.get_nowait()
            except queue.Empty:
                return


def _revert_targets(report: StatusReport, version: str) -> list[MigrationStatus]:
    """What reverting `version` reverts: it and every recorded migration above it, newest first."""
    key = version_key(version)
    row = next((m for m in report.migrations if version_key(m.version) == key), None)
    if row is None:
        raise UnknownVersion(version)
    if row.state not in IN_LEDGER:
        raise PlanError(f"migration {row.version} ({row.name}) is not applied; there is nothing to revert")
    above = [m for m in report.migrations if m.state in IN_LEDGER and version_key(m.version) >= key]
    return sorted(above, key=lambda m: version_key(m.version), reverse=True)


def _banner_html(error: BaseException) -> str:
    if isinstance(error, MigrationFailed):
        where = error.path.name if error.path else "registered in code"
        lines = [
            f"<b>✘ Migration {_e(error.version)} {_e(error.name)} failed during {_e(error.direction)}</b>"
            f" ({_e(where)})",
            f"database said: {_e(error.db_message)}",
        ]
        if error.statement:
            lines.append(f"statement: <code>{_e(error.statement)}</code>")
        lines.append(
            "rolled back: nothing of it was kept"
            if error.rolled_back
            else "not transactional: recorded as failed; the database may be partly changed"
        )
    else:
        first, *rest = str(error).splitlines() or [""]
        lines = [f"<b>✘ {_e(type(error).__name__)}</b>: {_e(first)}", *(_e(line) for line in rest)]
    box = f"border:1px solid {RED};background:#ffebe9;padding:4px 8px"
    return _block(f"<div style='{box}'>{'<br>'.join(lines)}</div>")


def _summary(report: StatusReport) -> str:
    counts = [f"{report.count(s)} {s.value}" for s in State if report.count(s)]
    n = len(report.migrations)
    return f"{n} migration{'s' if n != 1 else ''}" + (": " + ", ".join(counts) if counts else "")


def _stable_url(manager: MigrationManager) -> str:
    """The database without the parts that vary between machines (folders, password)."""
    url = manager.db.url
    if url.scheme == "sqlite" and url.path is not None:
        return f"sqlite:///…/{url.path.name}" if url.path.is_absolute() else f"sqlite:///{url.path}"
    return url.masked


def _near(path: Path) -> str:
    """A folder under the working directory as a relative path, others as they are."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(path)


def _took(ms: float | None) -> str:
    if ms is None:
        return ""
    return f"{ms:.1f} ms" if ms < 1000 else f"{ms / 1000:.2f} s"


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _e(text: str) -> str:
    return html.escape(mask_password(text))


def _button(description: str, css: str, style: str = "") -> w.Button:
    return _css(w.Button(description=description, button_style=style, layout=w.Layout(width="auto")), css)


def _css(widget: Any, name: str) -> Any:
    widget.add_class(name)
    return widget


def _boxed(style: str, border: str, **layout: str) -> dict[str, Any]:
    frame = w.Layout(padding="4px 8px", margin="4px 0", border=f"1px solid {border}", **layout)
    return {"layout": frame, "box_style": style}


def _block(body: str) -> str:
    """Lines of HTML at reading height (a widget's own line height is a button's)."""
    return f"<div style='line-height:1.45;white-space:normal'>{body}</div>"


def _visible(widget: w.Widget, shown: bool) -> None:
    widget.layout.display = None if shown else "none"
