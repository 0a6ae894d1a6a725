"""The dashboard without a kernel: real databases, real button clicks, real threads."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ipywidgets as w
import pytest

from nbmigrate import MigrationManager
from nbmigrate.engine.database import Database
from nbmigrate.errors import MisuseError
from nbmigrate.model import State
from nbmigrate.notebook import bridge
from nbmigrate.notebook.widgets import ActionInterrupted, Dashboard, DashboardBusy
from tests.conftest import ROOT, run_cli, sql_migration
from tests.conftest import user_tables as tables
from tests.conftest import with_manager as on_db

pytestmark = pytest.mark.timeout(60)


def make_migrations(directory: Path) -> None:
    sql_migration(
        directory, "001", "users", "CREATE TABLE users (id INTEGER PRIMARY KEY);", "DROP TABLE users;"
    )
    sql_migration(
        directory, "002", "posts", "CREATE TABLE posts (id INTEGER PRIMARY KEY);", "DROP TABLE posts;"
    )
    sql_migration(
        directory,
        "003",
        "post_title",
        "ALTER TABLE posts ADD COLUMN title TEXT;\nCREATE INDEX ix_posts_title ON posts (title);",
        "DROP INDEX ix_posts_title;\nALTER TABLE posts DROP COLUMN title;",
    )


def ledger(url: str, directory: Path) -> dict[str, str]:
    async def body(m: MigrationManager) -> dict[str, str]:
        return {r.version: r.status for r in await m.ledger.read()}

    return on_db(url, directory, body)


def events(url: str, directory: Path) -> list[tuple[str, str | None, str]]:
    async def body(m: MigrationManager) -> list[tuple[str, str | None, str]]:
        return [(e.action, e.version, e.outcome) for e in (await m.history(None)).events]

    return on_db(url, directory, body)


def states(dash: Dashboard) -> dict[str, str]:
    return {v: row.state.value for v, row in dash.rows.items() if row.state is not None}


def shown(widget: w.Widget) -> bool:
    return widget.layout.display != "none"


@pytest.fixture
def open_dashboard(migrations_dir: Path) -> Iterator[Any]:
    """A factory of dashboards over `url`; their connections are closed on the bridge loop after."""
    made: list[Dashboard] = []

    def make(url: str) -> Dashboard:
        dash = Dashboard(MigrationManager(Database(url), migrations_dir))
        made.append(dash)
        return dash

    yield make
    for dash in made:
        dash.wait(timeout=30)
        bridge.run(dash.manager.db.disconnect(), timeout=10)


def test_table_apply_and_disabled_buttons_during_the_run(
    db_url: str, migrations_dir: Path, open_dashboard: Any
) -> None:
    make_migrations(migrations_dir)
    dash = open_dashboard(db_url)
    assert states(dash) == {"001": "pending", "002": "pending", "003": "pending"}
    assert repr(dash).endswith(" — 3 migrations: 3 pending")
    row = dash.rows["001"]
    assert not row.apply_button.disabled and row.revert_button.disabled and not row.source_button.disabled
    assert "pending" in row.state_label.value and "#6e7781" in row.state_label.value  # colour of pending

    row.apply_button.click()
    assert dash.busy and dash.running == "apply 001 users"
    assert all(b.disabled for b in dash.buttons), "every button is disabled while an action runs"
    with pytest.raises(DashboardBusy):
        dash.apply("002")
    dash.wait()

    assert not dash.busy and dash.last_error is None
    assert ledger(db_url, migrations_dir) == {"001": "applied"}
    assert tables(db_url, migrations_dir) == {"users"}
    assert states(dash) == {"001": "applied", "002": "pending", "003": "pending"}
    assert "✔ applied" in row.state_label.value and row.applied_label.value and "ms" in row.took_label.value
    assert row.apply_button.disabled and not row.revert_button.disabled
    assert not dash.rows["002"].apply_button.disabled and not dash.refresh_button.disabled
    assert dash.progress.value == dash.progress.max and dash.progress.bar_style == "success"
    assert "applied 001 users" in dash.log_text
    assert not shown(dash.banner)


def test_apply_all_runs_every_pending_with_progress(
    db_url: str, migrations_dir: Path, open_dashboard: Any
) -> None:
    make_migrations(migrations_dir)
    dash = open_dashboard(db_url)
    dash.apply_all_button.click()
    dash.wait()
    assert ledger(db_url, migrations_dir) == dict.fromkeys(["001", "002", "003"], "applied")
    assert (dash.progress.value, dash.progress.max) == (3, 3)
    assert repr(dash).endswith("3 migrations: 3 applied")
    assert dash.apply_all_button.disabled  # nothing left to apply
    applied = [line.split()[1:3] for line in dash.log_text.splitlines() if line.startswith("applied ")]
    assert applied == [["001", "users"], ["002", "posts"], ["003", "post_title"]]


def test_revert_asks_first_cancel_leaves_the_database_alone(
    db_url: str, migrations_dir: Path, open_dashboard: Any
) -> None:
    make_migrations(migrations_dir)
    dash = open_dashboard(db_url)
    dash.apply_all()
    dash.wait()

    dash.rows["002"].revert_button.click()
    pending = dash.pending
    assert pending is not None and shown(dash.confirm_bar) and not dash.busy
    assert pending.message == "Revert 003 post_title and 002 posts? This runs their down steps, newest first."
    assert "Revert 003 post_title and 002 posts?" in dash.confirm_label.value
    dash.wait()
    assert ledger(db_url, migrations_dir) == dict.fromkeys(["001", "002", "003"], "applied"), "nothing yet"

    dash.cancel_button.click()
    assert pending.state == "cancelled" and not shown(dash.confirm_bar) and dash.pending is None
    with pytest.raises(MisuseError, match="cancelled"):
        pending.confirm()
    assert ledger(db_url, migrations_dir) == dict.fromkeys(["001", "002", "003"], "applied")
    assert tables(db_url, migrations_dir) == {"users", "posts"}

    one = dash.revert("003")
    assert one.message == "Revert 003 post_title? This runs its down step."
    dash.confirm_button.click()
    assert dash.busy and all(b.disabled for b in dash.buttons)
    dash.wait()
    assert one.state == "confirmed" and dash.last_error is None
    assert ledger(db_url, migrations_dir) == {"001": "applied", "002": "applied"}
    assert states(dash)["003"] == "pending"
    assert ("revert", "003", "ok") in events(db_url, migrations_dir)


def test_revert_refuses_when_the_database_changed_since_the_question(
    sqlite_url: str, migrations_dir: Path, open_dashboard: Any
) -> None:
    make_migrations(migrations_dir)
    dash = open_dashboard(sqlite_url)
    dash.apply("002")
    dash.wait()
    question = dash.revert("002")
    on_db(sqlite_url, migrations_dir, lambda m: m.up())  # someone applies 003 meanwhile
    question.confirm()
    dash.wait()
    assert "changed since this was asked" in str(dash.last_error) and shown(dash.banner)
    assert ledger(sqlite_url, migrations_dir) == dict.fromkeys(["001", "002", "003"], "applied")
    assert states(dash)["003"] == "applied"  # the table was refreshed all the same


def test_dry_run_and_source_show_in_the_panel_and_change_nothing(
    sqlite_url: str, migrations_dir: Path, open_dashboard: Any
) -> None:
    make_migrations(migrations_dir)
    dash = open_dashboard(sqlite_url)
    dash.rows["002"].dry_run_button.click()
    dash.wait()
    assert shown(dash.detail_box) and "Dry run: apply 002 posts" in dash.detail_title.value
    assert "CREATE TABLE users" in dash.detail.value and "CREATE TABLE posts" in dash.detail.value
    assert "+ table posts" in dash.detail.value
    assert tables(sqlite_url, migrations_dir) == set() and ledger(sqlite_url, migrations_dir) == {}

    dash.apply_all()
    dash.wait()
    dash.dry_run("003")  # applied: rehearses the revert
    dash.wait()
    assert "DROP INDEX ix_posts_title" in dash.detail.value and "- column title" in dash.detail.value
    assert ledger(sqlite_url, migrations_dir)["003"] == "applied"

    dash.rows["001"].source_button.click()
    dash.wait()
    assert "Source of 001 users" in dash.detail_title.value
    assert "CREATE TABLE users" in dash.detail.value and "-- down" in dash.detail.value
    dash.detail_close_button.click()
    assert not shown(dash.detail_box)


def test_failing_migration_shows_the_banner_and_leaves_nothing(
    db_url: str, migrations_dir: Path, open_dashboard: Any
) -> None:
    make_migrations(migrations_dir)
    sql_migration(
        migrations_dir,
        "004",
        "broken",
        "CREATE TABLE half (id INTEGER);\nINSERT INTO no_such_table VALUES (1);",
        "DROP TABLE half;",
    )
    dash = open_dashboard(db_url)
    dash.apply_all()
    dash.wait()
    banner = dash.banner.value
    assert shown(dash.banner) and dash.progress.bar_style == "danger"
    assert "Migration 004 broken failed during up" in banner and "migration_004_broken.sql" in banner
    assert "INSERT INTO no_such_table VALUES (1)" in banner and "no_such_table" in banner
    assert "rolled back: nothing of it was kept" in banner
    assert "half" not in tables(db_url, migrations_dir)
    assert ledger(db_url, migrations_dir) == dict.fromkeys(["001", "002", "003"], "applied")
    assert states(dash)["004"] == "pending" and not dash.rows["004"].apply_button.disabled
    assert not shown(dash.recovery)

    dash.refresh()  # the next action clears the banner
    dash.wait()
    assert not shown(dash.banner)


def test_failed_non_transactional_recovery_revert_and_mark(
    db_url: str, migrations_dir: Path, open_dashboard: Any
) -> None:
    make_migrations(migrations_dir)
    sql_migration(
        migrations_dir,
        "004",
        "two_steps",
        "CREATE TABLE step_one (id INTEGER);\nINSERT INTO missing_table VALUES (1);",
        "DROP TABLE IF EXISTS step_one;",
        header="-- nbmigrate: transactional=false\n",
    )
    dash = open_dashboard(db_url)
    dash.apply_all()
    dash.wait()
    assert "not transactional" in dash.banner.value
    assert states(dash)["004"] == "failed" and "✘ failed" in dash.rows["004"].state_label.value
    assert shown(dash.recovery)
    text = dash.recovery_label.value
    assert "Migration 004 two_steps failed" in text and "missing_table" in text
    assert "INSERT INTO missing_table VALUES (1)" in text
    assert "step_one" in tables(db_url, migrations_dir)  # the first statement stayed

    # Way out 1: revert (runs down), after a yes.
    dash.recovery_revert_button.click()
    assert dash.pending is not None and dash.pending.message.startswith("Revert 004 two_steps?")
    assert ledger(db_url, migrations_dir)["004"] == "failed"
    dash.confirm_button.click()
    dash.wait()
    assert dash.last_error is None and not shown(dash.recovery)
    assert "step_one" not in tables(db_url, migrations_dir)
    assert "004" not in ledger(db_url, migrations_dir) and states(dash)["004"] == "pending"

    # Way out 2: fix the database by hand, then mark it as applied, after a yes.
    dash.apply("004")
    dash.wait()
    assert states(dash)["004"] == "failed"
    dash.recovery_mark_button.click()
    assert dash.pending is not None and "as applied? Nothing runs" in dash.pending.message
    dash.cancel_button.click()
    assert ledger(db_url, migrations_dir)["004"] == "failed"
    dash.recovery_mark_button.click()
    dash.confirm_button.click()
    dash.wait()
    assert ledger(db_url, migrations_dir)["004"] == "applied" and states(dash)["004"] == "applied"
    assert not shown(dash.recovery)
    logged = events(db_url, migrations_dir)
    assert ("revert", "004", "ok") in logged and ("mark", "004", "ok") in logged


def test_cancel_rolls_back_the_migration_in_flight_and_releases_the_lock(
    sqlite_url: str, migrations_dir: Path, open_dashboard: Any, tmp_path: Path
) -> None:
    started = tmp_path / "started"
    (migrations_dir / "migration_001_slow.py").write_text(
        f"""\"\"\"Slow: creates a table, then takes its time.\"\"\"
