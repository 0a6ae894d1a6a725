"""`migration_XXX_name.sql`: `-- up` and `-- down` sections, directives, statements split."""

from __future__ import annotations

from ..errors import SourceError, TransactionEndsEarly
from ..model import Connection
from .file_migration import FileMigration
from .sqlfile import SqlTextError, parse_sql_migration
from .sqltext import ENDS_EARLY, is_transaction_control, split_statements, transaction_control


class SqlFileMigration(FileMigration):
    """`migration_XXX_name.sql` with `-- up` and `-- down` sections."""

    kind = "sql"

    def _load(self) -> None:
        try:
            text = self.read().decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise SourceError(self.path, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
        try:
            parsed = parse_sql_migration(text)
        except SqlTextError as exc:
            raise SourceError(self.path, str(exc)) from None
        self.up_statements = split_statements(parsed.up)
        self.down_statements = split_statements(parsed.down) if parsed.down is not None else None
        self.transactional = parsed.transactional
        self.lock_timeout = parsed.lock_timeout
        self.statement_timeout = parsed.statement_timeout
        self.allowed = parsed.allowed
        self.description = _sql_description(text) or self.name.replace("_", " ")
        if self.transactional:
            self._refuse_early_end(self.up_statements, "up")
            self._refuse_early_end(self.down_statements or [], "down")

    def _refuse_early_end(self, statements: list[str], section: str) -> None:
        """ROLLBACK and the like would end the migration's transaction: refused before anything runs."""
        for statement in statements:
            if transaction_control(statement) == ENDS_EARLY:
                raise SourceError(self.path, f"{section} section: {TransactionEndsEarly(statement)}")

    @property
    def reversible(self) -> bool:
        self.load()
        return self.down_statements is not None

    async def up(self, db: Connection) -> None:
        self.load()
        await self._run(db, self.up_statements)

    async def down(self, db: Connection) -> None:
        self.load()
        await self._run(db, self.down_statements or [])

    async def _run(self, db: Connection, statements: list[str]) -> None:
        for statement in statements:
            if self.transactional and is_transaction_control(statement):
                continue  # a habit from hand-run scripts; nbmigrate owns the transaction
            await db.execute(statement)


def _sql_description(text: str) -> str:
    """The first comment line before `-- up`, if any: a SQL file's description."""
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if not line.startswith("--"):
            break
        body = line.lstrip("-").strip()
        lowered = body.lower().replace(" ", "")
        if lowered in ("up", "migrate:up") or lowered.startswith("nbmigrate:"):
            break
        if body:
            return body
    return ""
