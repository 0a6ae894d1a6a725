"""The magics in real Jupyter kernels (nbclient), whose event loop is already running."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from nbformat import NotebookNode
from nbformat.v4 import new_code_cell, new_notebook

from tests.conftest import ROOT, child_env

pytestmark = pytest.mark.timeout(180)

SQL_001 = (
    "-- Contacts\n-- up\n"
    "CREATE TABLE contacts (id INTEGER PRIMARY KEY, note TEXT DEFAULT '{name} $name');\n"
    "-- down\nDROP TABLE contacts;\n"
)
PY_002 = '''"""Add an email column."""


async def up(db):
    await db.execute("ALTER TABLE contacts ADD COLUMN email TEXT")


async def down(db):
    await db.execute("ALTER TABLE contacts DROP COLUMN email")
'''
LONG_003 = """import asyncio
import pathlib


async def up(db):
    await db.execute("CREATE TABLE big (n INTEGER)")
    pathlib.Path("started").touch()
    for i in range(10_000_000):
        await db.execute("INSERT INTO big VALUES (?)", (i,))
        if i % 100 == 0:
            await asyncio.sleep(0)


async def down(db):
    await db.execute("DROP TABLE big")
"""


def notebook(*sources: str) -> NotebookNode:
    return new_notebook(cells=[new_code_cell(s) for s in sources])


def kernel_env(tmp_path: Path) -> dict[str, str]:
    """This checkout, a private IPython dir, and the database and migrations in tmp_path."""
    env = child_env()
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["IPYTHONDIR"] = str(tmp_path / ".ipython")
    env["NBMIGRATE_DATABASE_URL"] = f"sqlite:///{tmp_path / 'kernel.db'}"
    env["NBMIGRATE_MIGRATIONS"] = str(tmp_path / "migrations")
    return env


def client_for(nb: NotebookNode, tmp_path: Path) -> NotebookClient:
    return NotebookClient(
        nb, kernel_name="python3", timeout=90, resources={"metadata": {"path": str(tmp_path)}}
    )


def run_notebook(nb: NotebookNode, tmp_path: Path) -> NotebookNode:
    client_for(nb, tmp_path).execute(env=kernel_env(tmp_path))
    return nb


def text_of(cell: NotebookNode) -> str:
    """Everything a cell showed as text: streams and text/plain results."""
    parts = []
    for out in cell.outputs:
        if out.output_type == "stream":
            parts.append(out.text)
        elif out.output_type in ("execute_result", "display_data"):
            parts.append(out.data.get("text/plain", ""))
        elif out.output_type == "error":
            parts.append("\n".join(out.traceback))
    return "\n".join(parts)


def html_of(cell: NotebookNode) -> str:
    return "\n".join(
        out.data.get("text/html", "") for out in cell.outputs if out.output_type == "execute_result"
    )


def tables(db: Path) -> set[str]:
    with sqlite3.connect(db) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def ledger(db: Path) -> dict[str, str]:
    with sqlite3.connect(db) as conn:
        return dict(conn.execute("SELECT version, status FROM _migrations").fetchall())


def test_round_trip_and_rerunning_cells(tmp_path: Path) -> None:
    """(a) load, connect, two %%migration cells, up, status, down; (e) re-run and edit a cell."""
    db, migrations = tmp_path / "round.db", tmp_path / "mig"
    edited_002 = PY_002.replace("email TEXT", "email TEXT DEFAULT ''")
    nb = notebook(
        "import sys; print(sys.executable)",
        "%load_ext nbmigrate",
        f"%migrate connect sqlite:///{db} --dir {migrations}",
        f"%%migration 001 create_contacts\n{SQL_001}",
        f"%%migration 002 add_email\n{PY_002}",
        "%migrate up",
        "%migrate status",
        "%migrate down",
        "%migrate status --json",
        f"%%migration 001 create_contacts\n{SQL_001}",
        f"%%migration 002 add_email\n{edited_002}",
        "%migrate history",
    )
    run_notebook(nb, tmp_path)
    cells = nb.cells
    assert text_of(cells[0]).strip() == sys.executable  # this venv's interpreter runs the kernel
    assert f"connected to sqlite:///{db}" in text_of(cells[2])
    assert "wrote migration_001_create_contacts.sql" in text_of(cells[3])
    assert (migrations / "migration_001_create_contacts.sql").read_text() == SQL_001  # {name}, $name kept
    assert "wrote migration_002_add_email.py" in text_of(cells[4])

    up = text_of(cells[5])
    assert "applied 001 create_contacts" in up and "applied 002 add_email" in up
    assert "<table>" in html_of(cells[5])
    bar = [o for o in cells[5].outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert bar or "migration" in "".join(
        o.get("text", "") for o in cells[5].outputs if o.output_type == "stream"
    )

    status = text_of(cells[6])
    assert "2 migrations: 2 applied" in status
    assert "✔ applied" in html_of(cells[6]) and "#1a7f37" in html_of(cells[6])
    assert "reverted 002 add_email" in text_of(cells[7])
    data = eval(cells[8].outputs[0].data["text/plain"])  # the dict --json returns
    assert [m["state"] for m in data["migrations"]] == ["applied", "pending"]

    assert "unchanged: nothing written" in text_of(cells[9])
    assert "rewrote migration_002_add_email.py (not applied yet)" in text_of(cells[10])
    assert (migrations / "migration_002_add_email.py").read_text() == edited_002
    assert "revert" in text_of(cells[11]) and "apply" in text_of(cells[11])
    assert ledger(db) == {"001": "applied"}


def test_top_level_await_and_own_manager_beside_the_magics(tmp_path: Path) -> None:
    """(b) one cell awaits the user's own manager and calls %migrate; loops stay apart."""
    nb = notebook(
        "%load_ext nbmigrate",
        f"%%migration 001 create_contacts\n{SQL_001}",
        f"%%migration 002 add_email\n{PY_002}",
        "import asyncio, json, os, nbmigrate\n"
        "from nbmigrate.notebook import bridge\n"
        "db = await nbmigrate.connect(os.environ['NBMIGRATE_DATABASE_URL'])\n"
        "manager = nbmigrate.MigrationManager(db, os.environ['NBMIGRATE_MIGRATIONS'])\n"
        "own = await manager.up('001')\n"
        "seen = %migrate status --json\n"
        "await asyncio.sleep(0)\n"
        "by_magic = %migrate up --json\n"
        "final = await manager.status()\n"
        "print(json.dumps({'own': [s.version for s in own.steps],\n"
        "    'seen': [m['state'] for m in seen['migrations']],\n"
        "    'by_magic': [s['version'] for s in by_magic['steps']],\n"
        "    'final': [m.state.value for m in final.migrations],\n"
        "    'loops_differ': asyncio.get_running_loop() is not bridge.get_loop()}))",
        "%migrate down --all",
        "await manager.up()\nprint([r['applied'] for r in await nbmigrate.get_migration_status(db)])\n"
        "await db.disconnect()",
    )
    run_notebook(nb, tmp_path)
    result = json.loads(text_of(nb.cells[3]))
    assert result == {
        "own": ["001"],
        "seen": ["applied", "pending"],
        "by_magic": ["002"],
        "final": ["applied", "applied"],
        "loops_differ": True,
    }
    assert "reverted 002 add_email" in text_of(nb.cells[4]) and "reverted 001" in text_of(nb.cells[4])
    assert text_of(nb.cells[5]).strip() == "[True, True]"
    assert ledger(tmp_path / "kernel.db") == {"001": "applied", "002": "applied"}


