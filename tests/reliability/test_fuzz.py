"""Bad input, fuzzed with hypothesis: each gives a one-line error naming the problem, never a
traceback, never a change to the database.

Covered: migration file names, `.sql` marker parsing, Python modules that raise at import,
CLI argument lists (`nbmigrate.cli.main` in this process), the same lists through the shared
grammar the magics use (`nbmigrate.commands.parse`), `%%migration` arguments, names for `new`,
and database URLs (`parse_url`, and the CLI's output for them). Versions include non-ASCII
digits and huge numbers, names control characters, passwords every URL-special character and
one or two characters; "unexpected" in the output for typed input is a failure.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import string
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from nbmigrate import commands, config, urls
from nbmigrate.errors import ConfigError, InvalidMigrationSet, SourceError, UsageError
from nbmigrate.sources.discover import discover, looks_like_migration
from nbmigrate.sources.sqlfile import SqlTextError, parse_sql_migration
from nbmigrate.urls import DatabaseURL, parse_url
from tests.conftest import sql_migration

from . import harness
from .figures import record

pytestmark = pytest.mark.stress

FUZZ = settings(
    max_examples=harness.count(60, 2000),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
CHEAP = settings(FUZZ, max_examples=harness.count(100, 5000))

# Changing commands may change the database when they succeed; nothing else ever may.
CHANGING = {"up", "down", "redo", "mark", "unmark", "repair", "reset", "new", "restore"}


# -- a database and a directory every example starts from ------------------------------


class Workbench:
    """A SQLite file with 001-002 of three migrations applied; reset before each example."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.template_db = root / "template.db"
        self.template_dir = root / "template_migrations"
        self.db = root / "work" / "work.db"
        self.dir = root / "work" / "migrations"
        self.scratch = root / "scratch"
        self.scratch.mkdir(parents=True)
        self.template_dir.mkdir()
        for i, name in enumerate(["alpha", "beta", "gamma"], start=1):
            sql_migration(
                self.template_dir,
                f"00{i}",
                f"create_{name}",
                f"CREATE TABLE {name} (id INTEGER PRIMARY KEY, label TEXT);\n"
                f"INSERT INTO {name} (label) VALUES ('{name}');",
                f"DROP TABLE {name};",
            )
        url = f"sqlite:///{self.template_db}"
        done = harness.main("--db", url, "--dir", str(self.template_dir), "up", "002", "--no-backup")
        assert done.returncode == 0, done.stderr

    def reset(self) -> None:
        work = self.db.parent
        if work.exists():
            shutil.rmtree(work)
        work.mkdir()
        shutil.copy(self.template_db, self.db)
        shutil.copytree(self.template_dir, self.dir)

    @property
    def url(self) -> str:
        return f"sqlite:///{self.db}"

    @contextlib.contextmanager
    def environment(self) -> Iterator[None]:
        """Defaults pointing at the work database; the scratch folder as the current one."""
        saved = {k: os.environ.get(k) for k in ("NBMIGRATE_DATABASE_URL", "NBMIGRATE_MIGRATIONS")}
        os.environ["NBMIGRATE_DATABASE_URL"] = self.url
        os.environ["NBMIGRATE_MIGRATIONS"] = str(self.dir)
        try:
            with contextlib.chdir(self.scratch):
                yield
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> Workbench:
    return Workbench(tmp_path_factory.mktemp("fuzz"))


def _one_line_error(stderr: str) -> str:
    text = stderr.strip()
    assert text, "failed without saying why"
    lines = text.splitlines()
    assert len(lines) == 1, f"more than one line:\n{text}"
    return lines[0]


# -- migration file names ---------------------------------------------------------------

