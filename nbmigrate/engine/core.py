"""What every command of the manager stands on: its settings, its migrations, and `_run`.

`_run` connects, holds the migration lock for the whole command, makes sure the ledger
exists, and keeps the command's report, so a failure or an interrupt at any moment (even
after the last step, while the lock is released) carries the steps that did finish.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from .. import config
from ..errors import ConfigError, InvalidMigrationSet, MigrationFailed, UnknownVersion
from ..model import (
    Interruption,
    Migration,
    normalize_version,
    version_key,
)
from ..reports import RunReport
from ..sources.discover import check_registered, discover, duplicate_problems
from .database import Database
from .ledger import Ledger
from .runner import INTERRUPTS, ProgressCallback, StepRunner


@dataclass
class Command:
    """One command under the lock: its run id (in every event it logs) and its report."""

    report: RunReport
    id: str = field(default_factory=lambda: os.urandom(6).hex())

    @property
    def steps(self) -> list:  # type: ignore[type-arg]
        return self.report.steps


class ManagerCore:
    """The migrations of one directory (and those registered in code) over one database."""

    def __init__(
        self,
        db: Database,
        directory: str | Path | None = "migrations",
        *,
        strict: bool = False,
        lock_timeout: float = config.DEFAULT_LOCK_TIMEOUT,
        on_progress: ProgressCallback | None = None,
        backups: bool | None = None,
        backup_keep: int | None = None,
    ) -> None:
        self.db = db
        self.directory = Path(directory) if directory is not None else None
        self.strict = strict
        self.lock_timeout = lock_timeout
        # SQLite files are backed up before up/down/redo/reset; None: from the settings.
        self.backups = backups
        self.backup_keep = backup_keep
        self.ledger = Ledger(db.backend)
        self.runner = StepRunner(db, self.ledger, on_progress)
        self._registered: list[Migration] = []

    @property
    def on_progress(self) -> ProgressCallback | None:
        """Called before ("start") and after ("done") each step of a run."""
        return self.runner.on_progress

    @on_progress.setter
    def on_progress(self, callback: ProgressCallback | None) -> None:
        self.runner.on_progress = callback

    @property
    def in_flight(self) -> Migration | None:
        """The migration whose step is running now, if any."""
        return self.runner.in_flight

    @property
    def interruption(self) -> Interruption | None:
        """What the last interrupted command left behind (as the database shows it); None if none was."""
        return self.runner.interruption

    def __repr__(self) -> str:
        return f"<MigrationManager {self.db.display_url} dir={self.directory}>"

    # -- sources ----------------------------------------------------------------------

    def register_migration(self, migration: Migration) -> None:
        """Add a migration defined in code; files are discovered without this."""
        self._registered.append(check_registered(migration))

    def migrations(self) -> list[Migration]:
        """Every known migration in version order; raise if any name or version is bad."""
        found = discover(self.directory) if self.directory is not None else []
        if self._registered:
            every = found + self._registered
            problems = duplicate_problems(every)
            if problems:
                raise InvalidMigrationSet(problems)
            found = sorted(every, key=lambda m: version_key(m.version))
        return found

    def find(self, version: str) -> Migration:
        key = version_key(normalize_version(version))
        for m in self.migrations():
            if version_key(m.version) == key:
                return m
        raise UnknownVersion(version, str(self.directory or "registered migrations"))

    def _check_directory(self, available: list[Migration]) -> None:
        """A missing directory is a typo or a wrong working directory, not "nothing to do"."""
        if not available and self.directory is not None and not self.directory.exists():
            raise ConfigError(f"migrations directory {self.directory} does not exist")

    # -- one command under the lock ---------------------------------------------------

    @asynccontextmanager
    async def _run(self, command: str, *, ensure_ledger: bool = True) -> AsyncIterator[Command]:
        """Connect, hold the lock for the whole command, make sure the ledger exists."""
        self.runner.interruption = None
        run = Command(RunReport(command, self.db.display_url))
        try:
            await self.db.connect()
            await self.db.backend.set_busy_timeout(self.lock_timeout)  # a foreign write lock too
            async with self.db.backend.lock(self.lock_timeout, f"nbmigrate {command}"):
                if (store := self.db.backend.backups()) is not None:
                    store.remove_partials()  # what a run killed mid-backup left
                if ensure_ledger:
                    async with self.db.transaction():
                        await self.ledger.ensure()
                yield run
        except MigrationFailed as exc:
            exc.completed = list(run.steps)
            raise
        except INTERRUPTS:
            # Outside a step (waiting, backing up, between steps, releasing the lock) no runner
            # decided anything: nothing was half done, and what did finish is the report's.
            if self.runner.interruption is None:
                self.runner.interruption = Interruption()
            self.runner.interruption.completed[:] = run.steps
            raise