def test_failing_migration_stops_run_all_with_a_short_error(tmp_path: Path) -> None:
    """(c) the cell errors (Run All stops), the error is a few lines, nothing of it remains."""
    broken = "-- up\nCREATE TABLE half (id INTEGER);\nINSERT INTO no_such_table VALUES (1);\n-- down\nDROP TABLE half;"
    nb = notebook(
        "%load_ext nbmigrate",
        f"%%migration 001 create_contacts\n{SQL_001}",
        f"%%migration 002 broken --apply\n{broken}",
        "print('not reached')",
    )
    with pytest.raises(CellExecutionError):
        run_notebook(nb, tmp_path)
    errors = [o for o in nb.cells[2].outputs if o.output_type == "error"]
    assert len(errors) == 1
    trace = errors[0].traceback
    assert 1 <= len(trace) <= 4, trace
    assert trace[0].startswith("MigrationFailed: migration 002 (migration_002_broken.sql) failed during up")
    assert any("statement: INSERT INTO no_such_table" in line for line in trace)
    assert not nb.cells[3].outputs  # Run All stopped
    db = tmp_path / "kernel.db"
    assert "half" not in tables(db)
    assert ledger(db) == {"001": "applied"}


def test_kernel_interrupt_rolls_back_and_the_kernel_stays_usable(tmp_path: Path) -> None:
    """(d) interrupt a long migration: no partial table, ledger without it, lock free, kernel usable."""
    nb = notebook(
        "%load_ext nbmigrate",
        f"%%migration 001 create_contacts\n{SQL_001}",
        f"%%migration 003 long_running\n{LONG_003}",
        "%migrate up",
        "%migrate status",
        "print(1 + 1)",
    )
    db = tmp_path / "kernel.db"
    outcome: dict[str, Any] = {}

    async def scenario() -> None:
        client = client_for(nb, tmp_path)
        async with client.async_setup_kernel(env=kernel_env(tmp_path)):
            for i in range(3):
                await client.async_execute_cell(nb.cells[i], i)
            running = asyncio.ensure_future(client.async_execute_cell(nb.cells[3], 3))
            deadline = time.monotonic() + 60
            while not (tmp_path / "started").exists():
                assert time.monotonic() < deadline and not running.done(), "the migration never started"
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.3)  # well inside the loop of inserts
            outcome["interrupted_at"] = time.monotonic()
            await client.km.interrupt_kernel()
            try:
                await running
            except CellExecutionError as exc:
                outcome["error"] = exc
            outcome["returned_after"] = time.monotonic() - outcome["interrupted_at"]
            outcome["lock_free"] = _lock_is_free(db)
            for i in (4, 5):
                await client.async_execute_cell(nb.cells[i], i)

    asyncio.run(scenario())
    assert isinstance(outcome.get("error"), CellExecutionError)
    assert outcome["returned_after"] < 20
    errors = [o for o in nb.cells[3].outputs if o.output_type == "error"]
    assert len(errors) == 1 and errors[0].ename == "MigrationInterrupted"  # a KeyboardInterrupt
    assert errors[0].traceback == [
        "KeyboardInterrupt: applied 001 create_contacts first; then migration 003 (long_running) "
        "was rolled back; the lock is released"
    ]
    assert outcome["lock_free"]
    assert "big" not in tables(db)
    assert ledger(db) == {"001": "applied"}
    status = text_of(nb.cells[4])
    assert "003      long_running     pending" in status and "1 applied, 1 pending" in status
    assert text_of(nb.cells[5]).strip() == "2"