import asyncio
import pathlib


async def up(db):
    await db.execute("CREATE TABLE slow (id INTEGER)")
    pathlib.Path({str(started)!r}).touch()
    await asyncio.sleep(60)


async def down(db):
    await db.execute("DROP TABLE slow")
"""
    )
    dash = open_dashboard(sqlite_url)
    dash.apply_all()
    for _ in range(400):
        if started.exists():
            break
        time.sleep(0.025)
    assert started.exists() and dash.busy
    dash.cancel()
    dash.wait(timeout=30)
    assert (
        isinstance(dash.last_error, ActionInterrupted)
        and "interrupted: apply all pending" in dash.banner.value
    )
    assert tables(sqlite_url, migrations_dir) == set() and ledger(sqlite_url, migrations_dir) == {}
    assert states(dash) == {"001": "pending"} and not dash.rows["001"].apply_button.disabled
    assert ("apply", "001", "interrupted") in events(sqlite_url, migrations_dir)

    async def take_the_lock(m: MigrationManager) -> Any:
        m.lock_timeout = 2
        return await m.redo()  # needs the lock; nothing to redo

    assert "nothing to redo" in (on_db(sqlite_url, migrations_dir, take_the_lock).message or "")


def test_refresh_shows_changes_made_elsewhere(
    sqlite_url: str, migrations_dir: Path, open_dashboard: Any
) -> None:
    make_migrations(migrations_dir)
    dash = open_dashboard(sqlite_url)
    on_db(sqlite_url, migrations_dir, lambda m: m.up("002"))
    assert states(dash)["002"] == "pending"  # not yet
    dash.refresh_button.click()
    dash.wait()
    assert states(dash) == {"001": "applied", "002": "applied", "003": "pending"}
    sql_migration(migrations_dir, "000", "early", "CREATE TABLE early (id INTEGER);", "DROP TABLE early;")
    dash.refresh()
    dash.wait()
    assert list(dash.rows) == ["000", "001", "002", "003"] and states(dash)["000"] == State.OUT_OF_ORDER.value
    assert not dash.rows["000"].apply_button.disabled
    assert "↯ pending (out of order)" in dash.rows["000"].state_label.value
    (migrations_dir / "migration_003_post_title.sql").unlink()  # pending: its row goes
    (migrations_dir / "migration_002_posts.sql").unlink()  # applied: shown as missing
    dash.refresh()
    dash.wait()
    assert states(dash) == {"000": "pending (out of order)", "001": "applied", "002": "missing"}
    assert len(dash.table.children) == 6 * 4  # the header and three rows
    assert dash.rows["002"].revert_button.disabled and dash.rows["002"].source_button.disabled


def test_repr_is_stable_and_the_password_never_shows(migrations_dir: Path, open_dashboard: Any) -> None:
    make_migrations(migrations_dir)
    dash = open_dashboard("postgresql://someone:s3cret@127.0.0.1:1/nowhere")  # nothing listens on port 1
    assert repr(dash) == "Dashboard: postgresql://someone:***@127.0.0.1:1/nowhere — status unknown"
    assert shown(dash.banner) and "ConnectionFailed" in dash.banner.value
    assert "someone:***@127.0.0.1" in dash.database_label.value
    texts = [repr(dash), dash.banner.value, dash.database_label.value, dash.log_text]
    assert not any("s3cret" in t for t in texts)
    bundle = dash._repr_mimebundle_()
    assert bundle["text/plain"] == repr(dash) and "application/vnd.jupyter.widget-view+json" in bundle


def test_the_core_never_imports_ipywidgets() -> None:
    code = (
        "import sys, nbmigrate, nbmigrate.cli, nbmigrate.notebook.bridge, nbmigrate.notebook.magics; "
        "assert 'ipywidgets' not in sys.modules, 'ipywidgets imported'"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_the_shell_refuses_dashboard_in_one_line(tmp_path: Path) -> None:
    done = run_cli("dashboard", cwd=tmp_path)
    assert done.returncode == 2 and done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1 and "%migrate dashboard" in done.stderr
