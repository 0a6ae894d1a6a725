"""Every notebook in notebooks/ runs under nbval with its saved outputs compared (sanitised)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import nbformat
import pytest

from tests.conftest import ROOT, postgres_problem, require_postgres

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
SANITIZE = ROOT / "notebooks" / "nbval_sanitize.cfg"
POSTGRES_NOTEBOOKS = {"06_team_postgres.ipynb"}
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


@pytest.fixture(scope="module")
def nbval_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[tuple[str, str | None]]]:
    """One `pytest --nbval` over the notebooks that can run here: {notebook: [(cell, failure or None)]}.

    One run, not one per notebook: a pytest start costs seconds here (nbformat's imports).
    The PostgreSQL notebook is left out where no server answers (its test then skips, or
    fails with NBMIGRATE_REQUIRE_POSTGRES=1).
    """
    runnable = [p for p in NOTEBOOKS if p.name not in POSTGRES_NOTEBOOKS or postgres_problem() is None]
    folder = tmp_path_factory.mktemp("nbval")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["NBMIGRATE_NOTEBOOK_SCRATCH"] = str(folder)
    report = folder / "junit.xml"
    command = [
        *(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:hypothesispytest"),
        *("-o", "addopts=", f"--junitxml={report}", "--nbval-cell-timeout", "120"),
        *("--nbval", *map(str, runnable), "--nbval-sanitize-with", str(SANITIZE), "--nbval-current-env"),
    ]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    if not report.exists():
        pytest.fail(f"nbval did not run:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    results: dict[str, list[tuple[str, str | None]]] = {}
    for case in ElementTree.parse(report).iter("testcase"):
        notebook = case.get("classname", "").removeprefix("notebooks.")
        problem = next((e for e in case if e.tag in ("failure", "error", "skipped")), None)
        text = None if problem is None else f"{problem.tag}: {problem.get('message')}\n{problem.text or ''}"
        results.setdefault(notebook, []).append((case.get("name", ""), text))
    return results


def test_there_are_six_notebooks() -> None:
    assert [p.name[:2] for p in NOTEBOOKS] == ["01", "02", "03", "04", "05", "06"]


@pytest.mark.timeout(600)
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_and_matches_its_saved_outputs(
    notebook: Path, nbval_results: dict[str, list[tuple[str, str | None]]]
) -> None:
    if notebook.name in POSTGRES_NOTEBOOKS:
        require_postgres()
    cells = nbval_results.get(notebook.name)
    assert cells, f"nbval ran no cell of {notebook.name}"
    problems = [f"{cell}: {text}" for cell, text in cells if text is not None]
    assert not problems, "\n\n".join(problems)[-8000:]


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_saved_form_is_clean(notebook: Path) -> None:
    """Executed, numbered 1, 2, 3 ..., without widget state, opening with prose, no leaked temp paths."""
    nb = nbformat.read(notebook, as_version=4)
    assert "widgets" not in nb.metadata
    assert nb.metadata.kernelspec.name == "python3"
    assert nb.cells[0].cell_type == "markdown" and "**What this is for.**" in nb.cells[0].source
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1))
    for cell in code:
        assert set(cell.metadata) <= {"tags"}, cell.metadata
        for output in cell.outputs:
            assert WIDGET_VIEW not in output.get("data", {})
    if notebook.name.startswith(("03", "04", "06")):
        tagged = [c for c in code if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1, "a runbook has one cell tagged `parameters`"
