"""Write migration files: templates for `new`, and sources handed over by a notebook cell."""

from __future__ import annotations

from pathlib import Path

from .. import files
from ..errors import ConfigError
from ..model import NAME_RE, shorten, version_problem

SQL_TEMPLATE = """\
-- {title}
-- up
-- Write the change here, one statement per `;`. It runs in one transaction with its
-- ledger row: all of it is applied, or none of it.


-- down
-- Undo the change here (leave this section empty for an irreversible migration).

"""

PYTHON_TEMPLATE = '''\
"""{title}"""

from nbmigrate import Database


async def up(db: Database) -> None:
    """Apply the change; runs in one transaction with its ledger row."""
    # await db.execute("CREATE TABLE ...")
    raise NotImplementedError("write this migration's up step")  # an empty one is never recorded


async def down(db: Database) -> None:
    """Undo the change (delete this function for an irreversible migration)."""
    # await db.execute("DROP TABLE ...")
    raise NotImplementedError("write this migration's down step")
'''


NAME_MAX = 100  # with `migration_`, the version and `.sql`, a file name stays well under 255 bytes


def check_name(name: str) -> str:
    """A migration name is lowercase letters, digits and _; suggest the fix when it is not."""
    if len(name) > NAME_MAX:
        raise ConfigError(f"migration name {shorten(name)!r} has {len(name)} characters; at most {NAME_MAX}")
    if NAME_RE.match(name):
        return name
    suggestion = "_".join("".join(c if c.isalnum() else " " for c in name.lower()).split())
    hint = f" (try {suggestion!r})" if suggestion and NAME_RE.match(suggestion) else ""
    raise ConfigError(f"migration name {name!r} may use only lowercase letters, digits and _{hint}")


def file_name(version: str, name: str, kind: str) -> str:
    if version_problem(version) is not None:  # the next number after a 20-digit version
        raise ConfigError(f"cannot number a new migration: {version_problem(version)}")
    return f"migration_{version}_{name}.{'sql' if kind == 'sql' else 'py'}"


def template(version: str, name: str, kind: str) -> str:
    title = f"Migration {version}: {name.replace('_', ' ')}"
    return (SQL_TEMPLATE if kind == "sql" else PYTHON_TEMPLATE).format(title=title)


def write_atomically(path: Path, text: str, what: str = "the migration file") -> None:
    """Write through a temporary file and rename, so a reader never sees half a migration."""
    files.write_atomically(path, text, what)
