"""Tests for nbmigrate.sources.sqltext: migration-file sections, statement splitting, BEGIN/COMMIT."""

from __future__ import annotations

import pickle
import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nbmigrate.sources.sqlfile import SqlMigrationText, SqlTextError, parse_sql_migration
from nbmigrate.sources.sqltext import is_transaction_control, split_statements

FAST = settings(max_examples=200, deadline=None)


def parse_error(text: str) -> SqlTextError:
    with pytest.raises(SqlTextError) as info:
        parse_sql_migration(text)
    err = info.value
    assert "\n" not in str(err)
    return err


# ------------------------------------------------------------ parse_sql_migration


def test_parse_basic_sections() -> None:
    text = (
        "-- Create the users table.\n"
        "\n"
        "-- up\n"
        "CREATE TABLE users (id INTEGER PRIMARY KEY);\n"
        "CREATE INDEX users_id ON users (id);\n"
        "\n"
        "-- down\n"
        "DROP TABLE users;\n"
    )
    assert parse_sql_migration(text) == SqlMigrationText(
        up="CREATE TABLE users (id INTEGER PRIMARY KEY);\nCREATE INDEX users_id ON users (id);",
        down="DROP TABLE users;",
        transactional=True,
    )


@pytest.mark.parametrize(
    ("up_marker", "down_marker"),
    [
        ("-- up", "-- down"),
        ("--up", "--down"),
        ("  --   UP  ", "\t-- Down\t"),
        ("-- migrate:up", "-- migrate:down"),
        ("-- MIGRATE:UP", "--migrate:down"),
    ],
)
def test_parse_marker_spellings(up_marker: str, down_marker: str) -> None:
    parsed = parse_sql_migration(f"{up_marker}\nSELECT 1;\n{down_marker}\nSELECT 2;\n")
    assert (parsed.up, parsed.down) == ("SELECT 1;", "SELECT 2;")


@pytest.mark.parametrize("line", ["-- upgrade", "-- up: create users", "-- +up", "-- up down"])
def test_parse_near_markers_are_ordinary_comments(line: str) -> None:
    text = f"-- up\nSELECT 1;\n{line}\nSELECT 2;\n-- down\n"
    assert parse_sql_migration(text).up == f"SELECT 1;\n{line}\nSELECT 2;"


def test_parse_marker_not_whole_line_is_content() -> None:
    parsed = parse_sql_migration("-- up\nSELECT 1; -- down\nSELECT 2;\n-- down\nSELECT 3;")
    assert parsed.up == "SELECT 1; -- down\nSELECT 2;"
    assert parsed.down == "SELECT 3;"


def test_parse_empty_down_is_irreversible() -> None:
    assert parse_sql_migration("-- up\nSELECT 1;\n-- down\n").down is None
    assert parse_sql_migration("-- up\nSELECT 1;\n-- down").down is None
    parsed = parse_sql_migration("-- up\nSELECT 1;\n-- down\n-- cannot be undone\n/* sorry */\n;\n")
    assert parsed.down is None


def test_parse_down_keeps_comments_when_it_has_sql() -> None:
    parsed = parse_sql_migration("-- up\nSELECT 1;\n-- down\n-- undo it\nDROP TABLE t;\n")
    assert parsed.down == "-- undo it\nDROP TABLE t;"


@pytest.mark.parametrize(
    ("opener", "closer"),
    [
        ("SELECT '", "';"),
        ('SELECT 1 AS "', '";'),
        ("/*", "*/ SELECT 1;"),
        ("SELECT $$", "$$;"),
        ("SELECT $body$", "$body$;"),
        ("SELECT E'\\'", "';"),
    ],
)
def test_parse_markers_inside_quotes_and_comments_are_content(opener: str, closer: str) -> None:
    text = f"-- up\n{opener}\n-- down\n-- up\n{closer}\n-- down\nSELECT 2;\n"
    parsed = parse_sql_migration(text)
    assert parsed.up == f"{opener}\n-- down\n-- up\n{closer}"
    assert parsed.down == "SELECT 2;"