_name_chars = st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/\\")
_free_text = st.text(_name_chars, min_size=1, max_size=30)
# Unicode digits (`²`, `٥`: str.isdigit() says yes, int() may say no) and numbers past 20 digits.
_odd_digits = st.text(st.characters(whitelist_categories=("Nd", "No")), min_size=1, max_size=6)
_huge_numbers = st.integers(21, 5000).map(lambda n: "1" * n)
_versions = st.from_regex(r"[0-9]{0,6}", fullmatch=True) | _free_text | _odd_digits
_file_versions = _versions | st.integers(19, 150).map(lambda n: "9" * n)
_names = st.from_regex(r"[a-z0-9_]{1,12}", fullmatch=True) | _free_text
_extensions = st.sampled_from([".py", ".sql", ".PY", ".Sql", ".txt", "", ".sql.bak", ".py~"])
file_names = st.one_of(
    _free_text,
    st.builds("migration_{}_{}{}".format, _file_versions, _names, _extensions),
    st.builds("{}_{}{}".format, _file_versions, _names, _extensions),
    st.builds("migration{}{}".format, _free_text, _extensions),
).filter(lambda n: n not in (".", "..") and len(n.encode("utf-8")) <= 200)

_VALID_SQL = "-- up\nCREATE TABLE fuzz_named (id INTEGER);\n-- down\nDROP TABLE fuzz_named;\n"
_VALID_PY = 'async def up(db):\n    await db.execute("CREATE TABLE fuzz_named (id INTEGER)")\n'


@FUZZ
@given(name=file_names)
def test_fuzzed_file_names_are_accepted_or_named_in_a_one_line_error(bench: Workbench, name: str) -> None:
    bench.reset()
    path = bench.dir / name
    path.write_text(_VALID_PY if name.lower().endswith(".py") else _VALID_SQL, encoding="utf-8")
    before = harness.fingerprint(bench.db)
    try:
        found = discover(bench.dir)
    except InvalidMigrationSet as exc:
        # Named as the bad file, or as the one whose version it duplicates.
        assert len(exc.problems) == 1 and name in str(exc), str(exc)
        assert exc.problems[0].path.name in {name, *(p.name for p in bench.template_dir.iterdir())}
        accepted = False
    else:
        accepted = True
        ours = [m for m in found if m.path == path]
        assert len(ours) == (1 if looks_like_migration(name) else 0) or not looks_like_migration(name)
    done = harness.main("--db", bench.url, "--dir", str(bench.dir), "up", "--no-backup")
    assert not done.crashed and "unexpected" not in done.stderr, done.stderr
    if accepted:
        assert done.returncode in (0, 1)  # 1: e.g. a duplicate table, reported as a failed migration
    else:
        assert done.returncode == 1
        line = _one_line_error(done.stderr)
        assert line.startswith("error: invalid migration:") and name in line
    if done.returncode != 0:
        assert harness.fingerprint(bench.db) == before
    event(f"accepted={accepted} exit={done.returncode}")
    record("fuzz/file names", examples=1)


# -- .sql marker parsing ----------------------------------------------------------------

_markers = st.sampled_from(
    ["-- up", "-- down", "--up", "--DOWN", "-- Up ", "-- migrate:up", "-- migrate: down", "--  down  "]
)
_tricks = st.sampled_from(
    [
        "'-- up'",
        "'\n-- down\n'",
        "'it''s -- up'",
        '"\n-- down\n"',
        "/* -- up */",
        "/*\n-- down\n*/",
        "$$\n-- down\n$$",
        "$body$\n-- up\n$body$",
        "E'\\'\n-- down\n'",
        "[\n-- up\n]",
        "-- not a marker: up",
        "SELECT '-- up' AS x",
    ]
)
_statements = st.sampled_from(
    [
        "CREATE TABLE fz (id INTEGER);",
        "INSERT INTO alpha (label) VALUES ('fz');",
        "SELECT 1;",
        "-- a comment",
        "",
        "-- nbmigrate: transactional=false",
        "-- nbmigrate: transactional=maybe",
        "'unterminated",
        "/* unterminated",
        "$$ unterminated",
    ]
)
_inert = st.sampled_from(
    ["SELECT 1;", "SELECT 'x -- down';", "/* -- down\n-- up */ SELECT 2;", "SELECT $$\n-- down\n$$;"]
)
_fakes = st.sampled_from(
    ["'\n-- down\n'", "/*\n-- up\n*/", "$t$\n-- down\n$t$", '"\n-- up\n"', "-- down the road"]
)


