"""The read cache behind status and a no-op up: used when the inputs are unchanged, never when they changed.

A stale answer here would be the worst kind of bug (an `up` at start-up that says "nothing
to apply" while a migration is pending), so most of these tests change the database or a
file in the smallest way possible, straight after an answer was cached, and check that the
next answer sees it.
"""

from __future__ import annotations

import json
import os
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from nbmigrate import config, readcache, render, snapshot
from nbmigrate.readcache import LedgerRows, LedgerSummary
from tests.conftest import run_cli, sql_migration, with_manager


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "cache"
    monkeypatch.setenv(readcache.CACHE_DIR_VARIABLE, str(path))
    return path


def settings(url: str, directory: Path) -> config.Settings:
    return config.resolve(url, directory)


def db_path(url: str) -> Path:
    return Path(url[len("sqlite:///") :])


def applied(url: str, directory: Path, count: int = 3) -> None:
    for i in range(1, count + 1):
        sql_migration(
            directory, f"{i:03d}", f"step_{i}", f"CREATE TABLE t{i} (id INTEGER);", f"DROP TABLE t{i};"
        )

    async def up(m: object) -> object:
        return await m.up()  # type: ignore[attr-defined]

    with_manager(url, directory, up)


def execute(url: str, sql: str) -> None:
    with closing(sqlite3.connect(db_path(url))) as conn:
        conn.execute(sql)
        conn.commit()


def entries(cache: Path, kind: str) -> list[Path]:
    return sorted(cache.glob(f"{kind}-*.json")) if cache.exists() else []


def test_an_unchanged_database_is_answered_from_the_cache(
    sqlite_url: str, migrations_dir: Path, cache: Path
) -> None:
    applied(sqlite_url, migrations_dir)
    s = settings(sqlite_url, migrations_dir)
    assert snapshot.nothing_to_apply(s, None) is not None
    [entry] = entries(cache, "ledger")
    state = readcache.database_state(db_path(sqlite_url))
    assert state is not None and json.loads(entry.read_text().splitlines()[0])["state"] == state

    # Plant a different ledger under the same state: the next answers come from it, proving
    # the file is not read again (and so that the state alone must name the content).
    summary = LedgerSummary(present=True, adopted=True, versions=[("001", "applied")])
    readcache.store_ledger(
        db_path(sqlite_url), state, summary, LedgerRows(["version", "name"], [["001", "x"]])
    )
    assert snapshot.nothing_to_apply(s, None) is None  # 002 and 003 now look pending
    report = snapshot.status(s)
    assert report is not None
    assert [m.state.value for m in report.migrations] == ["applied", "pending", "pending"]


@pytest.mark.parametrize(
    "change",
    [
        "DELETE FROM _migrations WHERE version = '003'",
        "UPDATE _migrations SET status = 'failed' WHERE version = '002'",
        # same size, same pages: only the change counter and the times move
        "UPDATE _migrations SET applied_at = '2000-01-01 00:00:00.000000' WHERE version = '001'",
        "CREATE TABLE unrelated (id INTEGER)",
    ],
)
def test_any_commit_right_after_an_answer_is_seen_by_the_next(
    sqlite_url: str, migrations_dir: Path, cache: Path, change: str
) -> None:
    applied(sqlite_url, migrations_dir)
    s = settings(sqlite_url, migrations_dir)
    for _ in range(3):  # within one timestamp tick, as often as not
        expected = render.to_json(snapshot.status(s))  # type: ignore[arg-type]
        assert snapshot.nothing_to_apply(s, None) is not None
        execute(sqlite_url, change)
        fresh = snapshot.status(s)
        assert fresh is not None
        answer = snapshot.nothing_to_apply(s, None)
        if change.startswith("CREATE"):
            assert render.to_json(fresh) == expected and answer is not None
            execute(sqlite_url, "DROP TABLE unrelated")
            continue
        assert render.to_json(fresh) != expected
        if not change.startswith("UPDATE _migrations SET applied_at"):
            assert answer is None  # a deleted or failed row means the engine must run
        engine = run_cli("--db", sqlite_url, "--dir", str(migrations_dir), "status", "--json").stdout
        assert render.to_json(fresh) == engine.rstrip("\n")
        break


