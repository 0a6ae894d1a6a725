"""Generate the same N migrations in each benchmarked tool's native format (stdlib only)."""

from __future__ import annotations

import shutil
from pathlib import Path

# Bump when the generated files change, so stale sets under bench/.work/ are rebuilt.
FORMAT = "2"

# These share one set of .sql files.
SQL_TOOLS = ("nbmigrate", "nbmigrate-engine", "floor-sqlite3", "floor-aiosqlite")


def width(n: int) -> int:
    """Digits of a zero-padded version: at least 3, and enough for n (4 for 1000-9999)."""
    return max(3, len(str(n)))


def up_statements(i: int) -> list[str]:
    """What migration i does: one table and one index."""
    return [
        f"CREATE TABLE t_{i} (id INTEGER PRIMARY KEY, name TEXT, created_at TEXT)",
        f"CREATE INDEX ix_t_{i}_name ON t_{i}(name)",
    ]


def down_statements(i: int) -> list[str]:
    """What reverting migration i does."""
    return [f"DROP INDEX ix_t_{i}_name", f"DROP TABLE t_{i}"]


def _sql(statements: list[str]) -> str:
    return "".join(f"{s};\n" for s in statements)


def _write_sql(d: Path, n: int) -> None:
    w = width(n)
    for i in range(1, n + 1):
        text = f"-- up\n{_sql(up_statements(i))}-- down\n{_sql(down_statements(i))}"
        (d / f"migration_{i:0{w}d}_create_t_{i}.sql").write_text(text)


ALEMBIC_INI = """\
[alembic]
script_location = {location}

[loggers]
keys = root,sqlalchemy,alembic

[handlers]
keys = console

[formatters]
keys = generic

[logger_root]
level = WARNING
handlers = console
qualname =

[logger_sqlalchemy]
level = WARNING
handlers =
qualname = sqlalchemy.engine

[logger_alembic]
level = INFO
handlers =
qualname = alembic

[handler_console]
class = StreamHandler
args = (sys.stderr,)
level = NOTSET
formatter = generic

[formatter_generic]
format = %(levelname)-5.5s [%(name)s] %(message)s
datefmt = %H:%M:%S
"""

# The generic template's online mode, with the URL taken from `-x url=...` and one
# transaction per migration (as nbmigrate and the floors do).
ALEMBIC_ENV = '''\
"""Alembic environment for the benchmark: URL from -x url=..., one transaction per migration."""

from logging.config import fileConfig

from alembic import context
from sqlalchemy import create_engine, pool

if context.config.config_file_name is not None:
    fileConfig(context.config.config_file_name)

url = context.get_x_argument(as_dictionary=True)["url"]
engine = create_engine(url, poolclass=pool.NullPool)
with engine.connect() as connection:
    context.configure(
        connection=connection, target_metadata=None, transaction_per_migration=True
    )
    with context.begin_transaction():
        context.run_migrations()
'''

ALEMBIC_REVISION = '''\
"""create t_{i}"""

from alembic import op

revision = "{rev}"
down_revision = {down}
branch_labels = None
depends_on = None


def upgrade():
{up}


def downgrade():
{down_ops}
'''


def _ops(statements: list[str]) -> str:
    return "\n".join(f'    op.execute("{s}")' for s in statements)


def _write_alembic(d: Path, n: int) -> None:
    w = width(n)
    versions = d / "versions"
    versions.mkdir()
    (d / "alembic.ini").write_text(ALEMBIC_INI.format(location=d))
    (d / "env.py").write_text(ALEMBIC_ENV)
    for i in range(1, n + 1):
        rev = f"r{i:0{w}d}"
        down = f'"r{i - 1:0{w}d}"' if i > 1 else "None"
        text = ALEMBIC_REVISION.format(
            i=i,
            rev=rev,
            down=down,
            up=_ops(up_statements(i)),
            down_ops=_ops(down_statements(i)),
        )
        (versions / f"{rev}_create_t_{i}.py").write_text(text)


def _write_yoyo(d: Path, n: int) -> None:
    w = width(n)
    for i in range(1, n + 1):
        stem = f"{i:0{w}d}.create_t_{i}"
        (d / f"{stem}.sql").write_text(_sql(up_statements(i)))
        (d / f"{stem}.rollback.sql").write_text(_sql(down_statements(i)))


WRITERS = {"sql": _write_sql, "alembic": _write_alembic, "yoyo": _write_yoyo}


def kind_of(tool: str) -> str:
    """Which generated set a tool reads."""
    return "sql" if tool in SQL_TOOLS else tool


def ensure_set(root: Path, kind: str, n: int) -> Path:
    """Return the directory holding N migrations of `kind`, generating it once."""
    d = root / f"n{n}" / kind
    stamp = root / f"n{n}" / f"{kind}.complete"  # outside d: tools may reject stray files
    if stamp.exists() and stamp.read_text() == FORMAT:
        return d
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    WRITERS[kind](d, n)
    stamp.write_text(FORMAT)
    return d
