"""Backups of SQLite files: taken before changing commands (not on a no-op), bounded, listed,
restored through the backup API under the lock, undoable, switchable off; other databases refuse."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import sqlite3
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from nbmigrate import MigrationManager, connect, render
from nbmigrate.backends import sqlite_backup as backups_module
from tests.conftest import sql_migration

from . import harness
from .figures import record
from .test_races import HOLDER


@pytest.fixture
def project(tmp_path: Path) -> tuple[str, Path]:
    """A SQLite file and three migrations; 002 wrecks the balances (valid SQL, wrong data)."""
    directory = tmp_path / "migrations"
    directory.mkdir()
    sql_migration(
        directory,
        "001",
        "accounts",
        "CREATE TABLE accounts (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL);\n"
        "INSERT INTO accounts (balance) VALUES (100), (250), (75);",
        "DROP TABLE accounts;",
    )
    sql_migration(
        directory,
        "002",
        "bad_fee",
        "UPDATE accounts SET balance = 0;",
        "UPDATE accounts SET balance = balance;",
    )
    sql_migration(directory, "003", "audit", "CREATE TABLE audit (id INTEGER);", "DROP TABLE audit;")
    return f"sqlite:///{tmp_path / 'app.db'}", directory


def _cli(url: str, directory: Path, *args: str) -> harness.Finished:
    done = harness.main("--db", url, "--dir", str(directory), *args)
    assert not done.crashed, done.stderr
    return done


def _listed(url: str, directory: Path) -> list[dict[str, object]]:
    done = _cli(url, directory, "backups", "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["backups"]


def _balances(url: str) -> list[int]:
    conn = sqlite3.connect(harness.sqlite_path(url))
    try:
        return [r[0] for r in conn.execute("SELECT balance FROM accounts ORDER BY id")]
    finally:
        conn.close()


def test_each_changing_command_backs_up_first_and_the_backup_restores(project: tuple[str, Path]) -> None:
    url, directory = project
    assert _cli(url, directory, "up", "001").returncode == 0
    assert _cli(url, directory, "up").returncode == 0
    assert _cli(url, directory, "down").returncode == 0
    assert _cli(url, directory, "redo").returncode == 0
    assert _cli(url, directory, "reset", "--yes").returncode == 0
    listed = _listed(url, directory)
    assert [b["command"] for b in listed] == ["reset", "redo", "down", "up", "up"]
    names = [Path(str(b["path"])).name for b in listed]
    assert names == sorted(names, reverse=True) and len(set(names)) == 5
    folder = harness.sqlite_path(url).with_name("app.db.backups")
    assert all(Path(str(b["path"])).parent == folder for b in listed)
    assert all(int(str(b["size"])) > 0 for b in listed)

    # The backup taken before `reset` holds everything reset dropped.
    done = _cli(url, directory, "restore")
    assert done.returncode == 0, done.stderr
    assert "restored" in done.stdout and "-reset.db" in done.stdout
    assert _balances(url) == [0, 0, 0]
    snap = harness.inspect(url)
    assert snap.applied() == {"001", "002"}  # as it was just before the reset
    assert [e for e in snap.log if e[1] == "restore"], "the restore is in the event log"


def test_restore_undoes_a_bad_migrations_data_change_and_can_itself_be_undone(
    project: tuple[str, Path],
) -> None:
    url, directory = project
    assert _cli(url, directory, "up", "001").returncode == 0
    assert _cli(url, directory, "up", "002").returncode == 0
    assert _balances(url) == [0, 0, 0]
    reader = sqlite3.connect(harness.sqlite_path(url))  # an application holding the file open
    try:
        assert reader.execute("SELECT sum(balance) FROM accounts").fetchone() == (0,)
        done = _cli(url, directory, "restore")
        assert done.returncode == 0, done.stderr
        assert _balances(url) == [100, 250, 75]
        # Restored through the backup API into the live file: the open connection sees it.
        assert reader.execute("SELECT sum(balance) FROM accounts").fetchone() == (425,)
    finally:
        reader.close()
    assert harness.inspect(url).applied() == {"001"}
    status = _cli(url, directory, "status")
    assert re.search(r"^002\s+bad_fee\s+pending", status.stdout, re.M), status.stdout

    undo = _cli(url, directory, "restore")  # the newest backup is the state before the restore
    assert undo.returncode == 0, undo.stderr
    assert _balances(url) == [0, 0, 0]
    assert harness.inspect(url).applied() == {"001", "002"}


def test_restore_by_name_and_by_prefix(project: tuple[str, Path]) -> None:
    url, directory = project
    assert _cli(url, directory, "up", "001").returncode == 0
    assert _cli(url, directory, "up").returncode == 0
    oldest = Path(str(_listed(url, directory)[-1]["path"])).name
    assert _cli(url, directory, "restore", oldest).returncode == 0
    assert not harness.inspect(url).tables  # before 001
    ambiguous = _cli(url, directory, "restore", oldest[:4])
    assert ambiguous.returncode == 1 and "matches" in ambiguous.stderr
    missing = _cli(url, directory, "restore", "19990101")
    assert missing.returncode == 1 and "no backup" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1


def test_an_open_manager_connection_stays_valid_across_a_restore(project: tuple[str, Path]) -> None:
    url, directory = project

    async def scenario() -> tuple[int, int, list[str]]:
        db = await connect(url)
        try:
            manager = MigrationManager(db, directory)
            await manager.up()
            applied = len(await db.fetch_all("SELECT * FROM _migrations"))
            report = await manager.restore()
            after = len(await db.fetch_all("SELECT * FROM _migrations"))
            assert report.restored is not None and report.saved is not None
            return applied, after, [r.state.value for r in (await manager.status()).migrations]
        finally:
            await db.disconnect()

    applied, after, states = asyncio.run(scenario())
    assert (applied, after) == (3, 0)
    assert states == ["pending", "pending", "pending"]


def test_retention_keeps_only_the_newest(project: tuple[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    url, directory = project
    monkeypatch.setenv("NBMIGRATE_BACKUP_KEEP", "3")
    assert _cli(url, directory, "up").returncode == 0
    seen: list[str] = []
    for _ in range(4):
        assert _cli(url, directory, "down").returncode == 0
        assert _cli(url, directory, "up").returncode == 0
        seen += [Path(str(b["path"])).name for b in _listed(url, directory)]
    listed = [Path(str(b["path"])).name for b in _listed(url, directory)]
    assert len(listed) == 3
    assert listed == sorted(set(seen), reverse=True)[:3]
    monkeypatch.setenv("NBMIGRATE_BACKUP_KEEP", "0")
    refused = _cli(url, directory, "down")
    assert refused.returncode == 2 and "backup_keep" in refused.stderr


def test_backups_can_be_switched_off_three_ways(
    project: tuple[str, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    url, directory = project
    folder = harness.sqlite_path(url).with_name("app.db.backups")

    assert _cli(url, directory, "up", "001", "--no-backup").returncode == 0
    assert not folder.exists()

    monkeypatch.setenv("NBMIGRATE_BACKUPS", "0")
    assert _cli(url, directory, "up", "002").returncode == 0
    assert not folder.exists()
    monkeypatch.delenv("NBMIGRATE_BACKUPS")

    settings = tmp_path / "project"
    settings.mkdir()
    (settings / "pyproject.toml").write_text("[tool.nbmigrate]\nbackups = false\nbackup_keep = 4\n")
    monkeypatch.chdir(settings)
    assert _cli(url, directory, "down").returncode == 0
    assert _cli(url, directory, "redo").returncode == 0
    assert not folder.exists()

    monkeypatch.chdir(tmp_path)
    assert _cli(url, directory, "down").returncode == 0  # on again by default
    assert [b["command"] for b in _listed(url, directory)] == ["down"]


def test_a_noop_up_takes_no_backup_and_stays_cheap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    directory = tmp_path / "migrations"
    harness.write_workload(directory, steps=10, rows=2000)
    url = f"sqlite:///{tmp_path / 'big.db'}"
    first = _cli(url, directory, "up")
    assert first.returncode == 0
    assert len(_listed(url, directory)) == 1

    def noop_seconds() -> float:
        runs = []
        for _ in range(7):
            done = _cli(url, directory, "up")
            assert done.returncode == 0 and "nothing to apply" in done.stdout
            runs.append(done.seconds)
        return statistics.median(runs)

    with_backups = noop_seconds()
    assert len(_listed(url, directory)) == 1  # seven no-op runs, no new backup
    monkeypatch.setenv("NBMIGRATE_BACKUPS", "0")
    without = noop_seconds()
    t0 = time.perf_counter()
    info = asyncio.run(backups_module.take(harness.sqlite_path(url), "up", keep=None))
    one_backup = time.perf_counter() - t0
    record(
        "backup/no-op up",
        f"no-op `up` (in-process, median of 7): {with_backups * 1000:.1f} ms with backups on, "
        f"{without * 1000:.1f} ms off; one backup of a {info.size / 1e6:.1f} MB file: {one_backup * 1000:.1f} ms",
        noop_ms_backups_on=round(with_backups * 1000, 2),
        noop_ms_backups_off=round(without * 1000, 2),
        backup_ms=round(one_backup * 1000, 2),
        backup_bytes=info.size,
    )
    assert with_backups < without * 2 + 0.05


def test_backups_never_block_the_event_loop(tmp_path: Path) -> None:
    path = tmp_path / "large.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE blobs (b BLOB)")
    conn.executemany("INSERT INTO blobs VALUES (?)", [(bytes(4096),) for _ in range(8000)])
    conn.commit()
    conn.close()

    async def scenario() -> tuple[int, float]:
        ticks = 0
        done = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not done.is_set():
                ticks += 1
                await asyncio.sleep(0.002)

        task = asyncio.create_task(ticker())
        t0 = time.perf_counter()
        await backups_module.take(path, "up", keep=None)
        took = time.perf_counter() - t0
        done.set()
        await task
        return ticks, took

    ticks, took = asyncio.run(scenario())
    assert ticks >= min(3, int(took / 0.01)), f"{ticks} ticks in {took:.3f}s: the loop was blocked"


def test_partial_backups_are_never_listed_and_are_cleaned_up(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    sqlite3.connect(db).close()
    folder = backups_module.backup_dir(db)
    folder.mkdir()
    (folder / ".20260101T000000.000000Z-up-123.partial").write_bytes(b"half")
    (folder / ".20260101T000000.000000Z-up-123.partial-journal").write_bytes(b"its journal")
    (folder / "notes.txt").write_text("not a backup")
    assert backups_module.list_backups(db) == []
    with pytest.raises(Exception, match="no backups"):
        backups_module.find(db)
    names = {asyncio.run(backups_module.take(db, "up", keep=None)).path.name for _ in range(20)}
    assert len(names) == 20  # unique, even when taken within the same microsecond
    assert not list(folder.glob("*.partial")) and not list(folder.glob(".*"))
    assert (folder / "notes.txt").exists()


def test_restore_takes_the_migration_lock(project: tuple[str, Path], tmp_path: Path) -> None:
    url, directory = project
    assert _cli(url, directory, "up", "001").returncode == 0
    holder_dir = tmp_path / "holder"
    holder_dir.mkdir()
    (holder_dir / "migration_004_hold_the_lock.py").write_text(HOLDER, encoding="utf-8")
    marker = tmp_path / "in_flight"
    proc = harness.up_in_flight(url, holder_dir, marker, HOLD="30")
    try:
        blocked = _cli(url, directory, "--lock-timeout", "0.3", "restore")
    finally:
        harness.kill(proc)
        proc.communicate()
    assert blocked.returncode == 1
    assert f"pid {proc.pid}" in blocked.stderr
    assert _balances(url) == [100, 250, 75]


def test_memory_and_postgres_databases_say_backups_are_for_sqlite_files(
    make_db_url: Callable[[str], str], tmp_path: Path
) -> None:
    directory = tmp_path / "migrations"
    directory.mkdir()
    sql_migration(directory, "001", "t", "CREATE TABLE t (id INTEGER);", "DROP TABLE t;")
    memory = "sqlite:///:memory:"
    for command in ("backups", "restore"):
        done = _cli(memory, directory, command)
        assert done.returncode == 1
        assert "SQLite database files only" in _one_line(done.stderr) and "in-memory" in done.stderr
    assert _cli(memory, directory, "up").returncode == 0  # just no backup
    pg = make_db_url("postgresql")
    for command in ("backups", "restore"):
        done = _cli(pg, directory, command)
        assert done.returncode == 1
        assert "SQLite database files only" in _one_line(done.stderr) and "pg_dump" in done.stderr
    assert _cli(pg, directory, "up").returncode == 0
    assert _cli(pg, directory, "down").returncode == 0


def _one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


def _big_database(path: Path, megabytes: int = 64) -> None:
    """A file large enough that a backup of it takes a while (about 0.15 s per 64 MB here)."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("CREATE TABLE blobs (b BLOB)")
        conn.executemany("INSERT INTO blobs VALUES (?)", [(bytes(8192),) for _ in range(megabytes * 128)])
        conn.commit()
    finally:
        conn.close()