def test_parse_function_body_with_marker_lines() -> None:
    body = (
        "CREATE FUNCTION touch() RETURNS trigger AS $fn$\n"
        "BEGIN\n"
        "  NEW.updated := now();\n"
        "-- down\n"
        "  RETURN NEW;\n"
        "END;\n"
        "$fn$ LANGUAGE plpgsql;"
    )
    parsed = parse_sql_migration(f"-- up\n{body}\n-- down\nDROP FUNCTION touch();\n")
    assert parsed.up == body
    assert parsed.down == "DROP FUNCTION touch();"


def test_parse_bom_and_crlf() -> None:
    text = "\ufeff-- header\r\n-- up\r\nSELECT 'a\r\nb';\r\n-- down\r\nSELECT 2;\r\n"
    parsed = parse_sql_migration(text)
    assert parsed.up == "SELECT 'a\nb';"
    assert parsed.down == "SELECT 2;"
    assert "\r" not in parsed.up


def test_parse_bom_before_marker() -> None:
    assert parse_sql_migration("\ufeff-- up\nSELECT 1;\n-- down\n").up == "SELECT 1;"


def test_parse_crlf_line_numbers_in_errors() -> None:
    err = parse_error("-- up\r\nSELECT 1;\r\n-- up\r\n-- down\r\n")
    assert err.line == 3


@pytest.mark.parametrize(
    "directive",
    [
        "-- nbmigrate: transactional=false",
        "--nbmigrate:transactional=false",
        "  --  NBMIGRATE :  Transactional = FALSE  ",
    ],
)
def test_parse_directive_false(directive: str) -> None:
    text = f"-- Build the index without locking.\n{directive}\n-- up\nCREATE INDEX i ON t (x);\n"
    parsed = parse_sql_migration(text + "-- down\nDROP INDEX i;\n")
    assert parsed.transactional is False
    assert parsed.up == "CREATE INDEX i ON t (x);"


def test_parse_directive_true_and_default() -> None:
    base = "-- up\nSELECT 1;\n-- down\n"
    assert parse_sql_migration(base).transactional is True
    assert parse_sql_migration("-- nbmigrate: transactional=true\n" + base).transactional is True


def test_parse_directive_anywhere_at_top_level() -> None:
    text = "-- up\nSELECT 1;\n-- nbmigrate: transactional=false\nSELECT 2;\n-- down\n"
    parsed = parse_sql_migration(text)
    assert parsed.transactional is False
    assert parsed.up == "SELECT 1;\n-- nbmigrate: transactional=false\nSELECT 2;"


def test_parse_directive_inside_string_is_ignored() -> None:
    text = "-- up\nSELECT '\n-- nbmigrate: transactional=false\n';\n-- down\n"
    assert parse_sql_migration(text).transactional is True


def test_parse_directive_not_whole_line_is_ignored() -> None:
    text = "-- up\nSELECT 1; -- nbmigrate: transactional=false\n-- down\n"
    assert parse_sql_migration(text).transactional is True


def test_parse_error_unknown_directive() -> None:
    err = parse_error("-- nbmigrate: transactionl=false\n-- up\nSELECT 1;\n-- down\n")
    assert err.line == 1
    assert "unrecognised directive" in str(err)
    assert "transactionl" in str(err)


def test_parse_error_conflicting_directives() -> None:
    text = "-- nbmigrate: transactional=false\n-- nbmigrate: transactional=true\n-- up\nSELECT 1;\n-- down\n"
    err = parse_error(text)
    assert err.line == 2
    assert "conflicting" in str(err)
    assert "line 1" in str(err)


def test_parse_error_no_up_marker() -> None:
    err = parse_error("CREATE TABLE t (x int);\n-- down\nDROP TABLE t;\n")
    assert err.line is None
    assert "no '-- up' marker" in str(err)


def test_parse_error_no_down_marker() -> None:
    err = parse_error("-- up\nCREATE TABLE t (x int);\n")
    assert err.line is None
    assert "no '-- down' marker" in str(err)


def test_parse_error_empty_text() -> None:
    assert "no '-- up' marker" in str(parse_error(""))


def test_parse_error_duplicate_up() -> None:
    err = parse_error("-- up\nSELECT 1;\n-- up\nSELECT 2;\n-- down\n")
    assert err.line == 3
    assert "duplicate '-- up' marker" in str(err)
    assert "line 1" in str(err)
    assert str(err).startswith("line 3: ")


