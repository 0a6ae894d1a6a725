"""MigrationManager: status, up, down, redo, mark, unmark, repair, reset ... under the lock.

`plan` decides what to do; this module does it: one transaction per migration together
with its ledger row and log event, the lock held for the whole run.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from .. import config
from ..errors import (
    BackupError,
    ConfigError,
    ConfirmationRequired,
    DatabaseLocked,
    FileSystemFault,
    InvalidMigrationSet,
    IrreversibleMigration,
    MigrationFailed,
    NbMigrateError,
    PlanError,
    UnknownVersion,
)
from ..model import (
    BackupInfo,
    BackupReport,
    HistoryReport,
    Interruption,
    Migration,
    NewFileReport,
    RunReport,
    SchemaChange,
    SchemaReport,
    SourceReport,
    State,
    StatusReport,
    StepResult,
    TableInfo,
    ValidationReport,
    normalize_version,
    version_key,
)
from ..sources import scaffold
from ..sources.discover import check_registered, discover, duplicate_problems, load_all
from . import plan
from .database import Database
from .ledger import Ledger, utcnow
from .ledger_tables import LEDGER_TABLES
from .runner import INTERRUPTS, ProgressCallback, StepRunner

if TYPE_CHECKING:
    from ..backends.sqlite_backup import FileBackups

logger = logging.getLogger("nbmigrate")


class _DryRunRollback(Exception):
    """Raised inside a dry run's transaction to roll it back."""


