"""nbval runs of these notebooks: a scratch folder per run, a fresh PostgreSQL database for 06 (or a skip).

`pytest --nbval notebooks/ --sanitize-with notebooks/nbval_sanitize.cfg --nbval-current-env`
(tests/test_notebooks.py runs exactly that, one notebook at a time). The kernels inherit this
process's environment: NBMIGRATE_NOTEBOOK_SCRATCH (where the notebooks make their scratch
folders) and, for the PostgreSQL notebook, NBMIGRATE_NOTEBOOK_POSTGRES (a database created here
and dropped afterwards). Without a reachable server that notebook is skipped, or with
NBMIGRATE_REQUIRE_POSTGRES=1 the run fails.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_NOTEBOOKS = frozenset({"06_team_postgres.ipynb"})
ADMIN_URL = os.environ.get("NBMIGRATE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
KEEP = {"NOTEBOOK_SCRATCH", "NOTEBOOK_POSTGRES", "TEST_POSTGRES", "REQUIRE_POSTGRES"}
_cleanup = ExitStack()


def notebook_environment() -> None:
    """Make this process's environment the notebooks' (their kernels inherit it)."""
    for name in [n for n in os.environ if n.startswith("NBMIGRATE_") and n[10:] not in KEEP]:
        del os.environ[name]  # an operator's NBMIGRATE_DATABASE_URL must not leak into the notebooks
    paths = [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    os.environ["PYTHONPATH"] = os.pathsep.join(paths)


@contextmanager
def scratch_root() -> Iterator[Path]:
    """NBMIGRATE_NOTEBOOK_SCRATCH, or a temporary folder removed afterwards."""
    given = os.environ.get("NBMIGRATE_NOTEBOOK_SCRATCH")
    if given:
        yield Path(given)
        return
    folder = tempfile.mkdtemp(prefix="nbmigrate-notebooks-")
    os.environ["NBMIGRATE_NOTEBOOK_SCRATCH"] = folder
    try:
        yield Path(folder)
    finally:
        del os.environ["NBMIGRATE_NOTEBOOK_SCRATCH"]
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def ipython_dir() -> Iterator[None]:
    """A fresh IPYTHONDIR: kernels of parallel runs never share (and lock) one history database."""
    folder = tempfile.mkdtemp(prefix="nbmigrate-ipython-")
    before = os.environ.get("IPYTHONDIR")
    os.environ["IPYTHONDIR"] = folder
    try:
        yield
    finally:
        if before is None:
            del os.environ["IPYTHONDIR"]
        else:
            os.environ["IPYTHONDIR"] = before
        shutil.rmtree(folder, ignore_errors=True)


def postgres_problem() -> str | None:
    """Why no PostgreSQL database can be made for the notebook, or None."""
    parts = urlsplit(ADMIN_URL)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5432), timeout=2):
            pass
        import asyncpg  # noqa: F401
    except OSError as exc:
        return f"PostgreSQL not reachable at {parts.hostname}:{parts.port}: {exc}"
    except ImportError:
        return "asyncpg is not installed (pip install -e '.[postgres]')"
    return None


@contextmanager
def postgres_database(name: str | None = None) -> Iterator[str]:
    """NBMIGRATE_NOTEBOOK_POSTGRES, or a new empty database (`name` must not exist) dropped afterwards."""
    given = os.environ.get("NBMIGRATE_NOTEBOOK_POSTGRES")
    if given:
        yield given
        return
    import asyncpg

    name = name or f"nbmigrate_nb_{os.getpid()}_{uuid.uuid4().hex[:8]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(ADMIN_URL)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    url = urlunsplit(urlsplit(ADMIN_URL)._replace(path=f"/{name}"))
    os.environ["NBMIGRATE_NOTEBOOK_POSTGRES"] = url
    try:
        yield url
    finally:
        del os.environ["NBMIGRATE_NOTEBOOK_POSTGRES"]
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def pytest_configure(config: pytest.Config) -> None:
    if not (getattr(config.option, "nbval", False) or getattr(config.option, "nbval_lax", False)):
        return
    notebook_environment()
    _cleanup.enter_context(scratch_root())
    _cleanup.enter_context(ipython_dir())


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    needs_postgres = [i for i in items if i.path.name in POSTGRES_NOTEBOOKS]
    if not needs_postgres or os.environ.get("NBMIGRATE_NOTEBOOK_POSTGRES"):
        return
    problem = postgres_problem()
    if problem is None:
        _cleanup.enter_context(postgres_database())
    elif os.environ.get("NBMIGRATE_REQUIRE_POSTGRES") == "1":
        raise pytest.UsageError(f"NBMIGRATE_REQUIRE_POSTGRES=1 but {problem}")
    else:
        for item in needs_postgres:
            item.add_marker(pytest.mark.skip(reason=problem))


def pytest_unconfigure(config: pytest.Config) -> None:
    _cleanup.close()
