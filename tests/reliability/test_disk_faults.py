"""Full and read-only disks: every file nbmigrate writes fails in one line naming it, nothing partial left.

The faults are real: a 1 MiB tmpfs filled up, or remounted read-only (root, as on the test
machine). Without root a read-only folder is made with chmod (permission denied) and the
full-disk cases are skipped. What is left is checked on disk and with sqlite3 directly.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest
from nbformat import write as write_notebook
from nbformat.v4 import new_code_cell, new_notebook

from tests.conftest import sql_migration

from . import harness

ROOT_USER = os.geteuid() == 0
FULL = "the disk is full"
READ_ONLY = "the file system is read-only (EROFS)" if ROOT_USER else "permission denied (EACCES)"

T_UP = ("001", "t", "CREATE TABLE t (id INTEGER);", "DROP TABLE t;")


@contextmanager
def _tmpfs(where: Path, size: str = "1m") -> Iterator[Path]:
    where.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    """A real 1 MiB file system; root only."""
    if not ROOT_USER:
        pytest.skip("a small real file system needs root (mount -t tmpfs)")
    with _tmpfs(tmp_path / "disk") as mount:
        yield mount


def fill(mount: Path, leave: int = 0) -> None:
    """Fill the file system, leaving about `leave` bytes free."""
    stat = os.statvfs(mount)
    free = stat.f_bavail * stat.f_frsize
    with open(mount / "filler", "ab") as f:
        f.write(bytes(max(free - leave, 0)))
    if leave == 0:  # tmpfs rounds to pages: top it up to the last byte
        try:
            with open(mount / "filler", "ab") as f:
                while True:
                    f.write(bytes(4096))
                    f.flush()
        except OSError:
            pass


def make_read_only(path: Path) -> None:
    """Root: remount the tmpfs read-only (EROFS). Otherwise: chmod the folder (EACCES)."""
    if ROOT_USER:
        subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True)
    else:
        path.chmod(0o555)


@pytest.fixture
def read_only_place(tmp_path: Path) -> Iterator[Path]:
    """A folder that will be made unwritable by `make_read_only`."""
    if ROOT_USER:
        with _tmpfs(tmp_path / "ro") as mount:
            yield mount
    else:
        folder = tmp_path / "ro"
        folder.mkdir()
        yield folder
        folder.chmod(0o755)


def cli(db: Path, directory: Path, *args: str) -> harness.Finished:
    done = harness.run("--db", f"sqlite:///{db}", "--dir", str(directory), *args)
    assert not done.crashed, done.stderr
    return done


def the_line(done: harness.Finished) -> str:
    """A failure: exit 1, one line on stderr, never "unexpected"."""
    assert done.returncode == 1, (done.returncode, done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "unexpected" not in lines[0] and "Traceback" not in done.stderr
    return lines[0]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def ledger(db: Path) -> list[tuple[str, str]]:
    with closing(sqlite3.connect(db)) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "_migrations" not in tables:
            return []
        return [tuple(r) for r in conn.execute("SELECT version, status FROM _migrations ORDER BY version")]


def tables(db: Path) -> set[str]:
    with closing(sqlite3.connect(db)) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def padded_database(path: Path, kib: int) -> None:
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("CREATE TABLE pad (b BLOB)")
        conn.execute("INSERT INTO pad VALUES (zeroblob(?))", (kib * 1024,))


def leftovers(folder: Path) -> list[str]:
    """Hidden temporary or partial files nbmigrate may have started."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".")) if folder.is_dir() else []


@pytest.fixture
def migrations(tmp_path: Path) -> Path:
    directory = tmp_path / "migrations"
    directory.mkdir()
    sql_migration(directory, *T_UP)
    return directory


# -- the lock file ---------------------------------------------------------------------


def test_a_lock_file_that_cannot_be_created_is_named(read_only_place: Path, migrations: Path) -> None:
    db = read_only_place / "app.db"
    padded_database(db, 1)
    before = digest(db)
    make_read_only(read_only_place)
    line = the_line(cli(db, migrations, "up", "--no-backup"))
    assert line == (f"error: cannot write the migration lock file {db}.nbmigrate-lock: {READ_ONLY}"), line
    assert digest(db) == before and "t" not in tables(db)


def test_a_full_disk_under_the_lock_holders_text_does_not_stop_the_run(
    disk: Path, tmp_path: Path, migrations: Path
) -> None:
    """The holder text is only informative: its write failing (ENOSPC) leaves the flock working."""
    db = tmp_path / "app.db"
    (disk / "lock").touch()
    Path(f"{db}.nbmigrate-lock").symlink_to(disk / "lock")
    fill(disk)
    with pytest.raises(OSError):  # the disk under the lock file really is full
        (disk / "probe").write_bytes(b"x")
    done = cli(db, migrations, "up")
    assert done.returncode == 0, done.stderr
    assert ledger(db) == [("001", "applied")] and "t" in tables(db)
    assert (disk / "lock").stat().st_size == 0


