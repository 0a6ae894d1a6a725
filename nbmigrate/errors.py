"""Every error nbmigrate raises, under one root, each carrying the data that explains it.

    NbMigrateError
    ├── UsageError                   bad arguments: one line, exit code 2 (also a ValueError)
    ├── HelpShown                    (grammar.py) `--help` was asked: its text, not an error
    ├── MisuseError                  nbmigrate called in a way it cannot serve
    │   └── NotConnected             a database used before `await db.connect()`
    ├── ConfigError                  bad URL, directory or setting
    ├── ConnectionFailed             the database could not be reached (URL shown masked)
    ├── SourceError                  one migration file or object is malformed (.path, .problem)
    │   (SqlTextError, sources/sqltext.py: malformed .sql text (.line), also a ValueError)
    ├── InvalidMigrationSet          one or more SourceErrors; nothing runs (.problems)
    ├── UnknownVersion               a VERSION argument names no migration (.version)
    ├── PlanError                    the request cannot be carried out as asked
    │   ├── OutOfOrderError          strict ordering refuses an older pending migration
    │   ├── BlockedByFailure         a failed non-transactional migration must be dealt with
    │   ├── IrreversibleMigration    a down was asked of a migration without one
    │   └── ChangedMigrationError    an applied migration's source may not be rewritten
    ├── ConfirmationRequired         a destructive command was run without its explicit yes
    ├── LockTimeout                  another run holds the migration lock (.holder)
    ├── DatabaseLocked               another connection held a SQLite file's lock past the lock
    │                                timeout (.path, .waited, .at_commit, .step)
    ├── FileSystemFault              a file could not be written: disk full, read-only, permissions
    │                                (.path, .what, .reason); the SQLite backend's own subclass is
    │                                also a sqlite3.OperationalError, so a migration's statement
    │                                that hits one still fails that migration
    ├── BackupError                  no backup possible or none to restore (.database)
    ├── TransactionEndsEarly         ROLLBACK (or the like) inside nbmigrate's transaction (.statement)
    ├── MigrationFailed              a migration raised (.version, .path, .statement, .db_message)
    ├── CellFailure                  (notebook/magics.py) a run-time failure, failing the cell shortly
    └── DashboardBusy, ActionInterrupted (notebook/widgets.py) an action while another runs; a Stop

    Interrupted (a KeyboardInterrupt, not an error: Ctrl-C must still stop whatever runs)
    ├── Interrupt                    raised by nbmigrate into code that blocks the event loop
    ├── Stopped                      (signals.py) the shell's run stopped by SIGINT or SIGTERM
    ├── StillRunning                 (notebook/bridge.py) the work had not unwound in time
    └── MigrationInterrupted         (notebook/magics.py) what an interrupt left, in one line

The faces translate these: exit codes in the CLI, one-line errors in the notebook.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


class NbMigrateError(Exception):
    """Root of every error nbmigrate raises on purpose."""


class UsageError(NbMigrateError, ValueError):
    """Bad arguments, in one line; the shell exits 2, the notebook raises IPython's UsageError."""


class ConfigError(NbMigrateError):
    """A database URL, directory or setting is not usable."""


class ConnectionFailed(NbMigrateError):
    """The database could not be opened; the message shows the URL with its password masked."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"cannot connect to {url}: {reason}")


class SourceError(NbMigrateError):
    """One migration source (file or registered object) is malformed."""

    def __init__(self, path: Path | str, problem: str) -> None:
        self.path = Path(path) if not isinstance(path, Path) else path
        self.problem = " ".join(problem.split())  # one line, whatever an exception's text held
        super().__init__(f"{self.path.name}: {self.problem}")


class InvalidMigrationSet(NbMigrateError):
    """The migrations directory has problems; nothing is run until all are fixed."""

    def __init__(self, problems: list[SourceError]) -> None:
        self.problems = problems
        lines = [str(p) for p in problems]
        if len(lines) == 1:
            message = f"invalid migration: {lines[0]}"
        else:
            message = f"{len(lines)} invalid migrations:\n  " + "\n  ".join(lines)
        super().__init__(message)


class UnknownVersion(NbMigrateError):
    """A version given as an argument matches no known migration."""

    def __init__(self, version: str, where: str = "migrations") -> None:
        self.version = version
        super().__init__(f"no migration with version {version} in {where}")


class PlanError(NbMigrateError):
    """The requested operation cannot be carried out in the current state."""


class OutOfOrderError(PlanError):
    """Strict ordering is on and a pending migration is older than the newest applied one."""

    def __init__(self, versions: list[str], newest_applied: str) -> None:
        self.versions = versions
        self.newest_applied = newest_applied
        super().__init__(
            f"strict ordering: pending {', '.join(versions)} older than applied "
            f"{newest_applied}; renumber the migration or turn strict ordering off"
        )


class BlockedByFailure(PlanError):
    """A non-transactional migration failed earlier; `up` will not continue past it."""

    def __init__(self, version: str, name: str, error: str | None) -> None:
        self.version = version
        self.name = name
        self.error = error
        super().__init__(
            f"migration {version} ({name}) failed earlier and may be partly applied"
            + (f": {error}" if error else "")
            + f". Recover with `down` (revert it), fix the file and run `up` again "
            f"(or `up --retry`), or `mark {version}` after fixing the database by hand"
        )


class IrreversibleMigration(PlanError):
    """`down` was asked of a migration that has no down step."""

    def __init__(self, version: str, name: str) -> None:
        self.version = version
        self.name = name
        super().__init__(f"migration {version} ({name}) has no down step; it cannot be reverted")


class ChangedMigrationError(PlanError):
    """An applied migration's source may not be rewritten; write a new migration instead."""

    def __init__(self, version: str, path: Path) -> None:
        self.version = version
        self.path = path
        super().__init__(
            f"migration {version} is already applied; changing {path.name} would not change "
            f"the database. Write a new migration instead (or use --force)"
        )


