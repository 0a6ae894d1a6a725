"""The `_migrations` ledger and the append-only `_migrations_log`, over any backend.

Ledger statements go to the backend directly, not through `Database.execute`, so they
never show in a dry run's list of statements; they share the migration's transaction.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from . import __version__
from .backends.base import Backend, Statement, current_user
from .config import mask_password
from .model import AppliedRecord, Event, Migration

LEDGER = "_migrations"
LOG = "_migrations_log"
CHECKPOINTS = "_migrations_batches"  # resume points of batched data migrations (batches.py)
LEDGER_TABLES = (LEDGER, LOG, CHECKPOINTS)
READ_LEDGER = f"SELECT * FROM {LEDGER}"

# Columns added to a seed-era `_migrations (version, name, applied_at)` table in place.
ADDED_COLUMNS = {
    "description": "TEXT",
    "checksum": "TEXT",
    "applied_at": "{ts}",
    "execution_ms": "{real}",
    "applied_by": "TEXT",
    "status": "TEXT NOT NULL DEFAULT 'applied'",
    "error": "TEXT",
    "statement": "TEXT",
    "out_of_order": "INTEGER NOT NULL DEFAULT 0",
}
# Columns added to an `_migrations_log` written by an older nbmigrate.
ADDED_LOG_COLUMNS = {"note": "TEXT"}

# A ledger row's status: applied, failed, or (non-transactional steps only, committed before
# their first statement) running / reverting, which a SIGKILL leaves behind as evidence.
RUNNING = "running"
REVERTING = "reverting"
UNFINISHED = (RUNNING, REVERTING)

_TYPES = {
    "sqlite": {"ts": "TEXT", "real": "REAL", "serial": "INTEGER PRIMARY KEY AUTOINCREMENT"},
    "postgresql": {"ts": "TIMESTAMPTZ", "real": "DOUBLE PRECISION", "serial": "BIGSERIAL PRIMARY KEY"},
}

_APPEND_ONLY = {
    "sqlite": [
        f"CREATE TRIGGER IF NOT EXISTS {LOG}_no_update BEFORE UPDATE ON {LOG} "
        f"BEGIN SELECT RAISE(ABORT, '{LOG} is append-only'); END",
        f"CREATE TRIGGER IF NOT EXISTS {LOG}_no_delete BEFORE DELETE ON {LOG} "
        f"BEGIN SELECT RAISE(ABORT, '{LOG} is append-only'); END",
    ],
    "postgresql": [
        f"CREATE OR REPLACE FUNCTION {LOG}_append_only() RETURNS trigger LANGUAGE plpgsql "
        f"AS $$ BEGIN RAISE EXCEPTION '{LOG} is append-only'; END $$",
        f"CREATE TRIGGER {LOG}_no_update BEFORE UPDATE ON {LOG} "
        f"FOR EACH ROW EXECUTE FUNCTION {LOG}_append_only()",
        f"CREATE TRIGGER {LOG}_no_delete BEFORE DELETE ON {LOG} "
        f"FOR EACH ROW EXECUTE FUNCTION {LOG}_append_only()",
        f"CREATE TRIGGER {LOG}_no_truncate BEFORE TRUNCATE ON {LOG} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {LOG}_append_only()",
    ],
}


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Ledger:
    """Reads and writes nbmigrate's two tables through one backend."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.types = _TYPES[backend.dialect]
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
            if b.dialect == "postgresql" and have.get("applied_at") not in (None, "TIMESTAMP WITH TIME ZONE"):
                # A seed-era TIMESTAMP (or TEXT) column of UTC times: make it aware, rows kept.
                await b.execute(
                    f"ALTER TABLE {LEDGER} ALTER COLUMN applied_at TYPE {t['ts']} "
                    "USING NULLIF(applied_at::text, '')::timestamp AT TIME ZONE 'UTC'"
                )
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
                f"CREATE TABLE {LOG} (id {t['serial']}, run_id TEXT NOT NULL, "
                "action TEXT NOT NULL, version TEXT, name TEXT, "
                f"started_at {t['ts']}, finished_at {t['ts']}, duration_ms {t['real']}, "
                "outcome TEXT NOT NULL, error TEXT, applied_by TEXT, nbmigrate_version TEXT, note TEXT)"
            )
            for statement in _APPEND_ONLY[b.dialect]:
                await b.execute(statement)
        else:
            have = {c.name for c in (await b.describe(LOG)).columns}
            for column, ddl in ADDED_LOG_COLUMNS.items():
                if column not in have:
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
                started_at=_parse_ts(r["started_at"]),
                finished_at=_parse_ts(r["finished_at"]),
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
        if self.backend.dialect == "sqlite":
            return value.strftime("%Y-%m-%d %H:%M:%S.%f")  # the shape of CURRENT_TIMESTAMP
        return value


_PLAIN_COLUMNS = ("description", "checksum", "execution_ms", "applied_by", "error", "statement")


def records_from_rows(rows: list[Any]) -> list[AppliedRecord]:
    """`_migrations` rows (mappings with keys(); seed-era tables lack columns) as records."""
    if not rows:
        return []
    keys = set(rows[0].keys())
    optional = [k for k in _PLAIN_COLUMNS if k in keys]
    has_ts, has_status = "applied_at" in keys, "status" in keys
    has_order = "out_of_order" in keys
    return [
        AppliedRecord(
            version=str(row["version"]),
            name=str(row["name"] or ""),
            applied_at=_parse_ts(row["applied_at"]) if has_ts else None,
            status=(row["status"] if has_status else None) or "applied",
            out_of_order=bool(row["out_of_order"]) if has_order else False,
            **{k: row[k] for k in optional},
        )
        for row in rows
    ]


def _parse_ts(value: Any) -> datetime | None:
    """Timestamps from either backend or from a seed-era ledger, as aware UTC datetimes."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment
