"""Floor runner: floor_sqlite3.py's minimum on aiosqlite under asyncio.run, as nbmigrate works."""

# Usage: python floor_aiosqlite.py DB_FILE MIGRATIONS_DIR up|status|down-all
#
# The ratios in bench/run.py are computed against this runner: same files, same ledger, one
# transaction per migration, but through aiosqlite's thread and asyncio, like nbmigrate.

from __future__ import annotations

import asyncio
import sys

import aiosqlite
from floor_sqlite3 import LEDGER, now, read_migrations

USAGE = "usage: floor_aiosqlite.py DB_FILE MIGRATIONS_DIR up|status|down-all"


async def main(db: str, directory: str, mode: str) -> int:
    """Run one command; return the exit code."""
    migrations = read_migrations(directory)
    async with aiosqlite.connect(db, isolation_level=None) as conn:
        await conn.execute(LEDGER)
        async with conn.execute("SELECT version FROM _migrations") as cursor:
            applied = {row[0] async for row in cursor}
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
            await conn.execute("BEGIN")
            try:
                if mode == "up":
                    for statement in up:
                        await conn.execute(statement)
                    await conn.execute("INSERT INTO _migrations VALUES (?, ?, ?)", (version, name, now()))
                else:
                    for statement in down:
                        await conn.execute(statement)
                    await conn.execute("DELETE FROM _migrations WHERE version = ?", (version,))
                await conn.execute("COMMIT")
            except BaseException:
                await conn.execute("ROLLBACK")
                raise
        print(f"{mode}: {len(todo)} migration(s)")
        return 0


if __name__ == "__main__":
    if len(sys.argv) != 4:
        raise SystemExit(USAGE)
    sys.exit(asyncio.run(main(*sys.argv[1:])))