def test_the_state_is_none_unless_the_file_can_be_read_from_outside(tmp_path: Path) -> None:
    db = tmp_path / "app.db"
    assert readcache.database_state(db) is None  # no file
    db.write_text("not a database, only text that happens to be long enough " * 3)
    assert readcache.database_state(db) is None
    db.unlink()
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("CREATE TABLE t (id INTEGER)")
        conn.commit()
    assert readcache.database_state(db) is not None
    journal = Path(f"{db}-journal")
    journal.write_bytes(b"\0" * 512)  # a write in progress, or a hot journal
    assert readcache.database_state(db) is None
    journal.write_bytes(b"")  # journal_mode=TRUNCATE leaves it empty: nothing in progress
    assert readcache.database_state(db) is not None
    journal.unlink()
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("INSERT INTO t VALUES (1)")
        conn.commit()
        assert readcache.database_state(db) is None  # commits do not reach the header in WAL mode
    assert readcache.database_state(db) is None  # still WAL mode, even with the -wal file gone


def test_a_wal_database_is_answered_without_the_cache(
    sqlite_url: str, migrations_dir: Path, cache: Path
) -> None:
    applied(sqlite_url, migrations_dir)
    execute(sqlite_url, "PRAGMA journal_mode=WAL")
    s = settings(sqlite_url, migrations_dir)
    assert snapshot.nothing_to_apply(s, None) is not None
    assert snapshot.status(s) is not None
    assert entries(cache, "ledger") == []
    execute(sqlite_url, "DELETE FROM _migrations WHERE version = '003'")
    assert snapshot.nothing_to_apply(s, None) is None


def test_a_damaged_or_foreign_entry_is_ignored(sqlite_url: str, migrations_dir: Path, cache: Path) -> None:
    applied(sqlite_url, migrations_dir)
    s = settings(sqlite_url, migrations_dir)
    expected = render.to_json(snapshot.status(s))  # type: ignore[arg-type]
    [entry] = entries(cache, "ledger")
    state = json.loads(entry.read_text().splitlines()[0])["state"]
    head = {"format": readcache.FORMAT, "state": state, "present": True, "adopted": True, "versions": []}
    for damaged in (
        "",
        "{not json",
        json.dumps([1, 2]),
        json.dumps({**head, "format": readcache.FORMAT + 1}),
        json.dumps(head),  # the second line (the rows) is missing
        json.dumps(head) + "\n" + json.dumps({"columns": ["version"], "rows": [["001", "extra"]]}),
        json.dumps({**head, "versions": 7}),
    ):
        entry.write_text(damaged)
        assert render.to_json(snapshot.status(s)) == expected  # type: ignore[arg-type]
        assert snapshot.nothing_to_apply(s, None) is not None


def test_an_unwritable_cache_changes_nothing_but_speed(
    sqlite_url: str, migrations_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    applied(sqlite_url, migrations_dir)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv(readcache.CACHE_DIR_VARIABLE, str(blocker / "cache"))  # cannot be created
    s = settings(sqlite_url, migrations_dir)
    assert snapshot.nothing_to_apply(s, None) is not None
    assert snapshot.status(s) is not None


def test_an_empty_setting_turns_the_cache_off(
    sqlite_url: str, migrations_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    applied(sqlite_url, migrations_dir)
    monkeypatch.setenv(readcache.CACHE_DIR_VARIABLE, "")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert readcache.cache_directory() is None
    s = settings(sqlite_url, migrations_dir)
    assert snapshot.nothing_to_apply(s, None) is not None and snapshot.status(s) is not None
    assert not (tmp_path / "xdg").exists()
    monkeypatch.delenv(readcache.CACHE_DIR_VARIABLE)
    assert readcache.cache_directory() == tmp_path / "xdg" / "nbmigrate"


def age(path: Path, seconds: float = 3600) -> None:
    """Move a file's mtime into the past (its ctime stays now: only the kernel sets that)."""
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns - int(seconds * 1e9)))