class MigrationManager:
    """Applies and reverts the migrations of one directory (and those registered in code)."""

    def __init__(
        self,
        db: Database,
        directory: str | Path | None = "migrations",
        *,
        strict: bool = False,
        lock_timeout: float = 60.0,
        on_progress: ProgressCallback | None = None,
        backups: bool | None = None,
        backup_keep: int | None = None,
    ) -> None:
        self.db = db
        self.directory = Path(directory) if directory is not None else None
        self.strict = strict
        self.lock_timeout = lock_timeout
        # SQLite files are backed up before up/down/redo/reset; None: from the settings.
        self.backups = backups
        self.backup_keep = backup_keep
        self.ledger = Ledger(db.backend)
        self.runner = StepRunner(db, self.ledger, on_progress)
        self._registered: list[Migration] = []

    @property
    def on_progress(self) -> ProgressCallback | None:
        """Called before ("start") and after ("done") each step of a run."""
        return self.runner.on_progress

    @on_progress.setter
    def on_progress(self, callback: ProgressCallback | None) -> None:
        self.runner.on_progress = callback

    @property
    def in_flight(self) -> Migration | None:
        """The migration whose step is running now, if any."""
        return self.runner.in_flight

    @property
    def interruption(self) -> Interruption | None:
        """What the last interrupted command left behind (as the database shows it); None if none was."""
        return self.runner.interruption

    @classmethod
    def from_settings(
        cls, db: Database, settings: config.Settings, *, on_progress: ProgressCallback | None = None
    ) -> MigrationManager:
        """A manager with every resolved setting: directory, ordering, lock timeout, backups."""
        return cls(
            db,
            settings.directory,
            strict=settings.strict,
            lock_timeout=settings.lock_timeout,
            on_progress=on_progress,
            backups=settings.backups,
            backup_keep=settings.backup_keep,
        )

    def __repr__(self) -> str:
        return f"<MigrationManager {self.db.display_url} dir={self.directory}>"

    # -- sources ----------------------------------------------------------------------

    def register_migration(self, migration: Migration) -> None:
        """Add a migration defined in code; files are discovered without this."""
        self._registered.append(check_registered(migration))

    def migrations(self) -> list[Migration]:
        """Every known migration in version order; raise if any name or version is bad."""
        found = discover(self.directory) if self.directory is not None else []
        if self._registered:
            every = found + self._registered
            problems = duplicate_problems(every)
            if problems:
                raise InvalidMigrationSet(problems)
            found = sorted(every, key=lambda m: version_key(m.version))
        return found

    def _check_directory(self, available: list[Migration]) -> None:
        """A missing directory is a typo or a wrong working directory, not "nothing to do"."""
        if not available and self.directory is not None and not self.directory.exists():
            raise ConfigError(f"migrations directory {self.directory} does not exist")

    def find(self, version: str) -> Migration:
        key = version_key(normalize_version(version))
        for m in self.migrations():
            if version_key(m.version) == key:
                return m
        raise UnknownVersion(version, str(self.directory or "registered migrations"))

    # -- read-only commands -----------------------------------------------------------

    async def status(self) -> StatusReport:
        await self.db.connect()
        available = self.migrations()
        live = await self.db.backend.lock_is_held()
        rows = plan.statuses(available, await self.ledger.read(), live=live)
        return StatusReport(self.db.display_url, _dir(self.directory), rows)

    async def history(self, limit: int | None = 50, version: str | None = None) -> HistoryReport:
        await self.db.connect()
        if version is not None:
            version = normalize_version(version)
        events = await self.ledger.history(limit, version)
        return HistoryReport(self.db.display_url, events)

    async def show(self, version: str) -> SourceReport:
        m = self.find(version)
        return SourceReport(m.version, m.name, m.path, m.source_text())

    async def new(self, name: str, kind: str = "sql") -> NewFileReport:
        """Write the next numbered migration file from a template."""
        if self.directory is None:
            raise NbMigrateError("this manager has no migrations directory to write to")
        name = scaffold.check_name(name)
        await self.db.connect()
        version = plan.next_version(self.migrations(), await self.ledger.read())
        path = self.directory / scaffold.file_name(version, name, kind)
        scaffold.write_atomically(path, scaffold.template(version, name, kind))
        return NewFileReport(version, name, path)

    async def schema(self, table: str | None = None) -> SchemaReport:
        await self.db.connect()
        names = await self._user_tables()
        if table is not None:
            if table not in names:
                raise NbMigrateError(f"no table named {table!r} in {self.db.display_url}")
            names = [table]
        tables = [await self.db.backend.describe(n) for n in names]
        return SchemaReport(self.db.display_url, tables)

    async def validate(self) -> ValidationReport:
        """Every problem with the files and the ledger; empty when all is well."""
        await self.db.connect()
        problems: list[str] = []
        try:
            available = self.migrations()
        except InvalidMigrationSet as exc:
            return ValidationReport(self.db.display_url, 0, [str(p) for p in exc.problems])
        if self.directory is not None and not self.directory.exists():
            problems.append(f"migrations directory {self.directory} does not exist")
        try:
            load_all(available)
        except InvalidMigrationSet as exc:
            problems += [str(p) for p in exc.problems]
        ledger = await self.ledger.read()
        for row in plan.statuses(available, ledger, live=await self.db.backend.lock_is_held()):
            where = row.path.name if row.path else "ledger"
            if row.state is State.CHANGED:
                problems.append(f"{where}: migration {row.version} changed since it was applied")
            elif row.state is State.MISSING:
                problems.append(f"migration {row.version} ({row.name}) is applied but its file is gone")
            elif row.state is State.FAILED:
                problems.append(f"{where}: migration {row.version} failed: {row.error}")
            elif row.state is State.OUT_OF_ORDER and self.strict:
                problems.append(f"{where}: migration {row.version} is older than the newest applied")
        problems += plan.duplicate_rows(ledger)
        return ValidationReport(self.db.display_url, len(available), problems)

    # -- changing commands ------------------------------------------------------------

    async def up(
        self,
        target: str | None = None,
        *,
        dry_run: bool = False,
        atomic: bool = False,
        retry: bool = False,
        backup: bool = True,
    ) -> RunReport:
        """Apply pending migrations in version order, up to and including `target`."""
        target = normalize_version(target) if target is not None else None
        async with self._run("up") as run_id:
            available = self.migrations()
            self._check_directory(available)
            ledger = await self.ledger.read()
            todo = plan.to_apply(available, ledger, target, strict=self.strict, retry=retry)
            recorded = {version_key(r.version) for r in ledger}
            load_all(m for m in available if version_key(m.version) not in recorded or m in todo)
            if todo and not dry_run and atomic:
                blocking = [m.version for m in todo if not m.transactional]
                if blocking:
                    raise PlanError(
                        f"--atomic cannot include non-transactional migrations: {', '.join(blocking)}"
                    )
            report = RunReport("up", self.db.display_url, dry_run=dry_run)
            if todo and not dry_run:
                await self._backup_before("up", backup)
            newest = plan.newest_applied(ledger)

            def out_of_order(m: Migration) -> bool:
                return newest is not None and version_key(m.version) < newest

            with self._keep_completed(report):
                if dry_run:
                    await self._dry_run(report, [(m, "up") for m in todo])
                elif atomic:
                    await self._apply_atomically(report, todo, run_id, out_of_order)
                else:
                    for i, m in enumerate(todo):
                        failed = plan.record_of(ledger, m.version)
                        report.steps.append(
                            await self.runner.apply(
                                m, run_id, i, len(todo), replaces=failed, out_of_order=out_of_order(m)
                            )
                        )
            if not todo:
                report.message = plan.UP_TO_DATE
            return report

    async def down(
        self,
        *,
        to: str | None = None,
        steps: int | None = None,
        all: bool = False,
        dry_run: bool = False,
        backup: bool = True,
    ) -> RunReport:
        """Revert the last applied migration, or down to `to` (kept), or `steps` of them, or all."""
        to = normalize_version(to) if to is not None else None
        async with self._run("down") as run_id:
            reversals = plan.to_revert(
                self.migrations(), await self.ledger.read(), to=to, steps=steps, everything=all
            )
            load_all(r.migration for r in reversals)
            for r in reversals:
                if not r.migration.reversible:
                    raise IrreversibleMigration(r.migration.version, r.migration.name)
            report = RunReport("down", self.db.display_url, dry_run=dry_run)
            if reversals and not dry_run:
                await self._backup_before("down", backup)
            with self._keep_completed(report):
                if dry_run:
                    await self._dry_run(report, [(r.migration, "down") for r in reversals])
                else:
                    for i, r in enumerate(reversals):
                        step = await self.runner.revert(r.migration, r.record, run_id, i, len(reversals))
                        report.steps.append(step)
            if not reversals:
                report.message = "nothing to revert"
            return report

    async def redo(self, *, backup: bool = True) -> RunReport:
        """Revert the last applied migration and apply it again."""
        async with self._run("redo") as run_id:
            reversals = plan.to_revert(self.migrations(), await self.ledger.read(), steps=1)
            report = RunReport("redo", self.db.display_url)
            if not reversals:
                report.message = "nothing to redo: no migration is applied"
                return report
            record, m = reversals[0].record, reversals[0].migration
            load_all([m])
            if not m.reversible:
                raise IrreversibleMigration(m.version, m.name)
            await self._backup_before("redo", backup)
            with self._keep_completed(report):
                report.steps.append(await self.runner.revert(m, record, run_id, 0, 2))
                report.steps.append(
                    await self.runner.apply(m, run_id, 1, 2, out_of_order=record.out_of_order)
                )
            return report

    async def mark(self, version: str) -> RunReport:
        """Record a migration as applied without running it (adopting an existing database)."""
        async with self._run("mark") as run_id:
            m = self.find(version)
            ledger = await self.ledger.read()
            record = plan.record_of(ledger, m.version)
            if record is not None and not plan.failed(record):
                raise PlanError(f"migration {m.version} ({m.name}) is already applied")
            newest = plan.newest_applied(ledger)
            late = newest is not None and version_key(m.version) < newest
            started = utcnow()
            async with self.db.transaction():
                await self.ledger.write(
                    *self.ledger.record_statements(
                        m,
                        execution_ms=None,
                        replaces=record.version if record is not None else None,
                        out_of_order=late,
                    ),
                    self.ledger.event(
                        run_id,
                        "mark",
                        "ok",
                        version=m.version,
                        name=m.name,
                        started_at=started,
                        note="out of order" if late else None,
                    ),
                )
            note = "was failed; now recorded as applied" if record is not None else None
            step = StepResult(m.version, m.name, "up", "marked", note=note)
            return RunReport("mark", self.db.display_url, [step])

    async def unmark(self, version: str) -> RunReport:
        """Forget a ledger row without running anything."""
        version = normalize_version(version)
        async with self._run("unmark") as run_id:
            record = plan.record_of(await self.ledger.read(), version)
            if record is None:
                raise UnknownVersion(version, "the ledger (it is not applied)")
            started = utcnow()
            async with self.db.transaction():
                await self.ledger.write(
                    self.ledger.removal(record.version),
                    self.ledger.event(
                        run_id, "unmark", "ok", version=record.version, name=record.name, started_at=started
                    ),
                )
            step = StepResult(record.version, record.name, "down", "unmarked")
            return RunReport("unmark", self.db.display_url, [step])

    async def repair(self) -> RunReport:
        """Accept the current files of applied migrations: record their checksums anew."""
        async with self._run("repair") as run_id:
            by_version = plan.index_by_version(self.migrations())
            report = RunReport("repair", self.db.display_url)
            async with self.db.transaction():
                for record in await self.ledger.read():
                    m = by_version.get(version_key(record.version))
                    if m is None or record.status != "applied" or record.checksum == m.checksum:
                        continue
                    await self.ledger.write(
                        self.ledger.checksum_update(record.version, m.checksum),
                        self.ledger.event(run_id, "repair", "ok", version=m.version, name=m.name),
                    )
                    note = "checksum recorded" if record.checksum is None else "checksum updated"
                    report.steps.append(StepResult(m.version, m.name, "up", "repaired", note=note))
            if not report.steps:
                report.message = "nothing to repair"
            return report

    async def reset(self, *, yes: bool = False, backup: bool = True) -> RunReport:
        """Drop every table, view, index and trigger, ledger included (development only)."""
        if not yes:
            raise ConfirmationRequired(
                f"reset drops every table in {self.db.display_url}, data included; run `reset --yes` to do it"
            )
        async with self._run("reset", ensure_ledger=False) as run_id:
            if await self.db.backend.table_names():
                await self._backup_before("reset", backup)
            started = utcnow()
            async with self.db.transaction():
                dropped = await self.db.backend.drop_all()
                await self.ledger.ensure()
                await self.ledger.write(self.ledger.event(run_id, "reset", "ok", started_at=started))
            # Every object the ledger owns (tables, triggers, functions) is named _migrations*.
            user_objects = [d for d in dropped if not d.split(" ", 1)[1].startswith("_migrations")]
            return RunReport(
                "reset",
                self.db.display_url,
                message=f"dropped {len(user_objects)} objects: " + ", ".join(user_objects)
                if user_objects
                else "the database was already empty",
            )

    # -- backups (SQLite files) -------------------------------------------------------

    async def list_backups(self) -> BackupReport:
        """The backups of this database file, newest first."""
        store = self._backups()
        return BackupReport(self.db.display_url, store.folder, store.list(), usage=store.usage())

    async def restore(self, which: str | None = None, *, backup: bool = True) -> BackupReport:
        """Put a backup back (default: the newest), under the lock; the current state is saved
        first unless `backup` is False (a full disk has no room for that copy)."""
        store = self._backups()
        async with self._run("restore", ensure_ledger=False) as run_id:
            chosen = store.find(which)
            started = utcnow()
            saved = await store.take("restore", None, self.lock_timeout) if backup else None
            await store.restore(chosen.path, self.lock_timeout)
            await self._log_restore(run_id, chosen, started)
            protect = {chosen.path} | ({saved.path} if saved else set())
            store.prune(self._backup_settings()[1], protect=protect)
        return BackupReport(self.db.display_url, store.folder, store.list(), chosen, saved, store.usage())

    def _backups(self) -> FileBackups:
        store = self.db.backend.backups()
        if store is None:
            raise BackupError(self.db.display_url, self.db.backend.without_backups())
        return store

    async def _log_restore(self, run_id: str, chosen: BackupInfo, started: datetime) -> None:
        """The restore is done whatever happens here: a full disk only costs its log row."""
        try:
            async with self.db.transaction():
                await self.ledger.ensure()
                await self.ledger.write(
                    self.ledger.event(run_id, "restore", "ok", name=chosen.path.name, started_at=started)
                )
        except (FileSystemFault, DatabaseLocked) as exc:
            logger.warning("restored, but the event log could not record it: %s", exc)

    async def _backup_before(self, command: str, wanted: bool) -> BackupInfo | None:
        """Back up the database before a command changes it, where its backend keeps backups."""
        store = self.db.backend.backups()
        enabled, keep = self._backup_settings()
        if store is None or not wanted or not enabled:
            return None
        info = await store.take(command, keep, self.lock_timeout)
        logger.info("backed up %s to %s", store.file.name, info.path)
        return info

    def _backup_settings(self) -> tuple[bool, int]:
        return config.backup_settings(self.backups, self.backup_keep)

    # -- the seed's manager API -------------------------------------------------------

    async def run_migrations(self) -> RunReport:
        return await self.up()

    async def rollback_last_migration(self) -> bool:
        """Revert the last applied migration; True when one was reverted, False otherwise."""
        try:
            report = await self.down()
        except NbMigrateError as exc:
            logger.error("rollback failed: %s", exc)
            return False
        return bool(report.steps)

    # -- the work itself --------------------------------------------------------------

    @asynccontextmanager
    async def _run(self, command: str, *, ensure_ledger: bool = True) -> AsyncIterator[str]:
        """Connect, hold the lock for the whole command, make sure the ledger exists."""
        self.runner.interruption = None
        try:
            await self.db.connect()
            await self.db.backend.set_busy_timeout(self.lock_timeout)  # a foreign write lock too
            async with self.db.backend.lock(self.lock_timeout, f"nbmigrate {command}"):
                if (store := self.db.backend.backups()) is not None:
                    store.remove_partials()  # what a run killed mid-backup left
                if ensure_ledger:
                    async with self.db.transaction():
                        await self.ledger.ensure()
                yield os.urandom(6).hex()
        except INTERRUPTS:
            if self.runner.interruption is None:  # before any step: waiting, connecting, backing up
                self.runner.interruption = Interruption()
            raise

    async def _apply_atomically(
        self, report: RunReport, todo: list[Migration], run_id: str, out_of_order: Callable[[Migration], bool]
    ) -> None:
        """All pending migrations in one transaction: all or nothing."""
        await self.runner.apply_atomically(todo, run_id, report.steps, out_of_order)

    async def _dry_run(self, report: RunReport, items: list[tuple[Migration, str]]) -> None:
        """Run the steps in one transaction, record the SQL and the schema change, roll back."""
        before = await self._snapshot()
        try:
            async with self.db.transaction():
                await self.runner.rehearse(items, report.steps)
                after = await self._snapshot()
                raise _DryRunRollback
        except _DryRunRollback:
            pass
        report.schema_change = diff_schema(before, after)

    @contextmanager
    def _keep_completed(self, report: RunReport) -> Iterator[None]:
        """A failure or an interrupt carries the steps of its run that did finish, for the faces."""
        try:
            yield
        except MigrationFailed as exc:
            exc.completed = list(report.steps)
            raise
        except INTERRUPTS:
            if self.runner.interruption is None:  # between two steps
                self.runner.interruption = Interruption()
            self.runner.interruption.completed[:] = report.steps
            raise

    async def _snapshot(self) -> dict[str, TableInfo]:
        return {n: await self.db.backend.describe(n) for n in await self._user_tables()}

    async def _user_tables(self) -> list[str]:
        return [n for n in await self.db.backend.table_names() if n not in LEDGER_TABLES]


