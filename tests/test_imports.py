"""What importing nbmigrate costs: no IPython, ipywidgets or asyncpg unless they are needed.

And the shape every module keeps: a one-line docstring first, `__all__` naming real things.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, child_env, sql_migration

PACKAGE = ROOT / "nbmigrate"
NOTEBOOK_ONLY = ("IPython", "ipywidgets", "ipykernel", "traitlets")


def python(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """A fresh interpreter with ARGS, nbmigrate importable, no NBMIGRATE_* settings."""
    env = child_env()
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def top_level(modules: list[str]) -> set[str]:
    return {m.split(".", 1)[0] for m in modules}


# Runs nbmigrate's real entry point in a fresh interpreter, then reports what got imported.
MAIN_THEN_MODULES = """
import json, sys
import nbmigrate.cli
code = nbmigrate.cli.main(sys.argv[1:])
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def run_main(tmp_path: Path, *argv: str) -> tuple[int, set[str]]:
    r = python("-c", MAIN_THEN_MODULES, *argv, cwd=tmp_path)
    assert "Traceback" not in r.stderr, r.stderr
    data = json.loads(r.stdout.strip().splitlines()[-1])
    return data["code"], top_level(data["modules"])


def test_import_nbmigrate_pulls_in_no_notebook_or_postgres_library(tmp_path: Path) -> None:
    r = python("-c", "import json, sys, nbmigrate; print(json.dumps(sorted(sys.modules)))", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    loaded = top_level(json.loads(r.stdout))
    assert "nbmigrate" in loaded
    for name in (*NOTEBOOK_ONLY, "asyncpg", "asyncio"):  # names load on first use
        assert name not in loaded, f"`import nbmigrate` imported {name}"


def test_cli_on_sqlite_imports_neither_ipython_nor_asyncpg(tmp_path: Path) -> None:
    migrations = tmp_path / "migrations"
    migrations.mkdir()
    sql_migration(migrations, "001", "first", "CREATE TABLE first (id INTEGER);", "DROP TABLE first;")
    db = f"sqlite:///{tmp_path / 'app.db'}"
    for argv in (["status"], ["up"], ["status", "--json"], ["history"], ["down", "--dry-run"]):
        code, loaded = run_main(tmp_path, "--db", db, "--dir", str(migrations), *argv)
        assert code == 0, argv
        for name in (*NOTEBOOK_ONLY, "asyncpg"):
            assert name not in loaded, f"`nbmigrate {' '.join(argv)}` imported {name}"


def test_status_and_a_noop_up_on_sqlite_start_no_event_loop(tmp_path: Path) -> None:
    """What every application start runs stays free of asyncio; real work still gets the engine."""
    migrations = tmp_path / "migrations"
    migrations.mkdir()
    sql_migration(migrations, "001", "first", "CREATE TABLE first (id INTEGER);", "DROP TABLE first;")
    common = ("--db", f"sqlite:///{tmp_path / 'app.db'}", "--dir", str(migrations))
    code, loaded = run_main(tmp_path, *common, "up")
    assert code == 0 and {"asyncio", "aiosqlite"} <= loaded
    for argv in (["status"], ["status", "--json"], ["up"], ["up", "001", "--json"]):
        code, loaded = run_main(tmp_path, *common, *argv)
        assert code == 0, argv
        assert not {"asyncio", "aiosqlite"} & loaded, f"`nbmigrate {' '.join(argv)}` started the engine"
    sql_migration(migrations, "002", "second", "CREATE TABLE second (id INTEGER);")
    code, loaded = run_main(tmp_path, *common, "up")
    assert code == 0 and {"asyncio", "aiosqlite"} <= loaded


def test_python_m_nbmigrate_status_importtime(tmp_path: Path) -> None:
    """The real `python -m nbmigrate status`, watched with -X importtime."""
    r = python("-X", "importtime", "-m", "nbmigrate", "--db", "sqlite:///app.db", "status", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    imported = [
        line.rsplit("|", 1)[-1].strip() for line in r.stderr.splitlines() if line.startswith("import time:")
    ]
    assert "nbmigrate.cli" in imported
    loaded = top_level(imported)
    for name in (*NOTEBOOK_ONLY, "asyncpg"):
        assert name not in loaded, f"`python -m nbmigrate status` imported {name}"


def test_asyncpg_imported_only_for_postgresql_urls(tmp_path: Path) -> None:
    pytest.importorskip("asyncpg")
    # localhost's closed port 1: the command fails to connect, after choosing its backend
    code, loaded = run_main(tmp_path, "--db", "postgresql://user:pw@127.0.0.1:1/db", "status")
    assert code == 1
    assert "asyncpg" in loaded
    for name in NOTEBOOK_ONLY:
        assert name not in loaded


# -- the shape of the modules ---------------------------------------------------------


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _module_param(path: Path) -> object:
    return pytest.param(path, id=path.relative_to(ROOT).as_posix())


@pytest.mark.parametrize("path", [_module_param(p) for p in _modules()])
def test_module_starts_with_a_one_line_docstring(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    assert tree.body, f"{path.name} is empty"
    first = tree.body[0]
    assert isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant), (
        f"{path.name} does not start with a docstring"
    )
    doc = first.value.value
    assert isinstance(doc, str)
    lines = doc.split("\n")
    assert lines[0].strip(), f"{path.name}: the docstring starts with an empty line"
    assert len(lines) == 1 or not lines[1].strip(), (
        f"{path.name}: the summary is not one line (a blank line must follow it): {lines[:2]}"
    )


def test_all_names_exist(tmp_path: Path) -> None:
    code = (
        "import json, nbmigrate\n"
        "print(json.dumps({'all': list(nbmigrate.__all__), "
        "'missing': [n for n in nbmigrate.__all__ if not hasattr(nbmigrate, n)]}))"
    )
    r = python("-c", code, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["missing"] == []
    assert len(data["all"]) == len(set(data["all"])), "duplicates in __all__"
    for name in ("Migration", "MigrationManager", "connect", "get_database", "run_migrations"):
        assert name in data["all"]
    for name in ("get_migration_status", "get_migration_manager", "reset_database", "load_ipython_extension"):
        assert name in data["all"]


def test_all_of_every_submodule_names_real_things() -> None:
    """Modules that declare `__all__` (parsed, not imported, so no optional library is needed)."""
    for path in _modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        defined = set()
        declared: list[str] | None = None
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                defined.add(node.name)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                defined.update((a.asname or a.name).split(".")[0] for a in node.names)
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    if isinstance(target, ast.Name):
                        defined.add(target.id)
                        if target.id == "__all__" and node.value is not None:
                            declared = list(ast.literal_eval(node.value))
        if declared is not None:
            missing = [n for n in declared if n not in defined]
            assert not missing, f"{path.relative_to(ROOT)}: __all__ names {missing}, which it does not define"
