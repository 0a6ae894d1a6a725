"""MigrationManager: status, up, down, redo and the rest of the commands, under the lock.

`plan` decides what to do; the runner does each step (its transaction, its ledger row, the
truth about how it ended); this module strings the steps of a command together. The
ledger's own commands are in bookkeeping.py, backups in backup_commands.py.
"""

from __future__ import annotations

import logging

from .. import config
from ..errors import InvalidMigrationSet, IrreversibleMigration, NbMigrateError, PlanError
from ..model import (
    Migration,
    State,
    normalize_version,
    version_key,
)
from ..reports import (
    HistoryReport,
    NewFileReport,
    RunReport,
    SchemaReport,
    SourceReport,
    StatusReport,
    ValidationReport,
)
from ..sources import scaffold
from ..sources.discover import load_all
from . import plan
from .bookkeeping import Bookkeeping
from .database import Database
from .dry_run import rehearse
from .ledger_tables import LEDGER_TABLES
from .runner import ProgressCallback

logger = logging.getLogger("nbmigrate")


class MigrationManager(Bookkeeping):
    """Applies and reverts the migrations of one directory (and those registered in code)."""

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

    # -- read-only commands -----------------------------------------------------------

    async def status(self) -> StatusReport:
        await self.db.connect()
        available = self.migrations()
        live = await self.db.backend.lock_is_held()
        rows = plan.statuses(available, await self.ledger.read(), live=live)
        directory = str(self.directory) if self.directory is not None else None
        return StatusReport(self.db.display_url, directory, rows)

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
        tables = await self.db.backend.catalog(exclude=LEDGER_TABLES)
        if table is not None:
            tables = [t for t in tables if t.name == table]
            if not tables:
                raise NbMigrateError(f"no table named {table!r} in {self.db.display_url}")
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
        async with self._run("up") as run:
            available = self.migrations()
            self._check_directory(available)
            ledger = await self.ledger.read()
            todo = plan.to_apply(available, ledger, target, strict=self.strict, retry=retry)
            recorded = {version_key(r.version) for r in ledger}
            load_all(m for m in available if version_key(m.version) not in recorded or m in todo)
            blocking = [m.version for m in todo if not m.transactional] if atomic and not dry_run else []
            if blocking:
                raise PlanError(
                    f"--atomic cannot include non-transactional migrations: {', '.join(blocking)}"
                )
            if todo and not dry_run:
                await self._backup_before("up", backup)
            newest = plan.newest_applied(ledger)

            def out_of_order(m: Migration) -> bool:
                return newest is not None and version_key(m.version) < newest

            if dry_run:
                await rehearse(self.db, self.runner, run.report, [(m, "up") for m in todo])
            elif atomic:
                await self.runner.apply_atomically(todo, run.id, run.steps, out_of_order)
            else:
                for i, m in enumerate(todo):
                    failed = plan.record_of(ledger, m.version)
                    step = await self.runner.apply(
                        m, run.id, i, len(todo), replaces=failed, out_of_order=out_of_order(m)
                    )
                    run.steps.append(step)
            if not todo:
                run.report.message = plan.UP_TO_DATE
            return run.report

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
        async with self._run("down") as run:
            reversals = plan.to_revert(
                self.migrations(), await self.ledger.read(), to=to, steps=steps, everything=all
            )
            load_all(r.migration for r in reversals)
            for r in reversals:
                if not r.migration.reversible:
                    raise IrreversibleMigration(r.migration.version, r.migration.name)
            if reversals and not dry_run:
                await self._backup_before("down", backup)
            if dry_run:
                await rehearse(self.db, self.runner, run.report, [(r.migration, "down") for r in reversals])
            else:
                for i, r in enumerate(reversals):
                    run.steps.append(
                        await self.runner.revert(r.migration, r.record, run.id, i, len(reversals))
                    )
            if not reversals:
                run.report.message = "nothing to revert"
            return run.report

    async def redo(self, *, backup: bool = True) -> RunReport:
        """Revert the last applied migration and apply it again."""
        async with self._run("redo") as run:
            reversals = plan.to_revert(self.migrations(), await self.ledger.read(), steps=1)
            if not reversals:
                run.report.message = "nothing to redo: no migration is applied"
                return run.report
            record, m = reversals[0].record, reversals[0].migration
            load_all([m])
            if not m.reversible:
                raise IrreversibleMigration(m.version, m.name)
            await self._backup_before("redo", backup)
            run.steps.append(await self.runner.revert(m, record, run.id, 0, 2))
            run.steps.append(await self.runner.apply(m, run.id, 1, 2, out_of_order=record.out_of_order))
            return run.report

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
