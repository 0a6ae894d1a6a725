"""The `_migrations` ledger and the append-only `_migrations_log`, over any backend.

Ledger statements go to the backend directly, not through `Database.execute`, so they
never show in a dry run's list of statements; they share the migration's transaction.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from .._version import __version__
from ..backends.base import Backend, Statement, current_user
from ..model import AppliedRecord, Event, Migration
from ..urls import mask_password
from .ledger_tables import (
    ADDED_COLUMNS,
    ADDED_LOG_COLUMNS,
    CHECKPOINTS,
    LEDGER,
    LOG,
    READ_LEDGER,
    parse_timestamp,
    records_from_rows,
)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Ledger:
    """Reads and writes nbmigrate's two tables through one backend."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.types = {"ts": backend.timestamp_type, "real": backend.float_type}
        self.user = current_user()

    async def exists(self) -> bool:
        return await self.backend.has_table(LEDGER)

    async def ensure(self) -> None:
        """Create both tables, or adopt an older `_migrations` table without losing a row."""
        b = self.backend
        t = self.types
        if await b.has_table(LEDGER):
            have = {c.name: c.type for c in (await b.describe(LEDGER)).columns}
            for column, ddl in ADDED_COLUMNS.items():
                if column not in have:
                    await b.execute(f"ALTER TABLE {LEDGER} ADD COLUMN {column} {ddl.format(**t)}")
            for statement in b.ledger_upgrades(LEDGER, have):
                await b.execute(statement)
        else:
            await b.execute(
                f"CREATE TABLE {LEDGER} ("
                "version TEXT PRIMARY KEY, name TEXT NOT NULL, description TEXT, checksum TEXT, "
                f"applied_at {t['ts']}, execution_ms {t['real']}, applied_by TEXT, "
                "status TEXT NOT NULL DEFAULT 'applied', error TEXT, statement TEXT, "
                "out_of_order INTEGER NOT NULL DEFAULT 0)"
            )
        if not await b.has_table(LOG):
            await b.execute(
                f"CREATE TABLE {LOG} (id {b.serial_key}, run_id TEXT NOT NULL, "
                "action TEXT NOT NULL, version TEXT, name TEXT, "
                f"started_at {t['ts']}, finished_at {t['ts']}, duration_ms {t['real']}, "
                "outcome TEXT NOT NULL, error TEXT, applied_by TEXT, nbmigrate_version TEXT, note TEXT)"
            )
            for statement in b.append_only(LOG):
                await b.execute(statement)
        else:
            have_log = {c.name for c in (await b.describe(LOG)).columns}
            for column, ddl in ADDED_LOG_COLUMNS.items():
                if column not in have_log:
                    await b.execute(f"ALTER TABLE {LOG} ADD COLUMN {column} {ddl}")

    async def read(self) -> list[AppliedRecord]:
        """Every ledger row; empty when the database has never been migrated."""
        if not await self.exists():
            return []
        return records_from_rows(await self.backend.fetch_all(READ_LEDGER))

    async def write(self, *statements: Statement) -> None:
        """Run ledger statements in order, in one round trip where the backend can."""
        await self.backend.execute_batch(statements)

    def checksum_update(self, version: str, checksum: str | None) -> Statement:
        """The statement that records a new checksum for an applied migration."""
        sql = self.backend.native_sql(f"UPDATE {LEDGER} SET checksum = ? WHERE version = ?")
        return sql, (checksum, version)

    def record_statements(
        self,
        migration: Migration,
        *,
        execution_ms: float | None,
        status: str = "applied",
        error: str | None = None,
        statement: str | None = None,
        replaces: str | None = None,
        out_of_order: bool = False,
    ) -> list[Statement]:
        """The statements that write one migration's ledger row.

        `replaces`: the version, exactly as stored, of a row this one takes the place of (a
        failed or unfinished row being retried or marked, a running row being finished).
        """
        insert = (
            self.backend.native_sql(
                f"INSERT INTO {LEDGER} (version, name, description, checksum, applied_at, "
                "execution_ms, applied_by, status, error, statement, out_of_order) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            ),
            (
                migration.version,
                migration.name,
                migration.description or None,
                migration.checksum,
                self._ts(utcnow()),
                execution_ms,
                self.user,
                status,
                mask_password(error) if error else error,  # a migration's error may quote the URL
                statement,
                int(out_of_order),
            ),
        )
        return [self.removal(replaces), insert] if replaces is not None else [insert]

    def removal(self, version: str) -> Statement:
        """The statement that deletes one ledger row, named by its version exactly as stored.

        Versions compare as numbers everywhere else (`001`, `0001` and `1` are one migration);
        callers find the row that way and pass its stored text, so the delete hits that row.
        """
        return self.backend.native_sql(f"DELETE FROM {LEDGER} WHERE version = ?"), (version,)

    def checkpoints_removal(self, version: str) -> Statement:
        """The statement that forgets a finished (or reverted) migration's batch checkpoints."""
        return self.backend.native_sql(f"DELETE FROM {CHECKPOINTS} WHERE version = ?"), (version,)

    def event(
        self,
        run_id: str,
        action: str,
        outcome: str,
        *,
        version: str | None = None,
        name: str | None = None,
        started_at: datetime | None = None,
        error: str | None = None,
        note: str | None = None,
    ) -> Statement:
        """The statement that appends one event to the log; its end time is now."""
        finished = utcnow()
        started = started_at or finished
        return (
            self.backend.native_sql(
                f"INSERT INTO {LOG} (run_id, action, version, name, started_at, finished_at, "
                "duration_ms, outcome, error, applied_by, nbmigrate_version, note) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            ),
            (
                run_id,
                action,
                version,
                name,
                self._ts(started),
                self._ts(finished),
                round((finished - started).total_seconds() * 1000, 3),
                outcome,
                mask_password(error) if error else error,
                self.user,
                __version__,
                note,
            ),
        )

    async def history(self, limit: int | None = 50, version: str | None = None) -> list[Event]:
        """Events newest first, optionally for one version."""
        if not await self.backend.has_table(LOG):
            return []
        sql = f"SELECT * FROM {LOG}"
        params: list[Any] = []
        if version is not None:
            sql += " WHERE ltrim(version, '0') = ltrim(?, '0')"  # 001, 0001 and 1 are one migration
            params.append(version)
        sql += " ORDER BY id DESC"
        if limit:
            sql += f" LIMIT {int(limit)}"
        rows = await self.backend.fetch_all(self.backend.native_sql(sql), params)
        return [
            Event(
                id=int(r["id"]),
                run_id=r["run_id"],
                action=r["action"],
                version=r["version"],
                name=r["name"],
                started_at=parse_timestamp(r["started_at"]),
                finished_at=parse_timestamp(r["finished_at"]),
                duration_ms=r["duration_ms"],
                outcome=r["outcome"],
                error=r["error"],
                applied_by=r["applied_by"],
                nbmigrate_version=r["nbmigrate_version"],
                note=r["note"] if "note" in r.keys() else None,
            )
            for r in rows
        ]

    def _ts(self, value: datetime) -> Any:
        return self.backend.timestamp_value(value)
