"""Passwords are masked whatever characters they hold (SPEC 7): raw `/ # ? @ : %`, spaces, one or
two characters; in CLI lines, JSON, reprs, log lines, --debug tracebacks, HTML and runbook copies.

A password that URL parsers would misread (a raw `/`, `?`, `#` or space) is a usage error that
says what to percent-encode; the others really connect (checked on the server, not through
nbmigrate), and the password shows nowhere.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import nbformat
import pytest
from nbformat.v4 import new_code_cell

from nbmigrate import cli, config
from nbmigrate.errors import ConfigError
from nbmigrate.urls import mask_password, parse_url, remember_password
from tests.conftest import _admin, _pg_database_url, query, run_cli, sql_migration


def forms(password: str) -> set[str]:
    """The spellings a password may take in output: as typed and percent-encoded."""
    return {password, quote(password, safe=""), quote(password)}


def assert_hidden(text: str, password: str) -> None:
    """Not in URL position in any spelling; a password of 4+ characters not anywhere at all."""
    for form in forms(password):
        assert f":{form}@" not in text, text
        assert f"password={form}" not in text, text
        if len(form) >= 4:
            assert form not in text, text


def explain(r: Any) -> str:
    return f"exit {r.returncode}\n--- stdout\n{r.stdout}\n--- stderr\n{r.stderr}"


# -- one parse, in config.py ------------------------------------------------------------


def test_the_password_runs_from_the_first_colon_to_the_last_at() -> None:
    url = parse_url("postgresql://me@corp:p@ss:w%25rd@db.example:5433/app?sslmode=disable")
    assert url.server is not None
    assert (url.server.user, url.server.password) == ("me@corp", "p@ss:w%rd")
    assert url.masked == "postgresql://me@corp:***@db.example:5433/app?sslmode=disable"
    assert str(url) == url.masked and repr(url) == f"DatabaseURL({url.masked!r})"
    settings = config.resolve(url.raw, "migrations")
    for shown in (repr(settings), str(settings), repr(url.server), repr([url])):
        assert "db.example:5433" in shown
        assert_hidden(shown, "p@ss:w%rd")
        assert_hidden(shown, "p@ss:w%25rd")
    assert parse_url("postgres://u@h/app").masked == "postgres://u@h/app"  # nothing to hide
    assert parse_url("postgres://u:@h/app").masked == "postgres://u:@h/app"


@pytest.mark.parametrize(
    ("password", "named"),
    [("99/slashPW", "%2F"), ("a#b", "%23"), ("q?x", "%3F"), ("p w", "%20"), ("/", "%2F"), ("?#", "%3F")],
)
def test_a_raw_slash_hash_question_mark_or_space_is_refused_naming_the_encoding(
    password: str, named: str
) -> None:
    raw = f"postgresql://postgres:{password}@127.0.0.1:5432/app"
    with pytest.raises(ConfigError) as caught:
        parse_url(raw)
    message = str(caught.value)
    assert named in message and "percent-encode" in message and "\n" not in message
    assert "127.0.0.1:5432/app" in message  # says which server
    assert_hidden(message, password)
    if len(password) > 2:  # a password of one or two of these characters is named as advice
        assert password not in message
    assert_hidden(mask_password(f"echoed: {raw}"), password)  # remembered although refused


def test_known_passwords_are_masked_in_url_position_only_in_every_spelling() -> None:
    remember_password("a")
    text = "postgresql://u:a@h/db: a cat sat at a@b (user:a@host)"
    assert mask_password(text) == "postgresql://u:***@h/db: a cat sat at a@b (user:***@host)"
    remember_password("%3C%26%C3%A9%3E")  # <&é>, written percent-encoded
    for spelled in ("<&é>", "%3C%26%C3%A9%3E", "&lt;&amp;é&gt;", "\\u00e9".join(["<&", ">"])):
        assert mask_password(f"x://u:{spelled}@h") == "x://u:***@h", spelled
    assert mask_password("postgresql://u@h/db?sslmode=disable&password=%3C%26%C3%A9%3E") == (
        "postgresql://u@h/db?sslmode=disable&password=***"
    )
    # unknown URLs by their shape, up to the last @ of the run, without eating HTML or JSON quoting
    assert mask_password('<td>postgresql://u:n3w@x@h/db</td>"') == '<td>postgresql://u:***@h/db</td>"'


# -- the CLI, JSON, --debug -------------------------------------------------------------


@pytest.mark.parametrize("password", ["99/slashPW", "x y", "#", "?"])
def test_the_cli_refuses_a_misread_password_in_one_line_and_never_shows_it(
    password: str, tmp_path: Path
) -> None:
    url = f"postgresql://postgres:{password}@127.0.0.1:5432/postgres"
    for args, env in (
        (["--db", url, "status"], None),
        (["--db", url, "status", "--json"], None),
        (["--debug", "up"], {"NBMIGRATE_DATABASE_URL": url}),
    ):
        r = run_cli(*args, cwd=tmp_path, env=env)
        assert r.returncode == 2, explain(r)
        assert_hidden(r.stdout + r.stderr, password)
        assert "unexpected" not in r.stderr and ("Traceback" in r.stderr) == ("--debug" in args), explain(r)
        if "--json" in args:
            assert "percent-encode" in json.loads(r.stdout)["error"]["message"]
        else:
            lines = r.stderr.splitlines()
            assert len(lines) == 1 or "--debug" in args, explain(r)
            assert lines[-1].startswith("error: PostgreSQL URL postgresql://***@127.0.0.1:5432/postgres: ")


@pytest.mark.parametrize("password", ["Zq", "@", ":", "%", "p@ss:w%rd"])
def test_debug_tracebacks_and_errors_mask_short_and_odd_passwords(password: str, tmp_path: Path) -> None:
    url = f"postgresql://user:{password}@127.0.0.1:1/db?connect_timeout=3"  # nothing listens on port 1
    for args in (["--debug", "--db", url, "status"], ["--db", url, "up", "--json"]):
        r = run_cli(*args, cwd=tmp_path)
        assert r.returncode == 1, explain(r)
        assert "user:***@127.0.0.1:1/db" in r.stdout + r.stderr, explain(r)
        assert_hidden(r.stdout + r.stderr, password)
        assert ("Traceback" in r.stderr) == ("--debug" in args), explain(r)


def test_in_process_debug_traceback_is_masked(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    url = "postgresql://user:Zq@127.0.0.1:99999/db"  # a bad port: a ConfigError with its traceback
    assert cli.main(["--debug", "--db", url, "--dir", str(tmp_path), "status"]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert "Traceback" in err and "user:***@127.0.0.1:99999/db" in err
    assert_hidden(err, "Zq")


# -- on a real server: odd passwords work and show nowhere ------------------------------

LOGGING_MIGRATION = '''"""Logs and fails with the URL it was given, as a careless migration might."""

import logging


async def up(db):
    logging.getLogger("nbmigrate.careless").warning("migrating %s", db.url.raw)
    await db.execute("CREATE TABLE careless (id INTEGER)")


async def down(db):
    raise RuntimeError(f"no way back from {db.url.raw}")
'''

ODD_PASSWORDS = ["p@ss:w", "x", "Zq", "@", ":", "%", "99/slash PW#?&=%@:'\"<>\\é"]


@pytest.fixture
def role(make_db_url: Callable[[str], str]) -> Iterator[Callable[[str], str]]:
    """A factory: role(password) -> the URL of a fresh database, as a new role with that password."""
    made: list[tuple[str, str]] = []

    def make(password: str) -> str:
        plain = make_db_url("postgresql")
        name = f"nbm_pw_{uuid.uuid4().hex[:8]}"
        literal = password.replace("'", "''")
        asyncio.run(_admin(f"CREATE ROLE {name} LOGIN PASSWORD '{literal}'"))
        made.append((name, plain))
        asyncio.run(_admin(f"GRANT ALL ON SCHEMA public TO {name}", plain))
        parts = urlsplit(plain)
        written = quote(password, safe="@:%")  # raw @ : % stay raw: nbmigrate reads them right
        return f"postgresql://{name}:{written}@{parts.netloc.rpartition('@')[2]}{parts.path}"

    yield make
    for name, plain in made:
        asyncio.run(_admin(f"DROP OWNED BY {name}", plain))
        asyncio.run(_admin(f"DROP ROLE {name}"))


@pytest.mark.postgres
@pytest.mark.parametrize("password", ODD_PASSWORDS)
def test_odd_passwords_connect_and_show_nowhere(
    password: str, role: Callable[[str], str], migrations_dir: Path, tmp_path: Path
) -> None:
    url = role(password)
    (migrations_dir / "migration_001_careless.py").write_text(LOGGING_MIGRATION, encoding="utf-8")
    sql_migration(migrations_dir, "002", "second", "CREATE TABLE second (id INTEGER);", "DROP TABLE second;")
    base = ["--db", url, "--dir", str(migrations_dir)]
    outputs = [
        run_cli(*base, "-v", "up", "001", cwd=tmp_path),
        run_cli(*base, "status", "--json", cwd=tmp_path),
        run_cli(*base, "history", "--json", cwd=tmp_path),
        run_cli(*base, "--debug", "-v", "down", cwd=tmp_path),  # fails: a traceback holding the URL
        run_cli(*base, "schema", cwd=tmp_path, env={"NBMIGRATE_DATABASE_URL": url}),
    ]
    assert [r.returncode for r in outputs] == [0, 0, 0, 1, 0], [explain(r) for r in outputs]
    assert "migrating postgresql://nbm_pw_" in outputs[0].stderr  # the log line, masked
    assert "Traceback" in outputs[3].stderr and "no way back from postgresql://nbm_pw_" in outputs[3].stderr
    assert json.loads(outputs[1].stdout)["database"].count(":***@") == 1
    for r in outputs:
        assert_hidden(r.stdout + r.stderr, password)
    admin = _pg_database_url(urlsplit(url).path.lstrip("/"))
    owner = query(admin, "SELECT tableowner FROM pg_tables WHERE tablename = 'careless'")
    assert owner == [(urlsplit(url).username,)]  # connected as that role: the URL was read right
    assert query(admin, "SELECT version FROM _migrations") == [("001",)]
    for row in query(admin, "SELECT * FROM _migrations_log"):
        assert_hidden(" ".join(map(str, row)), password)


# -- the runbook's executed copy --------------------------------------------------------


@pytest.mark.timeout(180)
@pytest.mark.parametrize("password", ["Zq", "q@", "%2F"])
def test_the_runbook_copy_masks_one_and_two_character_passwords(password: str, tmp_path: Path) -> None:
    from tests.test_runbook import copy_of_recovery, run_runbook

    def echo(nb: Any) -> None:
        source = (
            "import html, json\n"
            "from IPython.display import HTML, display\n"
            "print(database_url)\nprint(repr(database_url))\nprint(json.dumps({'url': database_url}))\n"
            "display(HTML(f'<code>{html.escape(database_url)}</code>'))"
        )
        tagged = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
        nb.cells.insert(tagged + 1, new_code_cell(source))  # after the parameters, before the connect

    notebook = copy_of_recovery(tmp_path / "runbooks", echo)
    out = tmp_path / "record.ipynb"
    url = f"postgresql://app:{password}@127.0.0.1:9/app?connect_timeout=2"  # nothing listens on port 9
    result = run_runbook(tmp_path, str(notebook), "--db", url, "--output", str(out))
    assert result.returncode == 1, explain(result)  # the connect cell fails
    copy = out.read_text()
    assert_hidden(result.stdout + result.stderr, password)
    assert_hidden(copy, password)
    assert_hidden(copy, "/" if password == "%2F" else password)
    outputs = "".join(
        json.dumps(o)
        for c in nbformat.read(out, as_version=4).cells
        if c.cell_type == "code"
        for o in c.outputs
    )
    assert outputs.count("app:***@127.0.0.1:9/app") >= 4  # print, repr, JSON and HTML, each masked
