"""Backups as commands: the one taken before a change, `backups` and `restore`; the backend keeps them."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING

from .. import config
from ..errors import BackupError, DatabaseLocked, FileSystemFault
from ..reports import (
    BackupInfo,
    BackupReport,
)
from .core import ManagerCore
from .ledger import utcnow

if TYPE_CHECKING:
    from ..backends.sqlite_backup import FileBackups

logger = logging.getLogger("nbmigrate")


class BackupCommands(ManagerCore):
    """backups, restore, and the backup before up/down/redo/reset."""

    async def list_backups(self) -> BackupReport:
        """The backups of this database file, newest first."""
        store = self._backups()
        return BackupReport(self.db.display_url, store.folder, store.newest_first(), usage=store.usage())

    async def restore(self, which: str | None = None, *, backup: bool = True) -> BackupReport:
        """Put a backup back (default: the newest), under the lock; the current state is saved
        first unless `backup` is False (a full disk has no room for that copy)."""
        store = self._backups()
        async with self._run("restore", ensure_ledger=False) as run:
            chosen = store.find(which)
            started = utcnow()
            saved = await store.take("restore", None, self.lock_timeout) if backup else None
            await store.restore(chosen.path, self.lock_timeout)
            await self._log_restore(run.id, chosen, started)
            protect = {chosen.path} | ({saved.path} if saved else set())
            store.prune(self._backup_settings()[1], protect=protect)
        found = store.newest_first()
        return BackupReport(self.db.display_url, store.folder, found, chosen, saved, store.usage())

    def _backups(self) -> FileBackups:
        store = self.db.backend.backups()
        if store is None:
            raise BackupError(self.db.display_url, self.db.backend.without_backups())
        return store

    async def _log_restore(self, run_id: str, chosen: BackupInfo, started: datetime) -> None:
        """The restore is done whatever happens here: a full disk only costs its log row."""
        try:
            async with self.db.transaction():
                await self.ledger.ensure()
                await self.ledger.write(
                    self.ledger.event(run_id, "restore", "ok", name=chosen.path.name, started_at=started)
                )
        except (FileSystemFault, DatabaseLocked) as exc:
            logger.warning("restored, but the event log could not record it: %s", exc)

    async def _backup_before(self, command: str, wanted: bool) -> BackupInfo | None:
        """Back up the database before a command changes it, where its backend keeps backups."""
        store = self.db.backend.backups()
        enabled, keep = self._backup_settings()
        if store is None or not wanted or not enabled:
            return None
        info = await store.take(command, keep, self.lock_timeout)
        logger.info("backed up %s to %s", store.file.name, info.path)
        return info

    def _backup_settings(self) -> tuple[bool, int]:
        return config.backup_settings(self.backups, self.backup_keep)