def test_parse_error_duplicate_down() -> None:
    err = parse_error("-- up\nSELECT 1;\n-- down\nSELECT 2;\n-- migrate:down\nSELECT 3;\n")
    assert err.line == 5
    assert "duplicate '-- down' marker" in str(err)


def test_parse_error_down_before_up() -> None:
    err = parse_error("-- down\nDROP TABLE t;\n-- up\nCREATE TABLE t (x int);\n")
    assert err.line == 1
    assert "'-- down' marker comes before the '-- up' marker" in str(err)
    assert "line 3" in str(err)


def test_parse_error_sql_before_up() -> None:
    err = parse_error("-- header\n\nCREATE TABLE t (x int);\n-- up\nSELECT 1;\n-- down\n")
    assert err.line == 3
    assert "SQL before the '-- up' marker" in str(err)
    assert "CREATE TABLE t" in str(err)


def test_parse_comments_before_up_are_fine() -> None:
    text = "/* Author: someone\n   -- up  (inside a comment) */\n-- more\n\n-- up\nSELECT 1;\n-- down\n"
    assert parse_sql_migration(text).up == "SELECT 1;"


@pytest.mark.parametrize(
    "up_body", ["", "\n\n", "-- nothing yet\n", "/* a\n b */\n", ";\n;\n", "-- a;\n/* ; */;\n"]
)
def test_parse_error_empty_up_section(up_body: str) -> None:
    err = parse_error(f"-- header\n-- up\n{up_body}-- down\nSELECT 2;\n")
    assert err.line == 2
    assert "up section contains no SQL statement" in str(err)


@pytest.mark.parametrize(
    ("opener", "what"),
    [
        ("'abc", "string literal"),
        ('"abc', "quoted identifier"),
        ("/* abc", "block comment"),
        ("$$ abc", "dollar-quoted string"),
        ("$x$ abc $y$", "dollar-quoted string"),
        ("[abc", "bracketed identifier"),
    ],
)
def test_parse_error_unterminated(opener: str, what: str) -> None:
    err = parse_error(f"-- up\nSELECT 1;\nSELECT {opener}\n-- down\nSELECT 2;\n")
    assert err.line == 3
    assert f"unterminated {what}" in str(err)
    assert "never closed" in str(err)


def test_sql_text_error_is_value_error_and_pickles() -> None:
    err = SqlTextError("duplicate '-- up' marker", 7)
    assert isinstance(err, ValueError)
    assert str(err) == "line 7: duplicate '-- up' marker"
    again = pickle.loads(pickle.dumps(err))
    assert (again.line, again.message, str(again)) == (7, err.message, str(err))
    assert str(SqlTextError("no marker")) == "no marker"
    assert SqlTextError("no marker").line is None


def test_parse_then_split_runs_up_and_down_in_sqlite() -> None:
    text = (
        "\ufeff-- Orders, with an audit trigger.  Mentions -- down in passing.\r\n"
        "-- migrate:up\r\n"
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, qty INTEGER); -- the table\r\n"
        "CREATE TABLE audit (msg TEXT);\r\n"
        "CREATE TRIGGER orders_audit AFTER UPDATE ON orders\r\n"
        "BEGIN\r\n"
        "  INSERT INTO audit VALUES (CASE WHEN new.qty > old.qty THEN 'more;' ELSE 'less;' END);\r\n"
        "END;\r\n"
        "INSERT INTO orders VALUES (1, 1), (2, '\r\n-- down\r\n');\r\n"
        "-- migrate:down\r\n"
        "DROP TRIGGER orders_audit;\r\n"
        "DROP TABLE audit; DROP TABLE orders;\r\n"
    )
    parsed = parse_sql_migration(text)
    assert parsed.down is not None
    up, down = split_statements(parsed.up), split_statements(parsed.down)
    assert [s.split(None, 2)[:2] for s in up] == [
        ["CREATE", "TABLE"],
        ["CREATE", "TABLE"],
        ["CREATE", "TRIGGER"],
        ["INSERT", "INTO"],
    ]
    assert down == ["DROP TRIGGER orders_audit", "DROP TABLE audit", "DROP TABLE orders"]
    conn = sqlite3.connect(":memory:")
    try:
        for statement in up:
            conn.execute(statement)
        conn.execute("UPDATE orders SET qty = 5 WHERE id = 1")
        assert conn.execute("SELECT msg FROM audit").fetchall() == [("more;",)]
        assert conn.execute("SELECT qty FROM orders WHERE id = 2").fetchone() == ("\n-- down\n",)
        for statement in down:
            conn.execute(statement)
        assert conn.execute("SELECT count(*) FROM sqlite_master").fetchone() == (0,)
    finally:
        conn.close()