class ConfirmationRequired(NbMigrateError):
    """A destructive command needs an explicit confirmation."""


class LockTimeout(NbMigrateError):
    """The migration lock was not acquired in time; the message names who holds it."""

    def __init__(self, target: str, timeout: float, holder: str | None) -> None:
        self.target = target
        self.timeout = timeout
        self.holder = holder
        who = f"held by {holder}" if holder else "held by another process"
        super().__init__(
            f"could not take the migration lock on {target} within {timeout:g}s: {who}. "
            f"Wait for that run to finish, or raise --lock-timeout"
        )


class DatabaseLocked(NbMigrateError):
    """Another connection held a lock on a SQLite file for longer than the lock timeout (SQLITE_BUSY).

    `at_commit`: the lock that blocked was a reader's (only readers can stop a COMMIT once the
    write lock is held). `step`: the migration it stopped, when it stopped one.
    """

    def __init__(self, path: str, waited: float, *, at_commit: bool = False, step: str | None = None) -> None:
        self.path = path
        self.waited = waited
        self.at_commit = at_commit
        self.step = step
        if at_commit:
            what = f"a read transaction open on {path}, so the commit could not finish"
        else:
            what = f"a write lock on {path}"
        super().__init__(
            (f"{step}: " if step else "")
            + f"another connection holds {what}; gave up after waiting {waited:.1f}s. "
            "Close that connection (or end its transaction), or raise --lock-timeout"
        )

    def during(self, step: str) -> DatabaseLocked:
        """The same error, saying which migration it stopped and what became of it."""
        return DatabaseLocked(self.path, self.waited, at_commit=self.at_commit, step=step)


class FileSystemFault(NbMigrateError):
    """A file could not be written: the disk is full, the file system read-only, permission denied.

    `what` says which file it was (the migration lock file, a backup ...); `hint` the way on.
    """

    def __init__(self, path: Path | str, what: str, reason: str, hint: str = "") -> None:
        self.path = str(path)
        self.what = what
        self.reason = reason
        super().__init__(f"cannot write {what} {path}: {reason}" + (f"; {hint}" if hint else ""))


class BackupError(NbMigrateError):
    """A backup cannot be taken, listed or restored (not a SQLite file, none found, unreadable)."""

    def __init__(self, database: str, problem: str) -> None:
        self.database = database
        self.problem = problem
        super().__init__(problem)


class TransactionEndsEarly(NbMigrateError):
    """A statement would end the migration's transaction before its ledger row is written."""

    def __init__(self, statement: str) -> None:
        self.statement = statement
        super().__init__(
            f"{_one_line(statement, 60)!r} would end the migration's transaction early; "
            "nbmigrate owns it (a migration that raises is rolled back whole). Remove it, or "
            "mark the migration non-transactional (-- nbmigrate: transactional=false)"
        )


class Interrupted(KeyboardInterrupt):
    """Root of the interrupts nbmigrate raises: a KeyboardInterrupt, so Ctrl-C still stops anything."""


class Interrupt(Interrupted):
    """Ctrl-C (or SIGTERM, or Stop) raised by nbmigrate into code that blocks the event loop."""


class MisuseError(NbMigrateError):
    """nbmigrate was called in a way it cannot serve: the message says how to call it."""


class NotConnected(MisuseError):
    """A database was used before it was connected."""

    def __init__(self) -> None:
        super().__init__("database is not connected; call `await db.connect()` first")


class MigrationFailed(NbMigrateError):
    """A migration raised while running; nothing of it remains if it was transactional."""

    def __init__(
        self,
        version: str,
        name: str,
        path: Path | None,
        statement: str | None,
        db_message: str,
        direction: str = "up",
        rolled_back: bool = True,
    ) -> None:
        self.version = version
        self.name = name
        self.path = path
        self.statement = statement
        self.db_message = db_message
        self.direction = direction
        self.rolled_back = rolled_back
        self.completed: list[Any] = []  # steps of the same run that finished before it
        where = path.name if path else "registered in code"
        parts = [f"migration {version} ({where}) failed during {direction}: {db_message}"]
        if statement:
            parts.append(f"statement: {_one_line(statement)}")
        if rolled_back:
            parts.append("rolled back; nothing of it was kept")
        else:
            parts.append("not transactional: recorded as failed, the database may be partly changed")
        super().__init__("\n".join(parts))


def _one_line(sql: str, limit: int = 200) -> str:
    text = " ".join(sql.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