_pieces = st.lists(_tricks | _statements | st.text(max_size=12), max_size=4).map("\n".join)
sql_texts = st.one_of(
    st.lists(_markers | _tricks | _statements | st.text(max_size=12), max_size=10).map("\n".join),
    st.builds("{}\n-- up\n{}\n-- down\n{}".format, _pieces, _pieces, _pieces),
    st.builds("-- up\n{}\n{}\n{}".format, _pieces, _markers, _pieces),
    st.builds(
        "{}\n-- up\n{}\n-- down\n{}".format,
        st.sampled_from(["", "-- a description", "-- nbmigrate: transactional=false"]),
        st.lists(_inert | _fakes, min_size=1, max_size=3).map("\n".join),
        st.lists(_inert | _fakes, max_size=3).map("\n".join),
    ),
)


@FUZZ
@given(text=sql_texts)
def test_fuzzed_sql_files_parse_or_fail_in_one_line_naming_the_file(bench: Workbench, text: str) -> None:
    bench.reset()
    try:
        parsed = parse_sql_migration(text)
    except SqlTextError as exc:
        assert "\n" not in str(exc)
        parsed = None
    if parsed is not None:
        assert parsed.up.strip()
    path = bench.dir / "migration_004_fuzzed.sql"
    path.write_text(text, encoding="utf-8")
    before = harness.fingerprint(bench.db)
    done = harness.main("--db", bench.url, "--dir", str(bench.dir), "up", "003", "--no-backup")
    assert not done.crashed
    if parsed is None:  # bad input: refused before anything ran, even 003 which is fine
        assert done.returncode == 1
        line = _one_line_error(done.stderr)
        assert line.startswith("error: invalid migration: migration_004_fuzzed.sql: ")
        assert harness.fingerprint(bench.db) == before
    else:
        assert done.returncode == 0, done.stderr
    event("parsed" if parsed is not None else "refused")
    record("fuzz/sql marker files", examples=1)


@CHEAP
@given(up=st.lists(_inert | _fakes, min_size=1, max_size=5), down=st.lists(_inert | _fakes, max_size=5))
def test_markers_inside_strings_comments_and_dollar_quotes_are_not_markers(
    up: list[str], down: list[str]
) -> None:
    up_sql = "\n".join([*up, "SELECT 1;"])
    down_sql = "\n".join(down)
    parsed = parse_sql_migration(f"-- up\n{up_sql}\n-- down\n{down_sql}\n")
    assert parsed.up == up_sql.strip()
    if parsed.down is not None:
        assert parsed.down == down_sql.strip()
    record("fuzz/markers inside quotes and comments", examples=1)


# -- Python migrations that raise at import ---------------------------------------------

_raisers = st.sampled_from(
    [
        "raise {exc}({msg!r})",
        "import nbmigrate_no_such_module_{tag}",
        "from nbmigrate import NoSuchThing_{tag}",
        "undefined_name_{tag}",
        "1 / 0",
        "{{}}[{msg!r}]",
        "assert False, {msg!r}",
        "import sys; sys.exit({msg!r})",
        "raise SystemExit(3)",
        "class Boom(Exception):\n    pass\nraise Boom({msg!r})",
        "def f():\n    f()\nf()",
        "[][5]",
        "int({msg!r} + 'x')",
    ]
)
_exception_types = st.sampled_from(
    [
        "Exception",
        "ValueError",
        "TypeError",
        "RuntimeError",
        "KeyError",
        "OSError",
        "FileNotFoundError",
        "PermissionError",
        "ImportError",
        "ModuleNotFoundError",
        "AttributeError",
        "NotImplementedError",
        "ZeroDivisionError",
        "UnicodeError",
        "LookupError",
        "TimeoutError",
        "ConnectionError",
        "RecursionError",
        "MemoryError",
        "StopIteration",
        "StopAsyncIteration",
        "SystemExit",
    ]
)
_messages = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=40)