def _partials(folder: Path) -> list[Path]:
    return sorted(folder.glob(".*.partial*")) if folder.is_dir() else []


def _kill_during_backup(url: str, directory: Path, folder: Path) -> list[Path]:
    """Start `up` and SIGKILL it while its backup is being written; the partial files it left."""
    proc = harness.spawn("--db", url, "--dir", str(directory), "up")
    try:
        deadline = time.monotonic() + 30
        while proc.poll() is None and time.monotonic() < deadline:
            if any(p.name.endswith(".partial") and p.stat().st_size > 0 for p in _partials(folder)):
                harness.kill(proc)
                break
            time.sleep(0.001)
    finally:
        harness.kill(proc)
        proc.communicate()
    return _partials(folder)


def test_a_backup_killed_midway_is_reported_then_removed_by_the_next_command_that_locks(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "migrations"
    directory.mkdir()
    sql_migration(directory, "001", "t", "CREATE TABLE t (id INTEGER);", "DROP TABLE t;")
    template = tmp_path / "template.db"
    _big_database(template)
    db = tmp_path / "big.db"
    url = f"sqlite:///{db}"
    folder = db.with_name("big.db.backups")
    for _ in range(10):  # the kill must land while the partial file is being written
        shutil.rmtree(folder, ignore_errors=True)
        shutil.copyfile(template, db)
        left = _kill_during_backup(url, directory, folder)
        if left:
            break
    assert left, "no kill landed during a backup in 10 tries"
    snap = harness.inspect(url)
    assert snap.integrity == "ok" and "t" not in snap.tables and snap.applied() == set()

    # `backups` (no lock) lists no partial as a backup, but counts it in the folder's disk use.
    done = _cli(url, directory, "backups", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    on_disk = {p: p.stat().st_size for p in folder.iterdir()}
    usage = data["usage"]
    assert data["backups"] == [] and usage["backups"] == 0
    assert usage["partial_files"] == len(left)
    assert usage["partial_bytes"] == sum(on_disk[p] for p in left) > 0
    assert usage["total_bytes"] == sum(on_disk.values())
    text = _cli(url, directory, "backups").stdout
    assert (
        f"{len(left)} partial backup file" in text and "the next command that takes the lock removes" in text
    )

    # The next command that takes the lock (here one that takes no backup of its own) removes it.
    assert _cli(url, directory, "up", "--no-backup").returncode == 0
    assert _partials(folder) == []
    assert harness.inspect(url).applied() == {"001"}


def test_backups_reports_the_whole_folder(project: tuple[str, Path]) -> None:
    """Complete backups, partial files and anything else, each said apart; the total is du's."""
    url, directory = project
    assert _cli(url, directory, "up", "001").returncode == 0
    assert _cli(url, directory, "up").returncode == 0
    folder = harness.sqlite_path(url).with_name("app.db.backups")
    (folder / ".20260101T000000.000000Z-up-999.partial").write_bytes(bytes(5000))
    (folder / ".20260101T000000.000000Z-up-999.partial-journal").write_bytes(bytes(700))
    (folder / "notes.txt").write_text("kept by hand")
    sizes = {p.name: p.stat().st_size for p in folder.iterdir()}
    backups = {n: s for n, s in sizes.items() if n.endswith("-up.db")}
    assert len(backups) == 2

    usage = json.loads(_cli(url, directory, "backups", "--json").stdout)["usage"]
    assert usage == {
        "backups": 2,
        "backup_bytes": sum(backups.values()),
        "partial_files": 2,
        "partial_bytes": 5700,
        "other_files": 1,
        "other_bytes": len("kept by hand"),
        "total_bytes": sum(sizes.values()),
    }
    text = _cli(url, directory, "backups").stdout
    assert "2 backups, " in text and "2 partial backup files (" in text and "1 other file, 12 B" in text
    assert f"in all in {folder}" in text

    async def report() -> object:
        db = await connect(url)
        try:
            return await MigrationManager(db, directory).list_backups()
        finally:
            await db.disconnect()

    html = render.to_html(asyncio.run(report()))  # type: ignore[arg-type]
    assert "2 partial backup files" in html and "1 other file" in html and "in all in" in html
