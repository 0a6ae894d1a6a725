"""nbmigrate's own tables: their names and columns, and their rows read as records.

Both readers of the ledger use this: the engine's `Ledger` (over any backend, under the
lock) and `read_file`, which answers from a SQLite file with the stdlib `sqlite3` module and
no event loop, for the shell's `status` and no-op `up` (readonly.py).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..model import AppliedRecord

LEDGER = "_migrations"
LOG = "_migrations_log"
CHECKPOINTS = "_migrations_batches"  # resume points of batched data migrations (batches.py)
LEDGER_TABLES = (LEDGER, LOG, CHECKPOINTS)
READ_LEDGER = f"SELECT * FROM {LEDGER}"

# Columns added to a seed-era `_migrations (version, name, applied_at)` table in place;
# `{ts}` and `{real}` are the backend's timestamp and floating-point types.
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
APPLIED = "applied"
RUNNING = "running"
REVERTING = "reverting"
UNFINISHED = (RUNNING, REVERTING)

_PLAIN_COLUMNS = ("description", "checksum", "execution_ms", "applied_by", "error", "statement")
_BUSY_SECONDS = 1.0  # a writer holding the file: let the engine do the waiting


def records_from_rows(rows: Sequence[Mapping[str, Any]]) -> list[AppliedRecord]:
    """`_migrations` rows (mappings; seed-era tables lack columns) as records."""
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
            applied_at=parse_timestamp(row["applied_at"]) if has_ts else None,
            status=(row["status"] if has_status else None) or APPLIED,
            out_of_order=bool(row["out_of_order"]) if has_order else False,
            **{k: row[k] for k in optional},
        )
        for row in rows
    ]


def parse_timestamp(value: Any) -> datetime | None:
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


def read_file(path: Path) -> list[AppliedRecord] | None:
    """The ledger of the SQLite file at `path`, read in one transaction with stdlib sqlite3.

    None whenever the engine must answer instead: no file (nothing is created here), a busy
    or damaged file, a ledger still to adopt or to upgrade (a missing table or column).
    An empty list: a database nbmigrate never touched.
    """
    if not path.is_file():
        return None
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=_BUSY_SECONDS)
    except sqlite3.Error:
        return None
    conn.row_factory = sqlite3.Row
    try:
        conn.execute("BEGIN")  # one consistent snapshot for the checks and the rows
        tables = {
            row[0]
            for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN (?, ?)", (LEDGER, LOG)
            )
        }
        if LEDGER not in tables:
            return [] if LOG not in tables else None
        columns = {row[1] for row in conn.execute(f"PRAGMA table_info({LEDGER})")}
        log_columns = {row[1] for row in conn.execute(f"PRAGMA table_info({LOG})")}
        if not columns.issuperset(ADDED_COLUMNS) or not log_columns.issuperset(ADDED_LOG_COLUMNS):
            return None
        return records_from_rows(conn.execute(READ_LEDGER).fetchall())
    except sqlite3.Error:
        return None
    finally:
        conn.close()
