"""`nbmigrate runbook`: a notebook run headless against a database, with parameters and an executed copy."""

from __future__ import annotations

import asyncio
import re
import shutil
import sqlite3
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from nbmigrate import commands, runbook
from nbmigrate.engine.database import Database
from nbmigrate.engine.manager import MigrationManager
from nbmigrate.errors import ConfigError, UsageError
from tests.conftest import ROOT, run_cli

pytestmark = pytest.mark.timeout(180)

RECOVERY = ROOT / "notebooks" / "04_recovery_runbook.ipynb"
COPY_NAME = re.compile(r"^04_recovery_runbook\.\d{4}-\d{2}-\d{2}T\d{6}Z\.ipynb$")


def copy_of_recovery(folder: Path, edit: Any = None) -> Path:
    """The recovery runbook, copied (so executed copies land in `folder`), optionally edited."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / RECOVERY.name
    shutil.copy(RECOVERY, target)
    if edit is not None:
        nb = nbformat.read(target, as_version=4)
        edit(nb)
        nbformat.write(nb, target)
    return target


def run_runbook(tmp_path: Path, *args: str) -> Any:
    return run_cli("runbook", *args, env={"NBMIGRATE_NOTEBOOK_SCRATCH": str(tmp_path)}, timeout=150)


def executed_copies(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.ipynb") if COPY_NAME.match(p.name))


def test_recovery_runbook_runs_against_the_given_database_with_parameters(tmp_path: Path) -> None:
    notebook = copy_of_recovery(tmp_path / "runbooks")
    db = tmp_path / "drill.db"
    result = run_runbook(
        tmp_path, str(notebook), "--db", f"sqlite:///{db}", "-p", "lock_timeout=5", "-p", "ticket=INC-42"
    )

    assert result.returncode == 0, result.stderr
    [line] = result.stdout.splitlines()
    assert re.fullmatch(
        rf"runbook 04_recovery_runbook\.ipynb ran \d+ code cells against sqlite:///{re.escape(str(db))} "
        r"in \d+\.\d s; executed copy: .+",
        line,
    ), line
    [copy] = executed_copies(notebook.parent)
    assert line.endswith(str(copy))

    nb = nbformat.read(copy, as_version=4)
    tags = [c.metadata.get("tags", []) for c in nb.cells]
    injected = tags.index(["injected-parameters"])
    assert tags[injected - 1] == ["parameters"], "injected right after the parameters cell"
    source = nb.cells[injected].source
    assert 'database_url = os.environ["NBMIGRATE_DATABASE_URL"]' in source
    assert "lock_timeout = 5" in source and "ticket = 'INC-42'" in source
    assert nb.metadata["nbmigrate_runbook"]["outcome"] == "ok"
    connected = "".join(o["data"]["text/plain"] for o in nb.cells[injected + 2].outputs if "data" in o)
    assert connected.startswith(f"connected to sqlite:///{db}")
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code), "every cell ran"

    with sqlite3.connect(db) as conn:
        applied = [r[0] for r in conn.execute("SELECT version FROM _migrations ORDER BY version")]
    assert applied == ["001", "002", "003", "004", "005"]


def test_a_failing_cell_stops_the_run_names_the_cell_and_still_writes_the_copy(tmp_path: Path) -> None:
    def untag_first_expected_failure(nb: Any) -> None:
        cell = next(c for c in nb.cells if "raises-exception" in c.metadata.get("tags", []))
        cell.metadata["tags"].remove("raises-exception")

    notebook = copy_of_recovery(tmp_path / "runbooks", untag_first_expected_failure)
    result = run_runbook(tmp_path, str(notebook), "--db", f"sqlite:///{tmp_path / 'drill.db'}")

    assert result.returncode == 1, result.stdout + result.stderr
    [line] = result.stderr.splitlines()
    found = re.fullmatch(
        r"runbook 04_recovery_runbook\.ipynb FAILED at cell (\d+) \(In \[(\d+)\]\) (.*)", line
    )
    assert found, line
    assert found[3].startswith("`%migrate up`: rolled back; nothing of it was kept; executed copy: ")
    [copy] = executed_copies(notebook.parent)
    nb = nbformat.read(copy, as_version=4)
    failed = nb.cells[int(found[1]) - 1]
    assert failed.source == "%migrate up" and failed.execution_count == int(found[2])
    assert [o.ename for o in failed.outputs if o.output_type == "error"] == ["CellFailure"]
    later = nb.cells[int(found[1]) :]
    assert all(
        not c.get("outputs") and c.get("execution_count") is None for c in later if c.cell_type == "code"
    )
    assert nb.metadata["nbmigrate_runbook"]["outcome"].startswith(f"cell {found[1]}")


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://app:s3cret-pw@127.0.0.1:9/app?connect_timeout=2",
        "postgresql://app@127.0.0.1:9/app?connect_timeout=2&password=s3cret-pw",
    ],
    ids=["user-info", "query"],
)
def test_the_password_appears_neither_in_the_output_nor_in_the_copy(tmp_path: Path, url: str) -> None:
    notebook = copy_of_recovery(tmp_path / "runbooks")
    out = tmp_path / "record.ipynb"
    result = run_runbook(tmp_path, str(notebook), "--db", url, "--output", str(out))

    assert result.returncode == 1  # nothing listens on port 9: the connect cell fails
    assert "s3cret-pw" not in result.stdout + result.stderr
    assert "cannot connect to postgresql://app" in result.stderr
    assert out.exists() and "s3cret-pw" not in out.read_text()
    assert "127.0.0.1:9/app" in out.read_text()


def test_usage_problems_exit_2(tmp_path: Path) -> None:
    missing = run_cli("runbook", str(tmp_path / "nope.ipynb"))
    assert missing.returncode == 2 and "no notebook at" in missing.stderr
    bad = run_cli("runbook", str(RECOVERY), "-p", "not a name=1")
    assert bad.returncode == 2 and "NAME=VALUE" in bad.stderr


def test_parameters_are_python_literals_or_else_strings() -> None:
    assert runbook.parse_parameters(["n=10_000", "x=1.5", "on=True", "tags=['a', 1]", "s=hello", "e="]) == {
        "n": 10000,
        "x": 1.5,
        "on": True,
        "tags": ["a", 1],
        "s": "hello",
        "e": "",
    }
    assert runbook.parse_parameters(["url=sqlite:///x.db", "q='quoted'"]) == {
        "url": "sqlite:///x.db",
        "q": "quoted",
    }
    with pytest.raises(ConfigError):
        runbook.parse_parameters(["novalue"])


def test_injected_cell_goes_first_without_a_parameters_cell() -> None:
    nb = new_notebook(cells=[new_markdown_cell("# hi"), new_code_cell("x = 1")])
    assert runbook.inject_parameters(nb, {"x": 2}) == 0
    assert nb.cells[0].source.endswith("x = 2")
    assert nb.cells[0].metadata["tags"] == ["injected-parameters"]


def test_executed_copy_names() -> None:
    now = datetime(2026, 11, 24, 3, 15, 0, tzinfo=timezone.utc)
    notebook = Path("/srv/runbooks/04_recovery_runbook.ipynb")
    assert runbook.executed_copy_path(notebook, None, now) == Path(
        "/srv/runbooks/04_recovery_runbook.2026-11-24T031500Z.ipynb"
    )
    assert runbook.executed_copy_path(notebook, Path("/tmp/x.ipynb"), now) == Path("/tmp/x.ipynb")


def test_the_kernel_is_this_python() -> None:
    assert runbook.kernel_manager().kernel_spec.argv[0] == sys.executable


def test_runbook_is_refused_inside_a_notebook(tmp_path: Path) -> None:
    ns = commands.parse(["runbook", "x.ipynb"])
    manager = MigrationManager(Database(f"sqlite:///{tmp_path / 'x.db'}"), tmp_path)
    with pytest.raises(UsageError, match="run it from a shell"):
        asyncio.run(commands.dispatch_parsed(manager, ns))