# --------------------------------------------------------------- split_statements


def test_split_basic_and_final_without_semicolon() -> None:
    assert split_statements("SELECT 1;\n  SELECT 2 ;\nSELECT 3") == [
        "SELECT 1",
        "SELECT 2",
        "SELECT 3",
    ]


def test_split_empty_and_comment_only_statements_dropped() -> None:
    sql = ";;\n-- just a note\n;\n/* block ; note */;\nSELECT 1;\n\n-- trailing note\n"
    assert split_statements(sql) == ["SELECT 1"]
    assert split_statements("") == []
    assert split_statements("  \n -- x;\n /* ; */ ") == []


def test_split_keeps_comments_inside_statements() -> None:
    sql = "-- the users\nCREATE TABLE users ( -- rows; of people\n  id int /* ; */\n);"
    assert split_statements(sql) == [
        "-- the users\nCREATE TABLE users ( -- rows; of people\n  id int /* ; */\n)"
    ]


def test_split_drops_trailing_comment_on_semicolon_line() -> None:
    sql = "CREATE TABLE a (x int); -- a; b\n-- about b\nCREATE TABLE b (y int);"
    assert split_statements(sql) == ["CREATE TABLE a (x int)", "-- about b\nCREATE TABLE b (y int)"]


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT 'a;b'; SELECT 2", ["SELECT 'a;b'", "SELECT 2"]),
        ("SELECT 'it''s; fine'; SELECT 2", ["SELECT 'it''s; fine'", "SELECT 2"]),
        ("SELECT ''';'''; SELECT 2", ["SELECT ''';'''", "SELECT 2"]),
        ('SELECT "a;""b"; SELECT 2', ['SELECT "a;""b"', "SELECT 2"]),
        ("SELECT `a;``b`; SELECT 2", ["SELECT `a;``b`", "SELECT 2"]),
        ("SELECT [a;b]; SELECT 2", ["SELECT [a;b]", "SELECT 2"]),
        ("SELECT 1 -- a;b\n; SELECT 2", ["SELECT 1 -- a;b", "SELECT 2"]),
        ("SELECT /* a;b\n;c */ 1; SELECT 2", ["SELECT /* a;b\n;c */ 1", "SELECT 2"]),
        ("SELECT E'a\\';b'; SELECT 2", ["SELECT E'a\\';b'", "SELECT 2"]),
        ("SELECT 'a\\'; SELECT 2", ["SELECT 'a\\'", "SELECT 2"]),
        ("SELECT e'\\\\'; SELECT 2", ["SELECT e'\\\\'", "SELECT 2"]),
        ("SELECT /**/E'\\';'; SELECT 2", ["SELECT /**/E'\\';'", "SELECT 2"]),
        ("SELECT name'\\'; SELECT 2", ["SELECT name'\\'", "SELECT 2"]),
        ("SELECT \"--\"; SELECT '/*'; SELECT 3", ['SELECT "--"', "SELECT '/*'", "SELECT 3"]),
    ],
)
def test_split_quotes_and_comments(sql: str, expected: list[str]) -> None:
    assert split_statements(sql) == expected


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT $$a;b$$; SELECT 2", ["SELECT $$a;b$$", "SELECT 2"]),
        ("SELECT $x$a;$$;b$x$; SELECT 2", ["SELECT $x$a;$$;b$x$", "SELECT 2"]),
        ("SELECT $1; SELECT $2", ["SELECT $1", "SELECT $2"]),
        ("SELECT a$b; SELECT 2", ["SELECT a$b", "SELECT 2"]),
        ("SELECT a$$b; SELECT 2$$", ["SELECT a$$b", "SELECT 2$$"]),
        ("SELECT $_1$;$_1$; SELECT 2", ["SELECT $_1$;$_1$", "SELECT 2"]),
    ],
)
def test_split_dollar_quotes(sql: str, expected: list[str]) -> None:
    assert split_statements(sql) == expected


