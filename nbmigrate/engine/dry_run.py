"""Dry runs: the steps in one transaction that is rolled back, with their SQL and the schema change."""

from __future__ import annotations

from ..errors import NbMigrateError
from ..model import Migration
from ..reports import (
    RunReport,
    SchemaChange,
    TableInfo,
)
from .database import Database
from .ledger_tables import LEDGER_TABLES
from .runner import StepRunner


class _DryRunRollback(NbMigrateError):  # control flow, never seen outside this module
    """Raised inside a dry run's transaction to roll it back."""


async def rehearse(
    db: Database, runner: StepRunner, report: RunReport, items: list[tuple[Migration, str]]
) -> None:
    """Run the steps in one transaction, record the SQL and the schema change, roll back."""
    before = await tables(db)
    try:
        async with db.transaction():
            await runner.rehearse(items, report.steps)
            after = await tables(db)
            raise _DryRunRollback
    except _DryRunRollback:
        pass
    report.dry_run = True
    report.schema_change = diff_schema(before, after)


async def tables(db: Database) -> dict[str, TableInfo]:
    """The user tables (nbmigrate's own left out), by name."""
    return {t.name: t for t in await db.backend.catalog(exclude=LEDGER_TABLES)}


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
