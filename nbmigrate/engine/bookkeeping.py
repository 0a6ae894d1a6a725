"""The ledger's own commands: mark, unmark, repair and reset; none runs a migration."""

from __future__ import annotations

from ..errors import ConfirmationRequired, PlanError, UnknownVersion
from ..model import (
    StepResult,
    normalize_version,
    version_key,
)
from ..reports import RunReport
from . import plan
from .backup_commands import BackupCommands
from .ledger import utcnow
from .ledger_tables import APPLIED, LEDGER_TABLES


class Bookkeeping(BackupCommands):
    """mark, unmark, repair, reset."""

    async def mark(self, version: str) -> RunReport:
        """Record a migration as applied without running it (adopting an existing database)."""
        async with self._run("mark") as run:
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
                        run.id,
                        "mark",
                        "ok",
                        version=m.version,
                        name=m.name,
                        started_at=started,
                        note="out of order" if late else None,
                    ),
                )
            note = "was failed; now recorded as applied" if record is not None else None
            run.steps.append(StepResult(m.version, m.name, "up", "marked", note=note))
            return run.report

    async def unmark(self, version: str) -> RunReport:
        """Forget a ledger row without running anything."""
        version = normalize_version(version)
        async with self._run("unmark") as run:
            record = plan.record_of(await self.ledger.read(), version)
            if record is None:
                raise UnknownVersion(version, "the ledger (it is not applied)")
            started = utcnow()
            async with self.db.transaction():
                await self.ledger.write(
                    self.ledger.removal(record.version),
                    self.ledger.event(
                        run.id, "unmark", "ok", version=record.version, name=record.name, started_at=started
                    ),
                )
            run.steps.append(StepResult(record.version, record.name, "down", "unmarked"))
            return run.report

    async def repair(self) -> RunReport:
        """Accept the current files of applied migrations: record their checksums anew."""
        async with self._run("repair") as run:
            by_version = plan.index_by_version(self.migrations())
            async with self.db.transaction():
                for record in await self.ledger.read():
                    m = by_version.get(version_key(record.version))
                    if m is None or record.status != APPLIED or record.checksum == m.checksum:
                        continue
                    await self.ledger.write(
                        self.ledger.checksum_update(record.version, m.checksum),
                        self.ledger.event(run.id, "repair", "ok", version=m.version, name=m.name),
                    )
                    note = "checksum recorded" if record.checksum is None else "checksum updated"
                    run.steps.append(StepResult(m.version, m.name, "up", "repaired", note=note))
            if not run.steps:
                run.report.message = "nothing to repair"
            return run.report

    async def reset(self, *, yes: bool = False, backup: bool = True) -> RunReport:
        """Drop every table, view, index and trigger, ledger included (development only)."""
        if not yes:
            raise ConfirmationRequired(
                f"reset drops every table in {self.db.display_url}, data included; run `reset --yes` to do it"
            )
        async with self._run("reset", ensure_ledger=False) as run:
            if await self.db.backend.table_names():
                await self._backup_before("reset", backup)
            started = utcnow()
            async with self.db.transaction():
                dropped = await self.db.backend.drop_all()
                await self.ledger.ensure()
                await self.ledger.write(self.ledger.event(run.id, "reset", "ok", started_at=started))
            # Every object the ledger owns (tables, triggers, functions) is named _migrations*.
            user_objects = [d for d in dropped if not d.split(" ", 1)[1].startswith(LEDGER_TABLES[0])]
            run.report.message = (
                f"dropped {len(user_objects)} objects: " + ", ".join(user_objects)
                if user_objects
                else "the database was already empty"
            )
            return run.report