def diff_schema(before: dict[str, TableInfo], after: dict[str, TableInfo]) -> SchemaChange:
    """What changed between two snapshots: tables added or dropped, columns and indexes."""
    changed: dict[str, list[str]] = {}
    for name in sorted(set(before) & set(after)):
        old, new = before[name], after[name]
        lines = []
        old_cols = {c.name: c for c in old.columns}
        new_cols = {c.name: c for c in new.columns}
        lines += [f"+ column {c} {new_cols[c].type}".rstrip() for c in new_cols if c not in old_cols]
        lines += [f"- column {c}" for c in old_cols if c not in new_cols]
        lines += [
            f"column {c}: {old_cols[c].type} -> {new_cols[c].type}"
            for c in new_cols
            if c in old_cols and old_cols[c].type != new_cols[c].type
        ]
        old_ix = {i.name for i in old.indexes}
        new_ix = {i.name for i in new.indexes}
        lines += [f"+ index {i}" for i in sorted(new_ix - old_ix)]
        lines += [f"- index {i}" for i in sorted(old_ix - new_ix)]
        if lines:
            changed[name] = lines
    return SchemaChange(
        added_tables=sorted(set(after) - set(before)),
        dropped_tables=sorted(set(before) - set(after)),
        changed_tables=changed,
    )


def _dir(directory: Path | None) -> str | None:
    return str(directory) if directory is not None else None