def test_split_plpgsql_function_body() -> None:
    fn = (
        "CREATE OR REPLACE FUNCTION audit() RETURNS trigger AS $body$\n"
        "DECLARE\n  note text := 'changed; see $$';\n"
        "BEGIN\n"
        "  INSERT INTO log VALUES (NEW.id, note);\n"
        "  IF NEW.x > 0 THEN RETURN NEW; END IF;\n"
        "  RETURN NULL;\n"
        "END;\n"
        "$body$ LANGUAGE plpgsql"
    )
    trig = "CREATE TRIGGER t AFTER INSERT ON items FOR EACH ROW EXECUTE FUNCTION audit()"
    assert split_statements(f"{fn};\n{trig};\nDO $$ BEGIN PERFORM 1; END $$;") == [
        fn,
        trig,
        "DO $$ BEGIN PERFORM 1; END $$",
    ]


def test_split_postgres_begin_atomic_body() -> None:
    fn = (
        "CREATE FUNCTION add(a int, b int) RETURNS int LANGUAGE sql\n"
        "BEGIN ATOMIC\n  SELECT CASE WHEN a IS NULL THEN 0 ELSE a END;\n  SELECT a + b;\nEND"
    )
    assert split_statements(f"{fn};\nSELECT add(1, 2);") == [fn, "SELECT add(1, 2)"]


SQLITE_TRIGGER = """\
CREATE TEMP TRIGGER IF NOT EXISTS items_audit AFTER UPDATE ON items
WHEN CASE WHEN new.qty > 0 THEN 1 ELSE 0 END
BEGIN
  INSERT INTO audit (item, kind) VALUES (
    new.id,
    CASE WHEN new.qty > old.qty THEN 'up; more' ELSE 'down; less' END
  );
  -- END; inside a comment
  UPDATE items SET note = 'end; begin' WHERE id = new.id;
END"""


def test_split_sqlite_trigger_with_case_is_one_statement() -> None:
    sql = f"CREATE TABLE items (id INTEGER, qty INTEGER, note TEXT);\n{SQLITE_TRIGGER};\nSELECT 1;"
    statements = split_statements(sql)
    assert statements == [
        "CREATE TABLE items (id INTEGER, qty INTEGER, note TEXT)",
        SQLITE_TRIGGER,
        "SELECT 1",
    ]
    assert sqlite3.complete_statement(SQLITE_TRIGGER + ";")
    assert not sqlite3.complete_statement(SQLITE_TRIGGER.rsplit("END", 1)[0])


def test_split_sqlite_trigger_runs_in_sqlite() -> None:
    sql = (
        "CREATE TABLE items (id INTEGER PRIMARY KEY, qty INTEGER, note TEXT);\n"
        "CREATE TABLE audit (item INTEGER, kind TEXT);\n"
        "CREATE TRIGGER items_audit AFTER UPDATE OF qty ON items\n"
        "BEGIN\n"
        "  INSERT INTO audit VALUES (new.id,\n"
        "    CASE WHEN new.qty > old.qty THEN 'up;' ELSE 'down;' END);\n"
        "  UPDATE items SET note = 'seen; ok' WHERE id = new.id;\n"
        "END;\n"
        "INSERT INTO items (id, qty) VALUES (1, 5);\n"
        "UPDATE items SET qty = 9 WHERE id = 1;\n"
        "UPDATE items SET qty = 2 WHERE id = 1;\n"
    )
    statements = split_statements(sql)
    assert len(statements) == 6
    conn = sqlite3.connect(":memory:")
    try:
        for statement in statements:
            conn.execute(statement)
        assert conn.execute("SELECT item, kind FROM audit ORDER BY rowid").fetchall() == [
            (1, "up;"),
            (1, "down;"),
        ]
        assert conn.execute("SELECT note FROM items").fetchone() == ("seen; ok",)
    finally:
        conn.close()