@FUZZ
@given(
    raiser=_raisers,
    exc=_exception_types,
    msg=_messages,
    where=st.sampled_from(["before", "after"]),
    tag=st.integers(0, 10**6),
)
def test_python_migrations_that_raise_at_import_fail_in_one_line(
    bench: Workbench, raiser: str, exc: str, msg: str, where: str, tag: int
) -> None:
    bench.reset()
    statement = raiser.format(exc=exc, msg=msg, tag=tag)
    body = 'async def up(db):\n    await db.execute("CREATE TABLE never (id INTEGER)")\n'
    source = f"{statement}\n\n{body}" if where == "before" else f"{body}\n{statement}\n"
    (bench.dir / "migration_004_raises.py").write_text(source, encoding="utf-8")
    before = harness.fingerprint(bench.db)
    status = harness.main("--db", bench.url, "--dir", str(bench.dir), "status")
    assert status.returncode == 0 and not status.crashed  # status does not import
    done = harness.main("--db", bench.url, "--dir", str(bench.dir), "up", "--no-backup")
    assert not done.crashed
    assert done.returncode == 1
    line = _one_line_error(done.stderr)
    assert line.startswith("error: invalid migration: migration_004_raises.py: "), line
    assert harness.fingerprint(bench.db) == before  # not even 003 ran
    event(line.split(": ", 3)[-1].split(" ")[1] if "raised" in line else line.split(": ", 3)[-1][:20])
    record("fuzz/python import errors", examples=1)


# -- CLI arguments and the magics' grammar ----------------------------------------------

_COMMAND_NAMES = sorted(commands.COMMANDS)
_OPTIONS = [
    "--db", "--dir", "--json", "--strict", "--lock-timeout", "-v", "--verbose", "--dry-run",
    "--atomic", "--retry", "--to", "--steps", "--all", "--sql", "--python", "--limit", "--yes",
    "--no-backup", "--help", "-h", "--", "-", "--bogus", "-x",
]  # fmt: skip
_VALUES = [
    "001", "002", "003", "004", "1", "0", "999", "00001", "abc", "-1", "", " ", "1e3", "nan",
    "inf", "0.1", "5", "x", "add_thing", "Bad Name", "a/b", "alpha", "sqlite:///:memory:",
    ":memory:", "mysql://h/db", "sqlite:///", "sqlite:///missing_dir/x.db", "nofile.txt",
    "x.db", "notes.sqlite", "migrations", "nodir", "20261124", "'", '"', "--db=x.db",
    "²²²", "٠٠٥", "00١", "1" * 21, "9" * 5000, str(10**30), "-inf", "Infinity", "1e300", "1_0",
    "abc\n", "a\tb", "x\x1b[1m", "\x00",
]  # fmt: skip
_SAFE_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=10).filter(
    lambda s: not s.startswith(("/", "~", "--de")) and ".." not in s and "://" not in s
)
_tokens = (
    st.sampled_from(_COMMAND_NAMES)
    | st.sampled_from(_OPTIONS)
    | st.sampled_from(_VALUES)
    | _SAFE_TEXT
    | _odd_digits
    | _huge_numbers
)
_PLAUSIBLE = {
    "up": ["002", "003", "--dry-run", "--atomic", "--retry", "--no-backup", "--json"],
    "down": ["--to", "001", "--steps", "1", "--all", "--dry-run", "--no-backup"],
    "redo": ["--no-backup", "--json"],
    "new": ["add_thing", "--sql", "--python", "abc\n", "a\x07b"],
    "history": ["001", "--limit", "3", "--json", str(10**30)],
    "mark": ["003", "001", "--json", "²²²", "٠٠٣"],
    "unmark": ["002", "003"],
    "show": ["001", "009"],
    "schema": ["alpha", "nothing"],
    "reset": ["--yes", "--no-backup"],
    "restore": ["20991231", "--json"],
}


def _plausible(command: str) -> st.SearchStrategy[list[str]]:
    extra = st.lists(st.sampled_from(_PLAUSIBLE.get(command, ["--json", "--strict", "-v"])), max_size=3)
    return extra.map(lambda rest: [command, *rest])


