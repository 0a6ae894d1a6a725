"""The shell's `status` and no-op `up` on a SQLite file, answered without an event loop.

Every application start and CI job runs `up`, which is usually a no-op; importing asyncio
and aiosqlite and starting a loop cost more than the work. Both answers read the ledger
through `ledger_tables.read_file` (the ledger's own row reading, over stdlib sqlite3) and
decide with `plan`, exactly as the engine does. Whenever the answer is not certain (no
file yet, a ledger to adopt or upgrade, a busy or damaged file, an unfinished
non-transactional step, anything to apply) they return None and the engine runs the
command as usual, under the lock. Nothing here writes or creates a file.
"""

from __future__ import annotations

from ..config import Settings
from ..model import version_key
from ..reports import (
    RunReport,
    StatusReport,
)
from ..sources.discover import discover, migration_file_names
from . import plan
from .ledger_tables import UNFINISHED, read_file


def status(settings: Settings) -> StatusReport | None:
    """What `status` reports, or None to let the engine answer."""
    path = settings.url.path
    ledger = read_file(path) if path is not None else None
    if ledger is None or any(r.status in UNFINISHED for r in ledger):
        return None  # an unfinished row: running now or dead? the engine asks the lock
    migrations = plan.statuses(discover(settings.directory), ledger)
    return StatusReport(settings.url.masked, str(settings.directory), migrations)


def nothing_to_apply(settings: Settings, target: str | None) -> RunReport | None:
    """The report of an `up` that has nothing to do, or None when the engine must run it.

    Every migration file (up to `target`) recorded as applied and no failed row: then
    `plan.to_apply` has nothing to choose. Only versions are compared, so a no-op stays
    cheap on thousands of migrations.
    """
    path = settings.url.path
    ledger = read_file(path) if path is not None else None
    if ledger is None or any(plan.failed(r) for r in ledger):
        return None
    applied = {version_key(r.version) for r in ledger}
    available = {version_key(f.version) for f in migration_file_names(settings.directory)}
    if not available and not settings.directory.exists():
        return None
    if target is not None:
        limit = version_key(target)
        if limit not in applied | available:
            return None
        available = {key for key in available if key <= limit}
    if not available.issubset(applied):
        return None
    return RunReport("up", settings.url.masked, message=plan.UP_TO_DATE)