def states(s: config.Settings) -> list[str]:
    report = snapshot.status(s)
    assert report is not None
    return [m.state.value for m in report.migrations]


def file_edited_in_place(directory: Path) -> None:
    path = directory / "migration_002_step_2.sql"
    before = path.stat()
    path.write_text(path.read_text().replace("t2", "x2"))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # same size and mtime


def test_checksums_of_settled_files_are_remembered(
    sqlite_url: str, migrations_dir: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    applied(sqlite_url, migrations_dir)
    s = settings(sqlite_url, migrations_dir)
    snapshot.status(s)
    assert entries(cache, "checksums") == []  # every file was written just now: none trusted yet

    monkeypatch.setattr(readcache, "SETTLED_NS", 0)  # as if they had been left alone for a while
    assert states(s) == ["applied"] * 3
    [entry] = entries(cache, "checksums")
    files = json.loads(entry.read_text())["files"]
    assert sorted(files) == sorted(p.name for p in migrations_dir.iterdir())

    # Plant a wrong checksum for an unchanged stat: status trusts it, proving the file was not read.
    name = "migration_002_step_2.sql"
    files[name][4] = "0" * 64
    entry.write_text(json.dumps({"format": readcache.FORMAT, "files": files}))
    assert states(s) == ["applied", "changed", "applied"]


def test_an_edit_that_keeps_size_and_mtime_is_still_seen(
    sqlite_url: str, migrations_dir: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    applied(sqlite_url, migrations_dir)
    monkeypatch.setattr(readcache, "SETTLED_NS", 0)
    s = settings(sqlite_url, migrations_dir)
    path = migrations_dir / "migration_002_step_2.sql"
    age(path)
    before = path.stat()
    assert states(s) == ["applied"] * 3

    file_edited_in_place(migrations_dir)  # the ctime moved, nothing else
    assert path.stat().st_size == before.st_size and path.stat().st_mtime_ns == before.st_mtime_ns
    assert states(s) == ["applied", "changed", "applied"]


def test_files_gone_from_the_directory_leave_the_cache(
    sqlite_url: str, migrations_dir: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    applied(sqlite_url, migrations_dir)
    monkeypatch.setattr(readcache, "SETTLED_NS", 0)
    s = settings(sqlite_url, migrations_dir)
    snapshot.status(s)
    (migrations_dir / "migration_003_step_3.sql").unlink()
    assert states(s) == ["applied", "applied", "missing"]
    [entry] = entries(cache, "checksums")
    assert sorted(json.loads(entry.read_text())["files"]) == [
        "migration_001_step_1.sql",
        "migration_002_step_2.sql",
    ]


def test_the_cli_fills_and_uses_the_cache(sqlite_url: str, migrations_dir: Path, tmp_path: Path) -> None:
    applied(sqlite_url, migrations_dir)
    cache = tmp_path / "cli-cache"
    env = {readcache.CACHE_DIR_VARIABLE: str(cache)}
    args = ("--db", sqlite_url, "--dir", str(migrations_dir))
    first = run_cli(*args, "status", env=env)
    assert first.returncode == 0 and entries(cache, "ledger")
    again = run_cli(*args, "status", env=env)
    assert again.stdout == first.stdout
    assert "nothing to apply" in run_cli(*args, "up", env=env).stdout
    execute(sqlite_url, "DELETE FROM _migrations WHERE version = '002'")
    execute(sqlite_url, "DROP TABLE t2")
    out = run_cli(*args, "up", env=env)
    assert out.returncode == 0 and "applied 002" in out.stdout, out.stdout + out.stderr


def test_a_ledger_value_json_cannot_hold_is_not_cached(
    sqlite_url: str, migrations_dir: Path, cache: Path
) -> None:
    applied(sqlite_url, migrations_dir)
    execute(sqlite_url, "UPDATE _migrations SET description = x'00ff' WHERE version = '001'")
    s = settings(sqlite_url, migrations_dir)
    assert snapshot.nothing_to_apply(s, None) is not None
    assert entries(cache, "ledger") == [] and not list(cache.glob(".*.tmp"))


def test_status_output_is_printed_again_while_no_input_changed(
    sqlite_url: str, migrations_dir: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    applied(sqlite_url, migrations_dir)
    s = settings(sqlite_url, migrations_dir)
    first = snapshot.status_output(s, as_json=False)
    assert first == render.to_text(snapshot.status(s))  # type: ignore[arg-type]
    assert list(cache.glob("status-*.json")) == []  # the files are new: not trusted yet

    monkeypatch.setattr(readcache, "SETTLED_NS", 0)
    assert snapshot.status_output(s, as_json=False) == first
    [entry] = cache.glob("status-text-*.json")
    stored = json.loads(entry.read_text())
    assert stored["output"] == first
    # What is stored under the current key is what is printed: the proof it is not recomputed.
    entry.write_text(json.dumps({"key": stored["key"], "output": "planted"}))
    assert snapshot.status_output(s, as_json=False) == "planted"
    assert snapshot.status_output(s, as_json=True) == render.to_json(snapshot.status(s))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "change",
    [
        lambda url, d: execute(url, "UPDATE _migrations SET applied_at = '2000-01-01 00:00:00.000000'"),
        lambda url, d: file_edited_in_place(d),
        lambda url, d: (d / "migration_003_step_3.sql").unlink(),
        lambda url, d: (d / "migration_003_step_3.sql").rename(d / "migration_004_step_3.sql"),
        lambda url, d: sql_migration(d, "005", "later", "CREATE TABLE later (id INTEGER);"),
        lambda url, d: (d / "migration_notes.sql").write_text("-- a misnamed file: status refuses the set"),
    ],
    ids=["ledger row", "file edited", "file removed", "file renamed", "file added", "stray file"],
)
def test_status_output_follows_every_change(
    sqlite_url: str, migrations_dir: Path, cache: Path, monkeypatch: pytest.MonkeyPatch, change: object
) -> None:
    applied(sqlite_url, migrations_dir)
    monkeypatch.setattr(readcache, "SETTLED_NS", 0)
    s = settings(sqlite_url, migrations_dir)
    for as_json in (False, True):
        snapshot.status_output(s, as_json=as_json)
        assert snapshot.status_output(s, as_json=as_json) is not None  # stored, then printed again
    change(sqlite_url, migrations_dir)  # type: ignore[operator]
    for as_json in (False, True):
        args = ("--db", sqlite_url, "--dir", str(migrations_dir), "status", *(["--json"] if as_json else []))
        engine = run_cli(*args, env={readcache.CACHE_DIR_VARIABLE: ""})
        try:
            mine = snapshot.status_output(s, as_json=as_json)
        except Exception as exc:  # a stray file: both refuse the set
            assert engine.returncode != 0 and str(exc).splitlines()[0] in engine.stderr
            continue
        assert mine == engine.stdout.rstrip("\n")


def test_the_code_is_part_of_the_key(tmp_path: Path) -> None:
    package = tmp_path / "package"
    package.mkdir()
    (package / "render.py").write_text("WIDTH = 1\n")
    before = readcache.code_state(package)
    assert readcache.code_state(package) == before
    (package / "render.py").write_text("WIDTH = 22\n")
    assert readcache.code_state(package) != before


def test_a_recent_file_keeps_status_from_being_remembered(tmp_path: Path, migrations_dir: Path) -> None:
    sql_migration(migrations_dir, "001", "new", "CREATE TABLE t (id INTEGER);")
    assert readcache.listing_state(migrations_dir) is None
    for path in migrations_dir.iterdir():
        age(path)
    assert readcache.listing_state(migrations_dir) is None  # the ctime is still now
    assert readcache.listing_state(tmp_path / "absent") is None