argv_lists = st.one_of(
    st.lists(_tokens, max_size=7),
    st.tuples(st.sampled_from(_COMMAND_NAMES), st.lists(_tokens, max_size=5)).map(lambda t: [t[0], *t[1]]),
    st.sampled_from(_COMMAND_NAMES).flatmap(_plausible),
)


def _workbench_paths(bench: Workbench) -> list[str]:
    return [bench.url, str(bench.db), str(bench.dir)]


@FUZZ
@given(argv=argv_lists, data=st.data())
def test_fuzzed_cli_arguments_exit_0_1_or_2_without_traceback(
    bench: Workbench, argv: list[str], data: st.DataObject
) -> None:
    if data.draw(st.booleans()):  # sometimes name the work database and folder explicitly
        argv = [*argv, data.draw(st.sampled_from(["--db", "--dir"])), *_workbench_paths(bench)[:1]]
    bench.reset()
    before = harness.fingerprint(bench.db)
    with bench.environment():
        try:
            ns = commands.parse(argv)
        except (UsageError, commands.HelpShown):
            ns = None
        done = harness.main(*argv)
    assert done.returncode in (0, 1, 2), (argv, done.returncode, done.stderr)
    assert "Traceback" not in done.stdout + done.stderr, (argv, done.stderr)
    assert "unexpected" not in done.stdout + done.stderr, (argv, done.stderr)  # all of it was typed
    if done.returncode == 2:
        _one_line_error(done.stderr)
    if done.returncode == 1 and not (ns is not None and ns.command == "validate"):
        assert done.stderr.startswith("error: "), (argv, done.stderr)
    may_change = (
        done.returncode == 0
        and ns is not None
        and ns.command in CHANGING
        and not getattr(ns, "dry_run", False)
    )
    if not may_change:
        assert harness.fingerprint(bench.db) == before, (argv, done.stdout, done.stderr)
    event(f"exit {done.returncode}" + (f" {ns.command}" if ns is not None else ""))
    record("fuzz/cli arguments", examples=1)


@CHEAP
@given(argv=argv_lists)
def test_fuzzed_magic_arguments_parse_or_fail_in_one_line(argv: list[str]) -> None:
    try:
        ns = commands.parse(argv)
    except UsageError as problem:
        message = str(problem).strip()
        typed = sum(a.count("\n") for a in argv)  # a newline inside an argument is echoed as typed
        assert message and message.count("\n") <= typed, message
    except commands.HelpShown as shown:
        assert str(shown).strip()
    else:
        assert ns.command in commands.COMMANDS
    _magic_line(shlex.join(argv))
    record("fuzz/magic arguments", examples=1)


@CHEAP
@given(line=st.text(max_size=40))
def test_fuzzed_raw_magic_lines_parse_or_fail_in_one_line(line: str) -> None:
    assume("://" not in line)
    _magic_line(line)
    record("fuzz/magic lines", examples=1)


def _magic_line(line: str) -> None:
    """The `%migrate` line parser: a Namespace, None (help shown) or a one-line UsageError."""
    magics = pytest.importorskip("nbmigrate.notebook.magics")
    parse = getattr(magics, "_parse", None)
    if parse is None:
        pytest.skip("nbmigrate.notebook.magics has no _parse")
    from IPython.core.error import UsageError

    with contextlib.redirect_stdout(None):
        try:
            parse(line)
        except UsageError as exc:
            assert str(exc).strip() and "\n" not in str(exc).strip(), str(exc)
            assert "unexpected" not in str(exc), str(exc)


# -- names for `new` and `%%migration` arguments -------------------------------------------

_control = st.characters(whitelist_categories=("Cc", "Cf", "Zl", "Zp", "Zs"))
_typed_names = st.one_of(
    st.from_regex(r"[a-z0-9_]{1,12}", fullmatch=True),
    st.builds("{}{}{}".format, st.from_regex(r"[a-z_]{0,6}", fullmatch=True), _control, st.text(max_size=4)),
    st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=20),
    st.integers(90, 400).map(lambda n: "n" * n),
).filter(lambda n: "\x00" not in n)  # no process takes NUL in its arguments


