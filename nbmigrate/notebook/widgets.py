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
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any

import ipywidgets as w

from .. import render
from ..engine.manager import MigrationManager
from ..errors import MisuseError, NbMigrateError, PlanError, UnknownVersion
from ..model import (
    MigrationStatus,
    Progress,
    State,
    normalize_version,
    version_key,
)
from ..reports import (
    RunReport,
    SourceReport,
    StatusReport,
)
from ..urls import mask_password
from . import bridge
from . import dashboard_parts as parts
from .dashboard_parts import Row
from .ui_queue import UiQueue

__all__ = ["Confirmation", "Dashboard", "DashboardBusy", "Row"]

Action = Callable[[], Coroutine[Any, Any, Any]]


class DashboardBusy(NbMigrateError, RuntimeError):
    """An action was asked while another one runs; `dash.wait()` first."""


class ActionInterrupted(NbMigrateError):
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
        self._ui = UiQueue()
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
        names = parts.joined([f"{m.version} {m.name}" for m in targets])
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
        if row is not None and row.state in (State.APPLIED, State.APPLIED_OUT_OF_ORDER, State.CHANGED):
            targets = self._revert_targets(v)
            what = "dry run: revert " + parts.joined([f"{m.version} {m.name}" for m in targets])
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
        where = parts.stable_url(self.manager)
        if self.report is None:
            return f"Dashboard: {where} — status unknown"
        return f"Dashboard: {where} — {parts.summary(self.report)}"

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
        folder = (
            parts.near(self.manager.directory) if self.manager.directory is not None else "registered only"
        )
        self.database_label = parts.with_class(
            w.HTML(
                f"<b>nbmigrate</b> · database <code>{html.escape(mask_password(db))}</code>"
                f" · migrations <code>{html.escape(folder)}</code>"
            ),
            "nbm-database",
        )
        self.apply_all_button = parts.button("Apply all pending", "nbm-apply-all", "primary")
        self.refresh_button = parts.button("Refresh", "nbm-refresh")
        self.summary_label = parts.with_class(w.HTML(), "nbm-summary")
        self.banner = parts.with_class(w.HTML(), "nbm-banner")
        self.confirm_label = w.HTML()
        self.confirm_button = parts.button("Confirm", "nbm-confirm", "danger")
        self.cancel_button = parts.button("Cancel", "nbm-cancel")
        self.confirm_bar = parts.with_class(
            w.HBox(
                [self.confirm_label, self.confirm_button, self.cancel_button],
                **parts.boxed("warning", "#d4a72c", align_items="center"),
            ),
            "nbm-confirm-bar",
        )
        self.recovery_label = w.HTML()
        self.recovery_revert_button = parts.button(
            "Revert (run its down step)…", "nbm-recover-revert", "warning"
        )
        self.recovery_mark_button = parts.button("Mark as applied (after a manual fix)…", "nbm-recover-mark")
        self.recovery = parts.with_class(
            w.VBox(
                [self.recovery_label, w.HBox([self.recovery_revert_button, self.recovery_mark_button])],
                **parts.boxed("danger", parts.RED),
            ),
            "nbm-recovery",
        )
        self._header = [w.HTML(f"<b>{html.escape(h)}</b>") for h in parts.HEADERS]
        self.table = parts.with_class(
            w.GridBox(layout=w.Layout(grid_template_columns=parts.COLUMNS, grid_gap="2px 8px")),
            "nbm-table",
        )
        self.progress = w.IntProgress(value=0, min=0, max=1, layout=w.Layout(width="240px"))
        self.status_label = parts.with_class(w.HTML("Ready"), "nbm-status")
        self.detail_title = w.HTML()
        self.detail_close_button = parts.button("Close", "nbm-detail-close")
        self.detail = parts.with_class(w.HTML(), "nbm-detail")
        self.detail_box = w.VBox(
            [w.HBox([self.detail_title, self.detail_close_button]), self.detail],
            **parts.boxed("info", "#d0d7de"),
        )
        self.log = parts.with_class(
            w.Output(layout=w.Layout(max_height="160px", overflow="auto", border="1px solid #d0d7de")),
            "nbm-log",
        )
        self.widget = parts.with_class(
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
            parts.set_visible(box, False)
        self.apply_all_button.on_click(lambda _: self._guarded(self.apply_all))
        self.refresh_button.on_click(lambda _: self._guarded(self.refresh))
        self.confirm_button.on_click(lambda _: self._guarded(self._confirm_pending))
        self.cancel_button.on_click(lambda _: self._guarded(self._cancel_pending))
        self.recovery_revert_button.on_click(lambda _: self._guarded(self._recover, self.revert))
        self.recovery_mark_button.on_click(lambda _: self._guarded(self._recover, self.mark))
        self.detail_close_button.on_click(lambda _: parts.set_visible(self.detail_box, False))

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
        self.apply_all_button.disabled = not (states & (parts.CAN_APPLY | {State.FAILED}))
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
        self.summary_label.value = html.escape(parts.summary(report))
        self._show_recovery(report)

    def _show_recovery(self, report: StatusReport) -> None:
        failed = next((m for m in report.migrations if m.state is State.FAILED), None)
        parts.set_visible(self.recovery, failed is not None)
        self._failed = failed
        if failed is None:
            return
        self.recovery_label.value = parts.recovery_html(failed)

    def _set_banner(self, error: BaseException | None) -> None:
        parts.set_visible(self.banner, error is not None)
        self.banner.value = "" if error is None else parts.banner_html(error)

    def _log(self, text: str) -> None:
        self.log.append_stdout(mask_password(text.rstrip("\n")) + "\n")

    def _show_detail(self, title: str, body_html: str) -> None:
        self.detail_title.value = f"<b>{parts.escaped(title)}</b>"
        self.detail.value = parts.block(body_html.replace("<pre>", f"<pre style='{parts.PRE}'>"))
        parts.set_visible(self.detail_box, True)

    # -- confirmations ----------------------------------------------------------------

    def _ask(self, message: str, what: str, action: Action) -> Confirmation:
        self._ui.drain()
        if self._running is not None:
            raise DashboardBusy(f"busy: {self._running}; wait for it to finish (dash.wait())")
        self._supersede()
        self.pending = Confirmation(self, message, what, action)
        self.confirm_label.value = f"<b>{parts.escaped(message)}</b>"
        parts.set_visible(self.confirm_bar, True)
        return self.pending

    def _supersede(self) -> None:
        if self.pending is not None and self.pending.state == "pending":
            self.pending.state = "cancelled"
        self.pending = None
        parts.set_visible(self.confirm_bar, False)

    def _confirmed(self, c: Confirmation) -> None:
        if c.state != "pending":
            raise MisuseError(f"this confirmation was already {c.state}; ask again")
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
        self.status_label.value = f"Running: {parts.escaped(what)}…"
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
                error = ActionInterrupted(f"cancelled before it started: {what}")
            elif action is not None:
                result, error = await self._act(action)
            report = await self.manager.status()
        except asyncio.CancelledError:
            interruption = self.manager.interruption
            said = interruption.describe() if interruption is not None else "nothing was running"
            error = ActionInterrupted(f"interrupted: {what}: {said}")
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
            self.status_label.value = f"Running: {parts.escaped(step)}"

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
            self.status_label.value = f"<span style='color:{parts.RED}'>Failed: {parts.escaped(what)}</span>"
            self._log(f"failed: {error}")
        else:
            self.progress.value = self.progress.max
            self.progress.bar_style = "success"
            self.status_label.value = f"Done: {parts.escaped(what)}"
            self._show_result(what, result)
        self._enable()

    def _lost(self, token: int, future: concurrent.futures.Future[Any]) -> None:
        """After the job's future is done: finish if the job never ran (the bridge loop stopped)."""
        if token == self._token and self._running is not None and self._began != token:
            stopped = ActionInterrupted("the bridge loop stopped before it ran")
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
            self._log(f"{what}: {parts.summary(self.report)}")

    async def _down(self, targets: list[MigrationStatus], dry_run: bool = False) -> RunReport:
        """Revert exactly the migrations the confirmation named, or refuse if that changed."""
        now = _revert_targets(await self.manager.status(), targets[-1].version)
        if [m.version for m in now] != [m.version for m in targets]:
            raise PlanError(
                "the database changed since this was asked: reverting "
                f"{targets[-1].version} now means reverting {parts.joined([m.version for m in now])}; "
                "ask again"
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


def _revert_targets(report: StatusReport, version: str) -> list[MigrationStatus]:
    """What reverting `version` reverts: it and every recorded migration above it, newest first."""
    key = version_key(version)
    row = next((m for m in report.migrations if version_key(m.version) == key), None)
    if row is None:
        raise UnknownVersion(version)
    if row.state not in parts.IN_LEDGER:
        raise PlanError(f"migration {row.version} ({row.name}) is not applied; there is nothing to revert")
    above = [m for m in report.migrations if m.state in parts.IN_LEDGER and version_key(m.version) >= key]
    return sorted(above, key=lambda m: version_key(m.version), reverse=True)