@pytest.mark.parametrize(
    "head",
    [
        "CREATE TRIGGER",
        "create temporary trigger",
        "CREATE /* c */ TEMP\n TRIGGER",
        "CREATE OR REPLACE TRIGGER",
    ],
)
def test_split_trigger_heads(head: str) -> None:
    trig = f"{head} t AFTER INSERT ON a BEGIN SELECT 1; SELECT CASE 1 WHEN 1 THEN 2 END; END"
    assert split_statements(f"{trig}; SELECT 2") == [trig, "SELECT 2"]


def test_split_trigger_with_columns_named_begin_and_end() -> None:
    trig = (
        "CREATE TRIGGER ev_fill AFTER INSERT ON events\n"
        "BEGIN\n"
        "  UPDATE events SET end = new.begin WHERE end IS NULL AND (begin = new.begin);\n"
        "  UPDATE events SET begin = begin WHERE begin = new.begin AND end = new.end;\n"
        "  UPDATE events SET note = CASE WHEN new.end IS NULL THEN 'open' ELSE 'closed' END;\n"
        "END"
    )
    sql = f"CREATE TABLE events (begin TEXT, end TEXT, note TEXT);\n{trig};\n"
    sql += "INSERT INTO events (begin) VALUES ('09:00');"
    statements = split_statements(sql)
    assert statements[1] == trig
    conn = sqlite3.connect(":memory:")
    try:
        for statement in statements:
            conn.execute(statement)
        assert conn.execute("SELECT begin, end, note FROM events").fetchall() == [("09:00", "09:00", "open")]
    finally:
        conn.close()


@pytest.mark.parametrize(
    "fn",
    [
        "CREATE FUNCTION f(begin int) RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql",
        "CREATE PROCEDURE p() LANGUAGE sql BEGIN ATOMIC END",
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql RETURN CASE WHEN true THEN 1 END",
    ],
)
def test_split_function_heads_without_a_body_block(fn: str) -> None:
    assert split_statements(f"{fn};\nSELECT 2;") == [fn, "SELECT 2"]


def test_split_trigger_with_unbalanced_parenthesis_still_ends() -> None:
    trig = "CREATE TRIGGER t AFTER INSERT ON a BEGIN SELECT (1; END"
    assert split_statements(f"{trig}; SELECT 3") == [trig, "SELECT 3"]


def test_split_begin_end_outside_triggers_do_not_nest() -> None:
    sql = "BEGIN;\nCREATE TABLE begin_end (x int);\nSELECT CASE WHEN 1 THEN 2 END;\nEND;\nCOMMIT"
    assert split_statements(sql) == [
        "BEGIN",
        "CREATE TABLE begin_end (x int)",
        "SELECT CASE WHEN 1 THEN 2 END",
        "END",
        "COMMIT",
    ]


def test_split_trigger_keywords_as_parts_of_identifiers() -> None:
    trig = "CREATE TRIGGER t AFTER INSERT ON a BEGIN UPDATE b SET begin_at = end_at, x$end = 1; END"
    assert split_statements(f"{trig};\nSELECT 2;") == [trig, "SELECT 2"]


def test_split_unclosed_constructs_run_to_the_end() -> None:
    assert split_statements("SELECT 1; SELECT 'a; b") == ["SELECT 1", "SELECT 'a; b"]
    assert split_statements("SELECT 1; /* a; b") == ["SELECT 1"]
    assert split_statements("SELECT 1; SELECT $$ a; b") == ["SELECT 1", "SELECT $$ a; b"]
    unfinished = "CREATE TRIGGER t AFTER INSERT ON a BEGIN SELECT 1; SELECT 2;"
    assert split_statements(unfinished) == [unfinished]


def test_split_strips_bom() -> None:
    assert split_statements("\ufeffSELECT 1;SELECT 2") == ["SELECT 1", "SELECT 2"]


# --------------------------------------------------------- is_transaction_control


@pytest.mark.parametrize(
    "statement",
    [
        "BEGIN",
        "begin",
        "BEGIN TRANSACTION",
        "BEGIN DEFERRED",
        "begin immediate transaction",
        "BEGIN\n  EXCLUSIVE\tTRANSACTION",
        "BEGIN WORK",
        "START TRANSACTION",
        "COMMIT",
        "COMMIT TRANSACTION",
        "COMMIT WORK",
        "END",
        "end transaction",
        "  -- open it by habit\n/* yes */ BEGIN;",
        "COMMIT; -- done",
    ],
)
def test_transaction_control_true(statement: str) -> None:
    assert is_transaction_control(statement)