@FUZZ
@given(name=_typed_names, kind=st.sampled_from([[], ["--sql"], ["--python"]]))
def test_fuzzed_names_for_new_write_a_usable_file_or_fail_in_one_line(
    bench: Workbench, name: str, kind: list[str]
) -> None:
    bench.reset()
    files = sorted(p.name for p in bench.dir.iterdir())
    before = harness.fingerprint(bench.db)
    done = harness.main("--db", bench.url, "--dir", str(bench.dir), "new", name, *kind)
    assert done.returncode in (0, 2) and not done.crashed, (name, done.stderr)
    assert "unexpected" not in done.stdout + done.stderr, (name, done.stderr)
    if done.returncode == 2:
        assert _one_line_error(done.stderr).startswith("error: migration name "), done.stderr
        assert sorted(p.name for p in bench.dir.iterdir()) == files
    later = harness.main("--db", bench.url, "--dir", str(bench.dir), "status")  # nothing left broken
    assert later.returncode == 0, (name, later.stderr)
    assert harness.fingerprint(bench.db) == before
    event(f"new exit {done.returncode}")
    record("fuzz/new names", examples=1)


_magic_versions = st.one_of(
    st.from_regex(r"[0-9]{1,6}", fullmatch=True), _odd_digits, _huge_numbers, st.text(max_size=8)
)


@CHEAP
@given(version=_magic_versions, name=_typed_names)
def test_fuzzed_migration_cell_arguments_parse_or_fail_in_one_line(version: str, name: str) -> None:
    magics = pytest.importorskip("nbmigrate.notebook.magics")
    from IPython.core.error import UsageError
    from IPython.core.magic_arguments import parse_argstring

    line = shlex.join([version, name])
    try:
        args = parse_argstring(magics.NbMigrate.migration, line)
    except UsageError as exc:
        message = str(exc).strip()
        assert message and "\n" not in message and "unexpected" not in message, message
        accepted = False
    else:
        accepted = True
        assert args.version.isascii() and args.version.isdigit() and 3 <= len(args.version) <= 20
        assert args.name == name and re.fullmatch(r"[a-z0-9_]{1,100}", name), name
    event(f"accepted={accepted}")
    record("fuzz/migration cell arguments", examples=1)


# -- database URLs ----------------------------------------------------------------------

_USERINFO = string.ascii_letters + string.digits + "-._~!$&'()*+,;=:%"
_passwords = st.text(st.sampled_from(_USERINFO), min_size=1, max_size=12).map(lambda s: f"Pw{s}Zq")
_schemes = st.sampled_from(
    ["postgresql", "postgres", "postgresql+asyncpg", "POSTGRESQL", "sqlite", "mysql", "mssql+pyodbc", "x"]
)
_hosts = st.sampled_from(["127.0.0.1", "", "localhost", "[::1]", "[bad", "h_ost", "db.example"])
_ports = st.sampled_from(["", ":5432", ":0", ":99999", ":abc", ":", ":-1"])
_rest = st.sampled_from(["/db", "", "/", "/db?sslmode=disable", "/db?host=/tmp", "/a/b", "?x=1"])


@CHEAP
@given(
    scheme=_schemes,
    user=st.sampled_from(["app", "", "u.ser"]),
    password=_passwords,
    host=_hosts,
    port=_ports,
    rest=_rest,
)
def test_urls_with_passwords_never_show_them(
    scheme: str, user: str, password: str, host: str, port: str, rest: str
) -> None:
    url = f"{scheme}://{user}:{password}@{host}{port}{rest}"
    try:
        parsed = parse_url(url)
    except ConfigError as exc:
        assert password not in str(exc), str(exc)
        assert "\n" not in str(exc)
    else:
        assert isinstance(parsed, DatabaseURL)
        assert password not in parsed.masked and password not in str(parsed)
    record("fuzz/database urls", examples=1)


