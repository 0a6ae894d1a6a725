"""Pure decisions, no I/O: each migration's state, what `up` applies, what `down` reverts.

Everything here is computed from the available migrations and the ledger's rows.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import BlockedByFailure, OutOfOrderError, PlanError, UnknownVersion
from .model import AppliedRecord, Migration, MigrationStatus, State, version_key

UP_TO_DATE = "nothing to apply: the database is up to date"


@dataclass(frozen=True)
class Reversal:
    """One step of `down`: the ledger row and the migration that can undo it."""

    record: AppliedRecord
    migration: Migration


def index_by_version(migrations: list[Migration]) -> dict[int, Migration]:
    return {version_key(m.version): m for m in migrations}


def statuses(available: list[Migration], ledger: list[AppliedRecord]) -> list[MigrationStatus]:
    """Every migration known from a file or from the ledger, in version order, with its state."""
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
        if r.status == "failed":
            state = State.FAILED
        elif m is None:
            state = State.MISSING
        elif r.checksum and m.checksum and r.checksum != m.checksum:
            state = State.CHANGED
        else:
            state = State.APPLIED
        rows.append(
            MigrationStatus(
                version=m.version if m else r.version,
                name=m.name if m else r.name,
                state=state,
                applied_at=r.applied_at,
                execution_ms=r.execution_ms,
                description=r.description,
                path=m.path if m else None,
                error=r.error,
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
        if record.status != "failed":
            continue
        m = by_version.get(key)
        fixed = m is not None and bool(record.checksum) and m.checksum != record.checksum
        if m is None or not (fixed or retry):
            raise BlockedByFailure(record.version, record.name, record.error)
        if limit is None or key <= limit:
            chosen.append(m)
    applied_keys = [k for k, r in recorded.items() if r.status != "failed"]
    newest = max(applied_keys, default=None)
    pending = [
        m for key, m in sorted(by_version.items()) if key not in recorded and (limit is None or key <= limit)
    ]
    if strict and newest is not None:
        late = [m.version for m in pending if version_key(m.version) < newest]
        if late:
            raise OutOfOrderError(late, recorded[newest].version)
    return sorted(chosen + pending, key=lambda m: version_key(m.version))


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
