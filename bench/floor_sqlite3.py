"""Floor runner: the least a correct migration tool must do, with the stdlib sqlite3 module."""

# Usage: python floor_sqlite3.py DB_FILE MIGRATIONS_DIR up|status|down-all
#
# Reads every migration_<version>_<name>.sql in the directory (the sections after the `-- up`
# and `-- down` marker lines, statements split on `;`), keeps a `_migrations` ledger, and runs
# each pending migration (or each revert) with its ledger change in one transaction.

from __future__ import annotations

import os
import re
import sqlite3
import sys
from datetime import datetime, timezone

FILE_RE = re.compile(r"migration_(\d+)_([a-z0-9_]+)\.sql")
MARKER_RE = re.compile(r"^--[ \t]*(up|down)[ \t]*$", re.MULTILINE | re.IGNORECASE)
USAGE = "usage: floor_sqlite3.py DB_FILE MIGRATIONS_DIR up|status|down-all"
LEDGER = "CREATE TABLE IF NOT EXISTS _migrations (version TEXT PRIMARY KEY, name TEXT, applied_at TEXT)"


def _statements(sql: str) -> list[str]:
    return [s.strip() for s in sql.split(";") if s.strip()]


def read_migrations(directory: str) -> list[tuple[str, str, list[str], list[str]]]:
    """(version, name, up statements, down statements) for each file, in version order."""
    found = []
    for filename in os.listdir(directory):
        m = FILE_RE.fullmatch(filename)
        if not m:
            continue
        with open(os.path.join(directory, filename), encoding="utf-8") as f:
            parts = MARKER_RE.split(f.read())  # [before, "up", sql, "down", sql]
        sections = {key.lower(): sql for key, sql in zip(parts[1::2], parts[2::2], strict=True)}
        if "up" not in sections:
            raise SystemExit(f"{filename}: no `-- up` section")
        up, down = _statements(sections["up"]), _statements(sections.get("down", ""))
        found.append((int(m[1]), m[1], m[2], up, down))
    found.sort()
    return [f[1:] for f in found]


def now() -> str:
    """Timestamp stored in the ledger."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def main(db: str, directory: str, mode: str) -> int:
    """Run one command; return the exit code."""
    migrations = read_migrations(directory)
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute(LEDGER)
        applied = {row[0] for row in conn.execute("SELECT version FROM _migrations")}
        if mode == "status":
            for version, name, _, _ in migrations:
                state = "applied" if version in applied else "pending"
                print(f"{version} {name} {state}")
            return 0
        if mode == "up":
            todo = [m for m in migrations if m[0] not in applied]
        elif mode == "down-all":
            todo = [m for m in reversed(migrations) if m[0] in applied]
        else:
            raise SystemExit(f"unknown mode {mode!r}")
        for version, name, up, down in todo:
            conn.execute("BEGIN")
            try:
                if mode == "up":
                    for statement in up:
                        conn.execute(statement)
                    conn.execute("INSERT INTO _migrations VALUES (?, ?, ?)", (version, name, now()))
                else:
                    for statement in down:
                        conn.execute(statement)
                    conn.execute("DELETE FROM _migrations WHERE version = ?", (version,))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        print(f"{mode}: {len(todo)} migration(s)")
        return 0
    finally:
        conn.close()


if __name__ == "__main__":
    if len(sys.argv) != 4:
        raise SystemExit(USAGE)
    sys.exit(main(*sys.argv[1:]))
