"""The dashboard in a real Jupyter kernel (nbclient): built by `%migrate dashboard`, driven from cells."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

from tests.conftest import ROOT, child_env, sql_migration

pytestmark = pytest.mark.timeout(120)

# Waits without blocking the kernel's event loop, so only the live path can finish the run:
# the bridge thread posts the outcome and the kernel's loop applies it to the widgets.
AWAIT_IDLE = """
import asyncio
for _ in range(400):
    if not dash.busy:
        break
    await asyncio.sleep(0.025)
"""


def cells(url: str, directory: Path) -> list[str]:
    return [
        # 0: warnings and errors the dashboard logs (failed widget updates) are collected
        "import logging\n"
        "problems = []\n"
        "class Collect(logging.Handler):\n"
        "    def emit(self, record):\n"
        "        problems.append(record.getMessage())\n"
        "logging.getLogger('nbmigrate').addHandler(Collect(logging.WARNING))\n"
        "%load_ext nbmigrate",
        # 1
        f"%migrate connect {url} --dir {directory}",
        # 2: the cell's value is the dashboard: the widget, and a stable text
        "dash = %migrate dashboard\ndash",
        # 3: a click from code returns at once, every button disabled while it runs
        "dash.rows['001'].apply_button.click()\nprint('busy', dash.busy, all(b.disabled for b in dash.buttons))",
        # 4
        AWAIT_IDLE + "print('idle', dash.busy, dash)\nprint(dash.rows['001'].state_label.value)",
        # 5
        "dash.apply_all()\ndash.wait()\nprint(dash)\nprint(dash.progress.value, dash.progress.max)",
        # 6: a change made with %migrate in another cell shows up on Refresh
        "%migrate down",
        # 7
        "dash.refresh_button.click()\n" + AWAIT_IDLE + "print(dash)",
        # 8: revert asks first
        "question = dash.revert('002')\nprint(question.message)\nprint(dash)",
        # 9
        "question.confirm()\ndash.wait()\nprint(dash)",
        # 10: built from a manager in code, not yet connected: it is opened on the bridge loop
        "from nbmigrate import MigrationManager\n"
        "from nbmigrate.engine.database import Database\n"
        "from nbmigrate.notebook.widgets import Dashboard\n"
        f"other = Dashboard(MigrationManager(Database({url!r}), {str(directory)!r}))\n"
        "other.apply('002'); other.wait(); print(other)",
        # 11
        "print('problems', problems)",
    ]


def run_cells(tmp_path: Path, url: str, directory: Path) -> list[Any]:
    nb = new_notebook(cells=[new_code_cell(c) for c in cells(url, directory)])
    env = child_env()
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["IPYTHONDIR"] = str(tmp_path / ".ipython")
    client = NotebookClient(
        nb, kernel_name="python3", timeout=60, resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute(env=env)
    return [cell.outputs for cell in nb.cells]


def text(outputs: Any) -> str:
    parts = []
    for o in outputs:
        parts.append(o.get("text", ""))
        parts.append(o.get("data", {}).get("text/plain", ""))
    return "".join(parts).strip()


def test_dashboard_in_a_real_kernel(tmp_path: Path, migrations_dir: Path) -> None:
    for version, name in [("001", "alpha"), ("002", "beta"), ("003", "gamma")]:
        sql_migration(
            migrations_dir, version, name, f"CREATE TABLE {name} (id INTEGER);", f"DROP TABLE {name};"
        )
    db = tmp_path / "app.db"
    out = run_cells(tmp_path, f"sqlite:///{db}", migrations_dir)

    shown = out[2][0]
    assert shown["data"]["text/plain"] == "Dashboard: sqlite:///…/app.db — 3 migrations: 3 pending"
    assert "application/vnd.jupyter.widget-view+json" in shown["data"]
    assert text(out[3]) == "busy True True"
    idle, state_html = text(out[4]).splitlines()
    assert idle == "idle False Dashboard: sqlite:///…/app.db — 3 migrations: 1 applied, 2 pending"
    assert "✔ applied" in state_html
    assert text(out[5]).splitlines() == ["Dashboard: sqlite:///…/app.db — 3 migrations: 3 applied", "2 2"]
    assert "reverted 003 gamma" in text(out[6])
    assert text(out[7]) == "Dashboard: sqlite:///…/app.db — 3 migrations: 2 applied, 1 pending"
    assert text(out[8]).splitlines() == [
        "Revert 002 beta? This runs its down step.",
        "Dashboard: sqlite:///…/app.db — 3 migrations: 2 applied, 1 pending",
    ]
    assert text(out[9]) == "Dashboard: sqlite:///…/app.db — 3 migrations: 1 applied, 2 pending"
    assert text(out[10]) == "Dashboard: sqlite:///…/app.db — 3 migrations: 2 applied, 1 pending"
    assert text(out[11]) == "problems []"

    with sqlite3.connect(db) as conn:
        applied = [r[0] for r in conn.execute("SELECT version FROM _migrations ORDER BY version")]
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        log = list(conn.execute("SELECT action, version, outcome FROM _migrations_log ORDER BY id"))
    assert applied == ["001", "002"]
    assert {"alpha", "beta"} <= names and "gamma" not in names
    assert ("revert", "002", "ok") in log