@CHEAP
@given(text=st.text(max_size=60) | st.builds("{}://{}".format, _schemes, st.text(max_size=30)))
def test_any_text_as_a_url_parses_or_raises_config_error(text: str) -> None:
    try:
        parsed = parse_url(text)
    except ConfigError as exc:
        assert str(exc)
    else:
        assert parsed.dialect in ("sqlite", "postgresql")
    record("fuzz/database urls", examples=1)


# URL-special characters, alone or among letters; one- and two-character passwords included.
_SPECIAL = "/#?@:% &=+;,'\"<>\\[]!$*~.-_"
_odd_passwords = st.one_of(
    st.text(st.sampled_from(_SPECIAL), min_size=1, max_size=3),
    st.text(st.sampled_from(_SPECIAL + "aZ9é"), min_size=1, max_size=12),
    st.text(st.sampled_from(string.ascii_letters + string.digits), min_size=1, max_size=2),
).filter(lambda p: p.strip("*"))  # a password of asterisks looks like its own mask
_spellings = st.sampled_from(["raw", "encoded", "encoded-keep-@:%"])


def _spelled(password: str, how: str) -> str:
    if how == "raw":
        return password
    return quote(password, safe="" if how == "encoded" else "@:%")


def _assert_no_password(text: str, password: str, written: str) -> None:
    """Never in URL position, in any spelling: as written, decoded or percent-encoded."""
    for form in {password, written, quote(password, safe=""), quote(password)}:
        assert f":{form}@" not in text, (form, text)
    assert set(re.findall(r"password=([^&#\s\"'<>]*)", text)) <= {"***"}, text


@CHEAP
@given(password=_odd_passwords, how=_spellings, in_query=st.booleans())
def test_odd_and_short_passwords_never_show_in_parses_reprs_or_errors(
    password: str, how: str, in_query: bool
) -> None:
    written = _spelled(password, how)
    if in_query:
        url = f"postgresql://app@127.0.0.1:1/db?password={quote(password, safe='')}"
    else:
        url = f"postgresql://app:{written}@127.0.0.1:1/db"
    try:
        parsed = parse_url(url)
    except ConfigError as exc:
        texts = [str(exc), repr(exc)]
        assert "\n" not in str(exc)
    else:
        settings = config.Settings(parsed, Path("migrations"))
        texts = [parsed.masked, str(parsed), repr(parsed), repr(settings), json.dumps({"db": parsed.masked})]
        if parsed.server is not None and not in_query:
            assert parsed.server.password == urls._decoded(written)
    texts.append(urls.mask_password(f"echo {url} and <a href='{url}'>"))
    for text in texts:
        _assert_no_password(text, password, written)
    event("refused" if len(texts) == 3 else "parsed")
    record("fuzz/odd passwords", examples=1)


@FUZZ
@given(
    password=_odd_passwords,
    how=_spellings,
    args=st.sampled_from([["status", "--json"], ["--debug", "up"], ["history"]]),
)
def test_odd_and_short_passwords_never_show_in_cli_output(
    bench: Workbench, password: str, how: str, args: list[str]
) -> None:
    written = _spelled(password, how)
    url = f"postgresql://app:{written}@127.0.0.1:1/db?connect_timeout=2"  # nothing listens on port 1
    with bench.environment():
        done = harness.main("--db", url, *args)
    assert done.returncode in (1, 2), (url, done.stderr)
    assert "unexpected" not in done.stdout + done.stderr, done.stderr
    _assert_no_password(done.stdout + done.stderr, password, written)
    if done.returncode == 2 and "--debug" not in args:
        assert "percent-encode" in done.stdout + done.stderr, done.stderr
    event(f"exit {done.returncode}")
    record("fuzz/odd passwords in cli output", examples=1)


# -- SourceError carries the file, always ------------------------------------------------


def test_source_errors_name_their_file(tmp_path: Path) -> None:
    (tmp_path / "migration_1_short.sql").write_text(_VALID_SQL)
    with pytest.raises(InvalidMigrationSet) as caught:
        discover(tmp_path)
    (problem,) = caught.value.problems
    assert isinstance(problem, SourceError) and problem.path.name == "migration_1_short.sql"
