"""One migration step, run and reported truthfully: its transaction, its ledger row, how it ended.

Every way a step can end is decided here, once, for every face:
- it finishes: its ledger row and log event commit with its work;
- the migration raises, an exception or any other BaseException (SystemExit, GeneratorExit,
  a KeyboardInterrupt it raises itself): the step fails, rolled back, recorded;
- its transaction fails (BEGIN, the ledger rows, COMMIT): the step fails, naming it;
- an interrupt arrives (the task is cancelled, or `Interrupt` is raised into code that blocks
  the event loop): the report says what the database shows.

The COMMIT and the ROLLBACK are awaited to their end even when an interrupt comes meanwhile
(`Database.transaction`), so "rolled back" is never said of a step whose COMMIT went
through. A non-transactional step commits a ledger row saying `running` (or `reverting`)
before its first statement: a SIGKILL leaves that evidence, which `status` shows as failed;
a failure or an interrupt turns it into `failed`, and "recorded as failed" is said only
once that write has committed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from ..backends.base import Statement
from ..errors import DatabaseLocked, Interrupt, MigrationFailed, NbMigrateError
from ..model import AppliedRecord, Interruption, Migration, Progress, StepResult
from .database import Database
from .flight import Flight, order_note, raised_text, stopped_by_lock
from .ledger import Ledger, utcnow
from .ledger_tables import CHECKPOINTS, REVERTING, RUNNING
from .settle import settle, through_cancellation

logger = logging.getLogger("nbmigrate")

ProgressCallback = Callable[[Progress], None]
# What stops a step as an interrupt rather than a failure, when raised outside migration code.
INTERRUPTS = (asyncio.CancelledError, KeyboardInterrupt)


class _StepFailed(NbMigrateError):
    """The migration's own code raised; carried out of its transaction so it is recorded after rollback."""

    def __init__(self, original: BaseException, statement: str | None, message: str) -> None:
        super().__init__(message)
        self.original = original
        self.statement = statement
        self.message = message