BLOCKING_003 = """import pathlib
import time


async def up(db):
    await db.execute('CREATE TABLE big (n INTEGER)')
    pathlib.Path('started').touch()
    deadline = time.monotonic() + 30
    if 'MODE' == 'sleep':
        time.sleep(4)  # blocks the bridge loop; a thread's sleep is not cut short
    while time.monotonic() < deadline:  # CPU-bound: blocks the loop until interrupted
        pass


async def down(db):
    await db.execute('DROP TABLE big')
"""


@pytest.mark.parametrize("mode", ["cpu", "sleep"])
def test_kernel_interrupt_reaches_a_migration_that_blocks_the_loop(tmp_path: Path, mode: str) -> None:
    """One interrupt stops a migration that never awaits: rolled back, said so, the kernel usable."""
    nb = notebook(
        "%load_ext nbmigrate",
        f"%%migration 001 create_contacts\n{SQL_001}",
        f"%%migration 003 blocking\n{BLOCKING_003.replace('MODE', mode)}",
        "%migrate up",
        "print(1 + 1)",
    )
    db = tmp_path / "kernel.db"
    outcome: dict[str, Any] = {}

    async def scenario() -> None:
        client = client_for(nb, tmp_path)
        async with client.async_setup_kernel(env=kernel_env(tmp_path)):
            for i in range(3):
                await client.async_execute_cell(nb.cells[i], i)
            running = asyncio.ensure_future(client.async_execute_cell(nb.cells[3], 3))
            deadline = time.monotonic() + 60
            while not (tmp_path / "started").exists():
                assert time.monotonic() < deadline and not running.done(), "the migration never started"
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.3)
            t0 = time.monotonic()
            await client.km.interrupt_kernel()
            with contextlib.suppress(CellExecutionError):
                await running
            outcome["returned_after"] = time.monotonic() - t0
            await client.async_execute_cell(nb.cells[4], 4)

    asyncio.run(scenario())
    assert outcome["returned_after"] < 15
    errors = [o for o in nb.cells[3].outputs if o.output_type == "error"]
    assert len(errors) == 1 and errors[0].ename == "MigrationInterrupted", nb.cells[3].outputs
    assert errors[0].traceback == [
        "KeyboardInterrupt: applied 001 create_contacts first; then migration 003 (blocking) "
        "was rolled back; the lock is released"
    ]
    assert "big" not in tables(db)
    assert ledger(db) == {"001": "applied"}
    assert _lock_is_free(db)
    assert text_of(nb.cells[4]).strip() == "2"


def _lock_is_free(db: Path) -> bool:
    fd = os.open(str(db) + ".nbmigrate-lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
