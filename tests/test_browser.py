"""The dashboard in a real browser: Voilà serves a notebook, headless Chromium clicks its buttons.

NBMIGRATE_SCREENSHOT=docs/dashboard.png keeps a copy of the screenshot (the README's picture).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
from pathlib import Path

import nbformat
import pytest

from nbmigrate import MigrationManager, connect
from tests.browser import serve
from tests.browser.serve import page, require_chromium, voila
from tests.conftest import ROOT, child_env


def applied_versions(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        return [r[0] for r in conn.execute("SELECT version FROM _migrations ORDER BY version")]


@pytest.mark.browser
@pytest.mark.timeout(180)
def test_apply_revert_question_and_dry_run_in_chromium(tmp_path: Path) -> None:
    chromium = require_chromium()
    from playwright.sync_api import expect

    migrations = tmp_path / "migrations"
    shutil.copytree(ROOT / "migrations", migrations)
    db = tmp_path / "app.db"

    async def first_two() -> None:
        async with await connect(f"sqlite:///{db}") as conn:
            await MigrationManager(conn, migrations).up("002")

    asyncio.run(first_two())
    notebook = tmp_path / "dashboard.ipynb"
    # Voilà runs the kernel in the notebook's folder: relative paths keep the picture short.
    source = "%load_ext nbmigrate\n%migrate connect sqlite:///app.db --dir migrations\ndash = %migrate dashboard\ndash"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)]), notebook)
    env = child_env(("NBMIGRATE_", "JUPYTER_"))
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["IPYTHONDIR"] = str(tmp_path / ".ipython")
    env["JUPYTER_CONFIG_DIR"] = str(tmp_path / ".jupyter")
    env["JUPYTER_RUNTIME_DIR"] = str(tmp_path / ".runtime")

    with voila(notebook, env) as server, page(chromium, tmp_path / "chromium-profile") as tab:
        tab.goto(server.wait_ready(), wait_until="domcontentloaded", timeout=60_000)
        apply = tab.locator("button.nbm-apply-003")
        apply.wait_for(timeout=90_000)  # Voilà runs the notebook before it shows the widgets
        expect(tab.locator(".nbm-summary")).to_have_text("4 migrations: 2 applied, 2 pending")
        expect(tab.locator(".nbm-database")).to_contain_text(
            "database sqlite:///app.db · migrations migrations"
        )
        expect(tab.locator(".nbm-state-003")).to_contain_text("pending")

        apply.click()
        expect(tab.locator(".nbm-state-003")).to_contain_text("✔ applied", timeout=30_000)
        expect(tab.locator(".nbm-summary")).to_have_text("4 migrations: 3 applied, 1 pending")
        expect(apply).to_be_disabled()
        assert applied_versions(db) == ["001", "002", "003"]

        tab.locator("button.nbm-revert-003").click()
        bar = tab.locator(".nbm-confirm-bar")
        expect(bar).to_contain_text("Revert 003 add_message_status? This runs its down step.")
        tab.locator("button.nbm-cancel").click()
        expect(bar).to_be_hidden()
        assert applied_versions(db) == ["001", "002", "003"]

        tab.locator("button.nbm-dry-run-004").click()
        detail = tab.locator(".nbm-detail")
        expect(detail).to_contain_text("schema change (rolled back)", timeout=30_000)
        expect(detail).to_contain_text("+ column verified BOOLEAN")
        expect(tab.locator(".nbm-status")).to_contain_text("Done: dry run: apply 004")
        assert applied_versions(db) == ["001", "002", "003"]

        shot = tmp_path / "dashboard.png"
        tab.locator(".nbm-dashboard").screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000
    keep = os.environ.get("NBMIGRATE_SCREENSHOT")
    if keep:
        shutil.copyfile(shot, keep)


def test_without_chromium_ci_fails_and_a_developer_is_told_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(serve, "find_chromium", lambda: None)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(
        pytest.fail.Exception, match="CI=true, so the browser tests must run, but no Chromium"
    ):
        serve.require_chromium()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="no Chromium found at /usr/bin/chromium"):
        serve.require_chromium()