@pytest.mark.parametrize(
    "statement",
    [
        "",
        "-- BEGIN",
        "/* COMMIT */",
        "SAVEPOINT a",
        "RELEASE SAVEPOINT a",
        "ROLLBACK",
        "BEGINNING",
        "COMMITTED",
        "BEGIN TRANSACTIONS",
        "START",
        "BEGIN ISOLATION LEVEL SERIALIZABLE",
        "COMMIT; SELECT 1",
        "SELECT 'BEGIN'",
        "CREATE TRIGGER t AFTER INSERT ON a BEGIN SELECT 1; END",
        "DO $$ BEGIN PERFORM 1; END $$",
        "END IF",
    ],
)
def test_transaction_control_false(statement: str) -> None:
    assert not is_transaction_control(statement)


def test_transaction_control_on_split_output() -> None:
    sql = "BEGIN;\nCREATE TABLE t (x int);\nCOMMIT; -- habit\n"
    assert [is_transaction_control(s) for s in split_statements(sql)] == [True, False, True]


# ------------------------------------------------------------------- properties

# Text that needs quoting care: quotes, semicolons, comment openers, dollar signs.
TRICKY = "ab ;'\"`[]$-/*\n\\"
tricky_text = st.text(st.sampled_from(TRICKY) | st.characters(codec="utf-8"), max_size=20)
# sqlite3.complete_statement() cannot take a NUL character.
sqlite_text = st.text(
    st.sampled_from(TRICKY) | st.characters(codec="utf-8", exclude_characters="\x00"), max_size=20
)


