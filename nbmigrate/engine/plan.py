"""Pure decisions, no I/O: each migration's state, what `up` applies, what `down` reverts.

Everything here is computed from the available migrations and the ledger's rows.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import BlockedByFailure, OutOfOrderError, PlanError, UnknownVersion
from ..model import AppliedRecord, Migration, MigrationStatus, State, version_key

UP_TO_DATE = "nothing to apply: the database is up to date"

# Ledger statuses of a non-transactional step written before its first statement (ledger.py).
_UNFINISHED = {
    "running": "its run stopped before it finished (killed?); it may be partly applied",
    "reverting": "its run stopped while reverting it (killed?); it may be partly reverted",
}


def failed(record: AppliedRecord) -> bool:
    """A failed row, or an unfinished one when no run is executing it (read under the lock)."""
    return record.status == "failed" or record.status in _UNFINISHED


def failure_text(record: AppliedRecord) -> str | None:
    """Why a row counts as failed: its recorded error, or what an unfinished row means."""
    return _UNFINISHED.get(record.status) or record.error


@dataclass(frozen=True)
class Reversal:
    """One step of `down`: the ledger row and the migration that can undo it."""

    record: AppliedRecord
    migration: Migration


def index_by_version(migrations: list[Migration]) -> dict[int, Migration]:
    return {version_key(m.version): m for m in migrations}


def statuses(
    available: list[Migration], ledger: list[AppliedRecord], *, live: bool = False
) -> list[MigrationStatus]:
    """Every migration known from a file or from the ledger, in version order, with its state.

    `live`: another run holds the migration lock, so an unfinished row is running now;
    otherwise its run is gone and the row counts as failed.
    """
    by_version = index_by_version(available)
    recorded = {version_key(r.version): r for r in ledger}
    newest = max(recorded, default=None)
    rows = []
    for key in sorted(set(by_version) | set(recorded)):
        m = by_version.get(key)
        r = recorded.get(key)
        if r is None:
            assert m is not None
            state = State.OUT_OF_ORDER if newest is not None and key < newest else State.PENDING
            rows.append(MigrationStatus(m.version, m.name, state, path=m.path))
            continue
        error = r.error
        if r.status in _UNFINISHED and live:
            state = State.RUNNING
        elif failed(r):
            state, error = State.FAILED, failure_text(r)
        elif m is None:
            state = State.MISSING
        elif r.checksum and m.checksum and r.checksum != m.checksum:
            state = State.CHANGED
        else:
            state = State.APPLIED_OUT_OF_ORDER if r.out_of_order else State.APPLIED
        rows.append(
            MigrationStatus(
                version=m.version if m else r.version,
                name=m.name if m else r.name,
                state=state,
                applied_at=r.applied_at,
                execution_ms=r.execution_ms,
                description=r.description,
                path=m.path if m else None,
                error=error,
                statement=r.statement,
            )
        )
    return rows


def to_apply(
    available: list[Migration],
    ledger: list[AppliedRecord],
    target: str | None = None,
    *,
    strict: bool = False,
    retry: bool = False,
) -> list[Migration]:
    """The migrations `up` runs, in version order.

    A failed non-transactional migration blocks the run until its file changes (it was
    fixed), `retry` is asked, or it is reverted or marked.
    """
    by_version = index_by_version(available)
    recorded = {version_key(r.version): r for r in ledger}
    limit = None
    if target is not None:
        limit = version_key(target)
        if limit not in by_version and limit not in recorded:
            raise UnknownVersion(target)
    chosen = []
    for key, record in sorted(recorded.items()):
        if not failed(record):
            continue
        m = by_version.get(key)
        fixed = m is not None and bool(record.checksum) and m.checksum != record.checksum
        if m is None or not (fixed or retry):
            raise BlockedByFailure(record.version, record.name, failure_text(record))
        if limit is None or key <= limit:
            chosen.append(m)
    newest = newest_applied(ledger)
    pending = [
        m for key, m in sorted(by_version.items()) if key not in recorded and (limit is None or key <= limit)
    ]
    if strict and newest is not None:
        late = [m.version for m in pending if version_key(m.version) < newest]
        if late:
            raise OutOfOrderError(late, recorded[newest].version)
    return sorted(chosen + pending, key=lambda m: version_key(m.version))


def newest_applied(ledger: list[AppliedRecord]) -> int | None:
    """The highest version applied (failed rows aside): a pending migration below it is out of order."""
    return max((version_key(r.version) for r in ledger if not failed(r)), default=None)


def record_of(ledger: list[AppliedRecord], version: str) -> AppliedRecord | None:
    """The ledger row of `version`, compared as a number (`1`, `001`, `0001` are one migration)."""
    key = version_key(version)
    return next((r for r in ledger if version_key(r.version) == key), None)


def duplicate_rows(ledger: list[AppliedRecord]) -> list[str]:
    """Problems: two ledger rows for one version number (`001` and `0001`, written by hand or an old bug)."""
    seen: dict[int, str] = {}
    problems = []
    for r in ledger:
        key = version_key(r.version)
        if key in seen:
            problems.append(
                f"ledger: versions {seen[key]} and {r.version} are the same migration, recorded twice; "
                f"`unmark {r.version}` removes one"
            )
        else:
            seen[key] = r.version
    return problems


def to_revert(
    available: list[Migration],
    ledger: list[AppliedRecord],
    *,
    to: str | None = None,
    steps: int | None = None,
    everything: bool = False,
) -> list[Reversal]:
    """The migrations `down` reverts, newest version first.

    Default: the last one. `to`: every one above that version (it is kept). `steps`: that
    many. `everything`: all of them.
    """
    by_version = index_by_version(available)
    applied = sorted(ledger, key=lambda r: version_key(r.version), reverse=True)
    if to is not None:
        floor = version_key(to)
        if floor != 0 and floor not in by_version and all(version_key(r.version) != floor for r in ledger):
            raise UnknownVersion(to)
        chosen = [r for r in applied if version_key(r.version) > floor]
    elif everything:
        chosen = applied
    else:
        count = 1 if steps is None else steps
        if count < 1:
            raise PlanError(f"--steps must be at least 1, got {count}")
        chosen = applied[:count]
    reversals = []
    for record in chosen:
        m = by_version.get(version_key(record.version))
        if m is None:
            raise PlanError(
                f"migration {record.version} ({record.name}) is applied but its file is gone, "
                f"so it cannot be reverted: restore the file, or `unmark {record.version}` to forget it"
            )
        reversals.append(Reversal(record, m))
    return reversals


def next_version(available: list[Migration], ledger: list[AppliedRecord]) -> str:
    """The version a new migration gets: one past the highest known, at least 3 digits."""
    keys = [version_key(m.version) for m in available] + [version_key(r.version) for r in ledger]
    width = max([3] + [len(m.version) for m in available])
    return str(max(keys, default=0) + 1).zfill(width)