class StepRunner:
    """Runs migration steps on one database and knows, after any ending, what really happened."""

    def __init__(self, db: Database, ledger: Ledger, on_progress: ProgressCallback | None = None) -> None:
        self.db = db
        self.ledger = ledger
        self.on_progress = on_progress
        self.flight: Flight | None = None
        self.interruption: Interruption | None = None  # set when an interrupt ended a step

    @property
    def in_flight(self) -> Migration | None:
        return self.flight.migration if self.flight is not None else None

    # -- one step -----------------------------------------------------------------------

    async def apply(
        self,
        m: Migration,
        run_id: str,
        index: int,
        total: int,
        *,
        replaces: AppliedRecord | None = None,
        out_of_order: bool = False,
    ) -> StepResult:
        """Run `m.up` with its ledger row; `replaces` is a failed or unfinished row of it."""
        previous = replaces.version if replaces is not None else None
        async with self._step(m, "up", run_id, index, total) as flight:
            flight.out_of_order = out_of_order
            if m.transactional:
                async with self.db.transaction():
                    await self._call(m, "up")
                    self.db.before_commit(*self._applied_rows(flight, previous))
            else:
                await self._leave_evidence(flight, RUNNING, previous)
                await self._call(m, "up")
                await self._finish_unfinished(flight, self._applied_rows(flight, flight.evidence))
        return StepResult(m.version, m.name, "up", "applied", duration_ms=flight.ms, note=order_note(flight))

    async def revert(
        self, m: Migration, record: AppliedRecord, run_id: str, index: int, total: int
    ) -> StepResult:
        """Run `m.down` and remove its ledger row (`record`, as stored)."""
        async with self._step(m, "down", run_id, index, total) as flight:
            if m.transactional:
                async with self.db.transaction():
                    await self._call(m, "down")
                    self.db.before_commit(*self._reverted_rows(flight, record.version))
            else:
                await self._leave_evidence(flight, REVERTING, record.version)
                await self._call(m, "down")
                await self._finish_unfinished(flight, self._reverted_rows(flight, flight.evidence))
        return StepResult(m.version, m.name, "down", "reverted", duration_ms=flight.ms)

    async def apply_atomically(
        self,
        todo: list[Migration],
        run_id: str,
        steps: list[StepResult],
        out_of_order: Callable[[Migration], bool],
    ) -> None:
        """Every migration of `todo` in one transaction: all of them or none; `steps` gets each."""
        if not todo:
            return
        done: list[StepResult] = []
        async with self._step(todo[0], "up", run_id, 0, len(todo), atomic=True) as flight:
            async with self.db.transaction():
                for i, m in enumerate(todo):
                    if i:
                        self._progress("start", m, "up", i, len(todo))
                    flight.migration, flight.t0, flight.started = m, time.perf_counter(), utcnow()
                    flight.out_of_order = out_of_order(m)
                    await self._call(m, "up")
                    self.db.before_commit(*self._applied_rows(flight, None))
                    done.append(StepResult(m.version, m.name, "up", "applied", duration_ms=flight.ms))
                    if i < len(todo) - 1:
                        self._progress("done", m, "up", i, len(todo))
        steps.extend(done)

    async def rehearse(self, items: list[tuple[Migration, str]], steps: list[StepResult]) -> None:
        """Run the steps in the open transaction (a dry run, rolled back by the caller), tracing their SQL."""
        db = self.db
        for i, (m, direction) in enumerate(items):
            if not m.transactional:
                note = "not transactional: cannot be rehearsed in a transaction"
                steps.append(StepResult(m.version, m.name, direction, "skipped", note=note))
                continue
            self._progress("start", m, direction, i, len(items))
            flight = self.flight = Flight(m, direction, "", utcnow())
            db.trace = []
            try:
                await self._call(m, direction)
            except _StepFailed as failure:
                raise MigrationFailed(
                    m.version, m.name, m.path, failure.statement, failure.message, direction
                ) from failure.original
            except INTERRUPTS:
                self.interruption = Interruption(m.version, m.name, direction, "rolled back")
                raise
            finally:
                statements, db.trace = db.trace, None
                self.flight = None
            steps.append(StepResult(m.version, m.name, direction, "dry-run", flight.ms, statements))
            self._progress("done", m, direction, i, len(items))

    # -- around every step --------------------------------------------------------------

    @asynccontextmanager
    async def _step(
        self, m: Migration, direction: str, run_id: str, index: int, total: int, *, atomic: bool = False
    ) -> AsyncIterator[Flight]:
        """Track the step in flight; on any ending but success, decide and record what happened."""
        flight = self.flight = Flight(m, direction, run_id, utcnow())
        self.db.last_outcome = None
        self.db.step_version = m.version
        self._progress("start", m, direction, index, total)
        try:
            yield flight
        except INTERRUPTS:
            # A second interrupt must not cut short the record of what the first one left.
            self.interruption, _ = await through_cancellation(self._interrupted(flight, atomic))
            raise
        except DatabaseLocked as exc:  # not logged: that write would wait for the same lock
            raise exc.during(stopped_by_lock(flight, atomic)) from exc
        except _StepFailed as failure:
            raise await self._failed(flight, failure.message, failure.statement, atomic) from failure.original
        except self.db.backend.error_types as exc:
            # Not one of its statements but the transaction around them: BEGIN, the ledger rows
            # or COMMIT (a lock held past the busy timeout, a full disk). Name the migration.
            message = f"its transaction failed (begin, ledger or commit): {exc}"
            raise await self._failed(flight, message, None, atomic) from exc
        except BaseException as exc:  # nbmigrate's own refusals (a write lock, ...): logged, passed on
            await self._log_quietly(flight, "failed", f"{type(exc).__name__}: {exc}")
            raise
        finally:
            self.flight = None
            self.db.step_version = None
        self._progress("done", m, direction, index, total)

    async def _call(self, m: Migration, direction: str) -> None:
        """Run the migration's own code; whatever it raises, short of an interrupt, fails the step."""
        db = self.db
        db.last_statement = None
        try:
            await (m.up(db) if direction == "up" else m.down(db))
        except (asyncio.CancelledError, Interrupt):
            raise
        except BaseException as exc:  # SystemExit, GeneratorExit, its own KeyboardInterrupt ...
            is_db_error = isinstance(exc, db.backend.error_types)
            statement = db.last_statement if is_db_error else None
            message = str(exc) if is_db_error else raised_text(exc)
            raise _StepFailed(exc, statement, message) from exc

    async def _interrupted(self, flight: Flight, atomic: bool) -> Interruption:
        """What the interrupt left of the step in flight, from what was committed."""
        m = flight.migration
        if m.transactional or atomic:
            committed = self.db.last_outcome == "committed"
            outcome = flight.done_outcome if committed else "rolled back"
            if not committed:
                await self._log_quietly(flight, "interrupted", "interrupted")
        elif flight.finished:
            outcome = flight.done_outcome
        elif flight.evidence is None:
            outcome = "not started"  # interrupted before its first statement
        else:
            recorded = await self._record_failure(flight, "interrupted", self.db.last_statement)
            outcome = "recorded as failed" if recorded else "left unfinished"
        return Interruption(m.version, m.name, flight.direction, outcome)

    async def _failed(
        self, flight: Flight, message: str, statement: str | None, atomic: bool
    ) -> MigrationFailed:
        """Record a failed step (never hiding it behind a second failure); the error to raise.

        An interrupt that arrives meanwhile is raised once the record is written, and said
        truly: the step was rolled back, or recorded as failed.
        """
        m = flight.migration
        transactional = m.transactional or atomic

        async def record() -> bool:
            if transactional:
                await self._log_quietly(flight, "failed", message)
                return False
            return await self._record_failure(flight, message, statement)

        recorded, cancelled = await through_cancellation(record())
        if cancelled is not None:
            kept = "recorded as failed" if recorded else "left unfinished"
            outcome = "rolled back" if transactional else kept
            self.interruption = Interruption(m.version, m.name, flight.direction, outcome)
            raise cancelled
        return MigrationFailed(
            m.version, m.name, m.path, statement, message, flight.direction, rolled_back=transactional
        )

    # -- ledger writes ------------------------------------------------------------------

    def _applied_rows(self, flight: Flight, replaces: str | None) -> list[Statement]:
        m = flight.migration
        note = order_note(flight)
        return [
            *self.ledger.record_statements(
                m, execution_ms=flight.ms, replaces=replaces, out_of_order=flight.out_of_order
            ),
            self.ledger.event(
                flight.run_id,
                "apply",
                "ok",
                version=m.version,
                name=m.name,
                started_at=flight.started,
                note=note,
            ),
        ]

    def _reverted_rows(self, flight: Flight, stored_version: str | None) -> list[Statement]:
        m = flight.migration
        rows = [self.ledger.removal(stored_version)] if stored_version is not None else []
        rows.append(
            self.ledger.event(
                flight.run_id, "revert", "ok", version=m.version, name=m.name, started_at=flight.started
            )
        )
        return rows

    async def _leave_evidence(self, flight: Flight, status: str, replaces: str | None) -> None:
        """Before a non-transactional step's first statement: a committed row saying it runs."""
        m = flight.migration
        rows = self.ledger.record_statements(
            m, execution_ms=None, status=status, replaces=replaces, out_of_order=flight.out_of_order
        )
        await self._write(rows)
        flight.evidence = m.version

    async def _finish_unfinished(self, flight: Flight, rows: list[Statement]) -> None:
        """A non-transactional step's final ledger write, with its batches' checkpoints cleared."""
        if await self.db.backend.has_table(CHECKPOINTS):
            rows = [*rows, self.ledger.checkpoints_removal(flight.migration.version)]
        await self._write(rows)
        flight.finished = True

    async def _record_failure(self, flight: Flight, message: str, statement: str | None) -> bool:
        """A non-transactional step failed or was interrupted: its row says failed. True once committed."""
        m = flight.migration
        rows = [
            self.ledger.event(
                flight.run_id,
                flight.action,
                "interrupted" if message == "interrupted" else "failed",
                version=m.version,
                name=m.name,
                started_at=flight.started,
                error=message,
            )
        ]
        if flight.evidence is not None:
            error = message if flight.direction == "up" else f"down failed: {message}"
            rows[:0] = self.ledger.record_statements(
                m,
                execution_ms=None,
                status="failed",
                error=error,
                statement=statement,
                replaces=flight.evidence,
                out_of_order=flight.out_of_order,
            )
        try:
            await self._write(rows)
        except Exception as exc:  # the trouble that failed the step may stop the record too
            logger.debug("could not record the failure: %s", exc)
            return False
        return flight.evidence is not None

    async def _log_quietly(self, flight: Flight, outcome: str, error: str) -> None:
        m = flight.migration
        event = self.ledger.event(
            flight.run_id,
            flight.action,
            outcome,
            version=m.version,
            name=m.name,
            started_at=flight.started,
            error=error,
        )
        try:
            await settle(self.ledger.write(event))
        except Exception as exc:  # never hide the original problem behind a logging one
            logger.debug("could not log %s: %s", outcome, exc)

    async def _write(self, rows: list[Statement]) -> None:
        """Ledger rows in one transaction of their own, awaited to the end whatever interrupts."""

        async def write() -> None:
            async with self.db.transaction():
                await self.ledger.write(*rows)

        await settle(write())

    # -- progress -----------------------------------------------------------------------

    def _progress(self, phase: str, m: Migration, direction: str, index: int, total: int) -> None:
        if self.on_progress is not None:
            self.on_progress(Progress(phase, direction, m.version, m.name, index, total))