def _string_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _identifier(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


@st.composite
def dollar_quoted(draw: st.DrawFn) -> str:
    tag = draw(st.sampled_from(["", "x", "body", "_1"]))
    # Every '$' in the body is followed by a space, so the body can never hold the tag.
    body = draw(tricky_text).replace("$", "$ ")
    return f"${tag}${body}${tag}$"


def _block_comment(text: str) -> str:
    return "/*" + text.replace("*/", "* /") + "*/"  # cannot create a new '*/'


def _line_comment(text: str) -> str:
    return "-- " + text.replace("\n", " ") + "\n"


def _values(text: st.SearchStrategy[str], *extra: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(text.map(_string_literal), text.map(_identifier), st.integers().map(str), *extra)


VALUES = {True: _values(tricky_text, dollar_quoted()), False: _values(sqlite_text)}
COMMENTS = {
    dollar: st.one_of(st.just(""), text.map(_block_comment), text.map(_line_comment))
    for dollar, text in [(True, tricky_text), (False, sqlite_text)]
}


@st.composite
def statement(draw: st.DrawFn, dollar: bool = True) -> str:
    """An INSERT whose values and comments are full of ';', quotes and comment openers."""
    parts: list[str] = []
    for v in draw(st.lists(VALUES[dollar], min_size=1, max_size=3)):
        parts.append(draw(st.sampled_from(["", " ", "\n"])))
        parts.append(draw(COMMENTS[dollar]))
        parts.append(v)
    table = draw(st.sampled_from(["t", '"t;--"', "[t;x]", "`t;`"]))
    return f"INSERT INTO {table} VALUES (" + ",".join(parts) + ")"


@FAST
@given(st.lists(statement(), max_size=5))
def test_property_join_then_split_round_trips(statements: list[str]) -> None:
    assert split_statements(";\n".join(statements)) == statements
    assert split_statements("".join(s + ";\n" for s in statements)) == statements


@FAST
@given(st.text())
def test_property_parse_raises_only_sql_text_error(text: str) -> None:
    try:
        parsed = parse_sql_migration(text)
    except SqlTextError as err:
        assert "\n" not in str(err)
        assert err.line is None or err.line >= 1
    else:
        assert parsed.up and parsed.up == parsed.up.strip()


SQLITE_FRAGMENTS = [";", "'", '"', "`", "[", "]", "--", "/*", "*/", "\n", " ", "\t", "x", "1", "''"]
SQLITE_FRAGMENTS += ["-", "/", "*", "SELECT", "BEGIN", "END", "CASE"]
SQL_FRAGMENTS = [*SQLITE_FRAGMENTS, "$", "$$", "$a$", "E'", "\\", "CREATE TRIGGER ", "CREATE ", "TEMP"]
SQL_FRAGMENTS += ["-- up", "-- down", "--migrate:up", "-- nbmigrate: transactional=false", "\r\n"]
sql_fragments = st.sampled_from(SQL_FRAGMENTS)
sqlish_text = st.lists(sql_fragments, max_size=40).map("".join)


@FAST
@given(st.text() | sqlish_text)
def test_property_split_never_raises(text: str) -> None:
    statements = split_statements(text)
    pos = 0
    for stmt in statements:
        assert stmt and stmt == stmt.strip()
        found = text.find(stmt, pos)
        assert found >= 0, "statements come from the text, in order"
        pos = found + len(stmt)


@FAST
@given(sqlish_text)
def test_property_parse_sqlish_raises_only_sql_text_error(text: str) -> None:
    try:
        parsed = parse_sql_migration("-- up\n" + text)
    except SqlTextError:
        return
    assert split_statements(parsed.up)
    assert parsed.down is None or split_statements(parsed.down)


def _comment_only(chunk: str) -> bool:
    # sqlite3_complete() starts in an "invalid" state and only a ';' moves it to "start",
    # where whitespace and comments keep it: ';' + chunk is complete iff chunk has no token.
    # The '*/' variant accepts a chunk that ends inside an unclosed block comment.
    return sqlite3.complete_statement(";" + chunk) or sqlite3.complete_statement(";" + chunk + "*/")


def _oracle_split(text: str) -> list[str]:
    """Split text the way SQLite's own sqlite3_complete() sees statement ends."""
    chunks: list[str] = []
    start = 0
    for i, ch in enumerate(text):
        if ch == ";" and sqlite3.complete_statement(text[start : i + 1]):
            chunks.append(text[start:i])
            start = i + 1
    chunks.append(text[start:])
    return [c.strip() for c in chunks if not _comment_only(c)]


# SQLite-flavoured fragments only: no dollar quotes, E'' strings or trigger heads, whose
# handling differs from sqlite3_complete() by design.
sqlite_fragments = st.sampled_from(SQLITE_FRAGMENTS)


@FAST
@given(st.lists(sqlite_fragments, max_size=40).map("".join))
def test_property_split_agrees_with_sqlite_complete_statement(text: str) -> None:
    mine = split_statements(text)
    oracle = _oracle_split(text)
    assert len(mine) == len(oracle)
    for stmt, chunk in zip(mine, oracle, strict=True):
        # A '-- comment' right after a ';' on its line is dropped by split_statements.
        assert chunk.endswith(stmt)
        assert _comment_only(chunk[: len(chunk) - len(stmt)])


@st.composite
def sqlite_trigger(draw: st.DrawFn) -> str:
    body = []
    for _ in range(draw(st.integers(1, 3))):
        literal = _string_literal(draw(sqlite_text))
        kind = draw(st.sampled_from(["case", "plain", "comment", "columns"]))
        if kind == "columns":
            body.append(f"UPDATE t SET end = {literal}, begin = old.end WHERE (end = begin);")
        elif kind == "case":
            body.append(f"UPDATE t SET x = CASE WHEN x > 0 THEN {literal} ELSE 'e' END;")
        elif kind == "comment":
            body.append(f"-- END;\nINSERT INTO t VALUES ({literal});")
        else:
            body.append(f"DELETE FROM t WHERE x = {literal};")
    head = draw(st.sampled_from(["CREATE TRIGGER", "CREATE TEMP TRIGGER", "create trigger"]))
    return f"{head} tr AFTER INSERT ON t\nBEGIN\n  " + "\n  ".join(body) + "\nEND"


@FAST
@given(st.lists(sqlite_trigger() | statement(dollar=False), max_size=4))
def test_property_triggers_split_like_sqlite(statements: list[str]) -> None:
    text = ";\n".join(statements) + ";"
    for stmt in statements:
        assert sqlite3.complete_statement(stmt + ";")
    assert split_statements(text) == statements
    assert _oracle_split(text) == statements