# -- the database file itself -----------------------------------------------------------


def test_a_full_disk_under_the_database_fails_the_migration_naming_the_file(
    disk: Path, migrations: Path
) -> None:
    db = disk / "app.db"
    assert cli(db, migrations, "up").returncode == 0  # the ledger and 001
    sql_migration(
        migrations,
        "002",
        "big",
        "CREATE TABLE big (b BLOB);\nINSERT INTO big VALUES (zeroblob(3000000));",
        "DROP TABLE big;",
    )
    done = cli(db, migrations, "up", "--no-backup")
    assert done.returncode == 1
    assert "unexpected" not in done.stderr and "Traceback" not in done.stderr
    assert "migration 002 (migration_002_big.sql) failed during up" in done.stderr
    assert f"cannot write the database {db}: {FULL}" in done.stderr
    assert "nothing of it was kept" in done.stderr
    assert ledger(db) == [("001", "applied")] and "big" not in tables(db)
    assert harness.inspect(f"sqlite:///{db}").integrity == "ok"


def test_a_read_only_database_file_is_named_at_the_start_of_the_run(
    read_only_place: Path, tmp_path: Path, migrations: Path
) -> None:
    """The lock file (a link to a writable place) can be written, the database not."""
    db = read_only_place / "app.db"
    padded_database(db, 1)
    (tmp_path / "lock").touch()
    Path(f"{db}.nbmigrate-lock").symlink_to(tmp_path / "lock")
    before = digest(db)
    make_read_only(read_only_place)
    line = the_line(cli(db, migrations, "up", "--no-backup"))
    if ROOT_USER:
        assert line.startswith(f"error: cannot write the database {db}: the file is read-only"), line
    else:  # SQLite cannot create its journal in the folder
        assert line.startswith(f"error: cannot write the database {db}: "), line
    assert digest(db) == before


# -- backups ----------------------------------------------------------------------------


def test_a_backup_on_a_full_disk_fails_in_one_line_and_leaves_nothing(disk: Path, migrations: Path) -> None:
    db = disk / "app.db"
    padded_database(db, 300)
    fill(disk, leave=100_000)  # room for the lock file and a journal, not for a 300 KiB copy
    line = the_line(cli(db, migrations, "up"))
    assert line.startswith(f"error: cannot write a backup of app.db to {disk}/app.db.backups/"), line
    assert f"-up.db: {FULL}" in line and "; `up --no-backup` goes on without one" in line
    assert leftovers(disk / "app.db.backups") == []  # no .partial, no journal
    assert "t" not in tables(db) and ledger(db) == []  # at most the empty ledger was created
    assert "pad" in tables(db)


def test_a_backup_into_a_read_only_folder_fails_in_one_line(
    tmp_path: Path, read_only_place: Path, migrations: Path
) -> None:
    db = tmp_path / "app.db"
    padded_database(db, 1)
    (read_only_place / "backups").mkdir()
    Path(f"{db}.backups").symlink_to(read_only_place / "backups")
    make_read_only(read_only_place)
    line = the_line(cli(db, migrations, "up"))
    assert line.startswith(f"error: cannot write a backup of app.db to {db}.backups/"), line
    assert f"-up.db: {READ_ONLY}" in line
    assert "t" not in tables(db) and ledger(db) == []
    assert leftovers(read_only_place / "backups") == []


def test_restore_on_a_full_disk_needs_no_backup_and_then_works(disk: Path, migrations: Path) -> None:
    """Saving the current state first needs a full copy; --no-backup skips it."""
    db = disk / "app.db"
    assert cli(db, migrations, "up").returncode == 0  # backup of the empty file, then 001
    with closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("CREATE TABLE pad (b BLOB)")
        conn.execute("INSERT INTO pad VALUES (zeroblob(300000))")
    before = digest(db)
    fill(disk, leave=120_000)

    line = the_line(cli(db, migrations, "restore"))
    assert line.startswith(f"error: cannot write a backup of app.db to {disk}/app.db.backups/"), line
    assert f"-restore.db: {FULL}" in line and "; `restore --no-backup` goes on without one" in line
    assert digest(db) == before  # not restored
    assert leftovers(disk / "app.db.backups") == []

    done = cli(db, migrations, "restore", "--no-backup")
    assert done.returncode == 0, done.stderr
    assert "was not saved (--no-backup)" in done.stdout
    assert "pad" not in tables(db) and "t" not in tables(db)  # the state before `up`
    assert [p.name.endswith("-up.db") for p in (disk / "app.db.backups").iterdir()] == [True]


def test_a_restore_that_does_not_fit_leaves_the_database_as_it_was(disk: Path, migrations: Path) -> None:
    db = disk / "app.db"
    padded_database(db, 300)
    assert cli(db, migrations, "up").returncode == 0  # backup of the 300 KiB file
    with closing(sqlite3.connect(db, isolation_level=None)) as conn:
        conn.execute("DELETE FROM pad")
        conn.execute("VACUUM")
    before = digest(db)
    fill(disk)
    line = the_line(cli(db, migrations, "restore", "--no-backup"))
    assert line.startswith("error: cannot write the restored copy of "), line
    assert f"-up.db into {db}: {FULL}" in line and "the database is unchanged" in line
    assert digest(db) == before
    assert ledger(db) == [("001", "applied")]


# -- new migration files ----------------------------------------------------------------


def test_new_on_a_full_disk_names_the_file_and_leaves_no_temporary(disk: Path, tmp_path: Path) -> None:
    directory = disk / "migrations"
    directory.mkdir()
    sql_migration(directory, *T_UP)
    fill(disk)
    line = the_line(cli(tmp_path / "app.db", directory, "new", "add_email"))
    assert (
        line
        == f"error: cannot write the migration file {directory}/migration_002_add_email.sql: {FULL} (ENOSPC)"
    )
    assert sorted(p.name for p in directory.iterdir()) == ["migration_001_t.sql"]


def test_new_in_a_read_only_folder_names_the_file(read_only_place: Path, tmp_path: Path) -> None:
    directory = read_only_place
    sql_migration(directory, *T_UP)
    make_read_only(read_only_place)
    line = the_line(cli(tmp_path / "app.db", directory, "new", "add_email", "--python"))
    assert (
        line == f"error: cannot write the migration file {directory}/migration_002_add_email.py: {READ_ONLY}"
    )


def test_a_migration_cell_in_a_read_only_folder_fails_short(
    read_only_place: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    from nbmigrate.errors import FileSystemFault
    from nbmigrate.notebook import magics

    for key in [k for k in os.environ if k.startswith("NBMIGRATE_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / ".ipython"))
    monkeypatch.chdir(tmp_path)
    make_read_only(read_only_place)
    InteractiveShell.clear_instance()
    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    shell = InteractiveShell.instance(config=config)
    shell.run_line_magic("load_ext", "nbmigrate")
    try:
        shell.run_line_magic("migrate", f"connect sqlite:///{tmp_path / 'nb.db'} --dir {read_only_place}")
        result = shell.run_cell(
            "%%migration 001 t\n-- up\nCREATE TABLE t (id INTEGER);\n-- down\nDROP TABLE t;\n"
        )
    finally:
        shell.run_line_magic("unload_ext", "nbmigrate")
        InteractiveShell.clear_instance()
    failure = result.error_in_exec
    assert isinstance(failure, magics.CellFailure) and isinstance(failure.error, FileSystemFault)
    expected = (
        f"FileSystemFault: cannot write the migration file {read_only_place}/migration_001_t.sql: {READ_ONLY}"
    )
    assert failure._render_traceback_() == [expected]
    assert list(read_only_place.iterdir()) == []


# -- the runbook's executed copy --------------------------------------------------------


@pytest.mark.timeout(240)
def test_the_runbooks_executed_copy_on_a_full_or_read_only_disk(
    disk: Path, tmp_path: Path, migrations: Path
) -> None:
    notebook = tmp_path / "book.ipynb"
    write_notebook(new_notebook(cells=[new_code_cell("print(6 * 7)")]), notebook)
    db = tmp_path / "app.db"
    out = disk / "out"
    out.mkdir()
    fill(disk)
    done = harness.run(
        "--db", f"sqlite:///{db}", "--dir", str(migrations), "runbook", str(notebook), "--output", f"{out}/"
    )
    line = the_line(done)
    assert line.startswith(f"error: cannot write the runbook's executed copy {out}/book."), line
    assert line.endswith(f".ipynb: {FULL} (ENOSPC); the notebook ran to the end"), line
    assert list(out.iterdir()) == []

    (disk / "filler").unlink()
    make_read_only(disk)
    done = harness.run(
        "--db", f"sqlite:///{db}", "--dir", str(migrations), "runbook", str(notebook), "--output", f"{out}/"
    )
    line = the_line(done)
    assert line.endswith(".ipynb: the file system is read-only (EROFS); the notebook ran to the end"), line
    assert list(out.iterdir()) == []


def test_backups_json_of_a_folder_nbmigrate_cannot_clean_still_answers(disk: Path, migrations: Path) -> None:
    """A partial backup on a read-only disk: `backups` (which takes no lock) still reports it."""
    db = disk / "app.db"
    assert cli(db, migrations, "up").returncode == 0
    partial = disk / "app.db.backups" / ".20260101T000000.000000Z-up-1.partial"
    partial.write_bytes(bytes(4096))
    make_read_only(disk)
    usage = json.loads(cli(db, migrations, "backups", "--json").stdout)["usage"]
    assert usage["partial_files"] == 1 and usage["partial_bytes"] == 4096
    assert partial.exists()
