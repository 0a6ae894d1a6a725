"""The one grammar of `nbmigrate CMD` and `%migrate CMD`, and the dispatch to the manager.

Both faces parse with `PARSER` and call `dispatch`, so the two grammars cannot drift.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn

from .config import check_seconds
from .errors import ConfigError
from .model import normalize_version, shorten

if TYPE_CHECKING:  # the manager brings asyncio: imported only by the commands that run it
    from .engine.manager import MigrationManager
    from .render import Result


class ArgumentProblem(Exception):
    """Bad arguments: a one-line message; faces show it as a usage error (exit code 2)."""


class HelpShown(Exception):
    """`--help` was asked: the text is the help to show."""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser that raises instead of exiting, so a notebook kernel survives it."""

    def error(self, message: str) -> NoReturn:
        raise ArgumentProblem(f"{self.prog}: {message}")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        raise HelpShown(message or "")

    def print_help(self, file: Any = None) -> None:
        raise HelpShown(self.format_help())


def _version(text: str) -> str:
    try:
        return normalize_version(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


MAX_COUNT = 10**9  # --steps, --limit: more is a typo, and no database counts that far


def _whole_number(minimum: int, maximum: int = MAX_COUNT) -> Callable[[str], int]:
    """An argparse type: a whole number (ASCII digits) from `minimum` to `maximum`."""

    def parse(text: str) -> int:
        digits = text.strip()
        if not re.fullmatch(r"-?[0-9]+", digits):
            raise argparse.ArgumentTypeError(f"expected a whole number, got {shorten(text)!r}")
        value = int(digits) if len(digits) <= 30 else None  # int() of thousands of digits refuses
        if value is None or not minimum <= value <= maximum:
            raise argparse.ArgumentTypeError(f"must be from {minimum} to {maximum:,}, got {shorten(digits)}")
        return value

    return parse


def _seconds(text: str) -> float:
    try:
        return check_seconds(text, "seconds")
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("seconds: ")) from None


def _common_options() -> argparse.ArgumentParser:
    """Options accepted before or after the command: `nbmigrate --db X up` = `nbmigrate up --db X`."""
    common = _Parser(add_help=False)
    s = argparse.SUPPRESS
    common.add_argument("--db", metavar="URL", default=s, help="database URL (password never shown)")
    common.add_argument("--dir", metavar="PATH", default=s, help="migrations directory")
    common.add_argument("--json", action="store_true", default=s, help="print JSON")
    common.add_argument("--strict", action="store_true", default=s, help="refuse out-of-order migrations")
    common.add_argument(
        "--lock-timeout",
        metavar="SECONDS",
        type=_seconds,
        default=s,
        help="how long to wait for another run's lock",
    )
    common.add_argument("-v", "--verbose", action="store_true", default=s, help="show migrations' log lines")
    common.add_argument("--debug", action="store_true", default=s, help="show tracebacks")
    return common


COMMON_DEFAULTS: dict[str, Any] = {
    "db": None,
    "dir": None,
    "json": False,
    "strict": None,
    "lock_timeout": None,
    "verbose": False,
    "debug": False,
}

COMMANDS: dict[str, str] = {
    "status": "every migration and its state",
    "up": "apply pending migrations (up to and including VERSION)",
    "down": "revert the last applied migration (or --to, --steps, --all)",
    "redo": "revert the last applied migration and apply it again",
    "new": "write the next numbered migration file from a template",
    "history": "the event log, newest first",
    "validate": "check files against the ledger; non-zero exit on any problem",
    "mark": "record VERSION as applied without running it",
    "unmark": "forget VERSION in the ledger without running anything",
    "repair": "accept the current files of applied migrations (record new checksums)",
    "show": "the source of migration VERSION",
    "schema": "the database's tables, columns and indexes",
    "reset": "drop everything, ledger included (development only; needs --yes)",
    "backups": "the backups of a SQLite database file, newest first",
    "restore": "put a backup back (default: the newest); the current state is backed up first",
    "runbook": "shell only: run a notebook against the database with parameters; keep the executed copy",
    "connect": "notebook only: the database URL (and --dir PATH) for this session's commands",
    "dashboard": "notebook only: a control panel of every migration, with buttons (ipywidgets)",
}

NOTEBOOK_ONLY = frozenset({"connect", "dashboard"})  # the shell passes --db URL to each command instead
SHELL_ONLY = frozenset({"runbook"})  # starts a kernel of its own: not from inside a notebook


def _no_backup(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-backup", action="store_true", help="do not back up the SQLite file first")


def build_parser(prog: str = "nbmigrate") -> argparse.ArgumentParser:
    common = _common_options()
    parser = _Parser(
        prog=prog,
        parents=[common],
        description="Async database migrations for SQLite and PostgreSQL.",
        epilog="Exit codes: 0 ok, 1 failure, 2 usage error.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    def add(name: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, parents=[common], help=COMMANDS[name], description=COMMANDS[name])

    add("status")
    p = add("up")
    p.add_argument("version", nargs="?", type=_version, metavar="VERSION")
    p.add_argument("--dry-run", action="store_true", help="run in a transaction that is rolled back")
    p.add_argument("--atomic", action="store_true", help="all pending migrations in one transaction")
    p.add_argument("--retry", action="store_true", help="run a failed migration again as it is")
    _no_backup(p)
    p = add("down")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--to", type=_version, metavar="VERSION", help="revert down to VERSION (kept)")
    which.add_argument("--steps", type=_whole_number(1), metavar="N", help="revert N migrations")
    which.add_argument("--all", action="store_true", help="revert every migration")
    p.add_argument("--dry-run", action="store_true", help="run in a transaction that is rolled back")
    _no_backup(p)
    _no_backup(add("redo"))
    p = add("new")
    p.add_argument("name", metavar="NAME", help="lowercase letters, digits and _")
    kind = p.add_mutually_exclusive_group()
    kind.add_argument("--sql", dest="kind", action="store_const", const="sql", help="a .sql file (default)")
    kind.add_argument("--python", dest="kind", action="store_const", const="python", help="a .py file")
    p = add("history")
    p.add_argument("version", nargs="?", type=_version, metavar="VERSION", help="only this migration")
    p.add_argument("--limit", type=_whole_number(0), default=50, metavar="N", help="newest N events (0: all)")
    add("validate")
    for name in ("mark", "unmark", "show"):
        add(name).add_argument("version", type=_version, metavar="VERSION")
    add("repair")
    add("schema").add_argument("table", nargs="?", metavar="TABLE")
    p = add("reset")
    p.add_argument("--yes", action="store_true", help="confirm dropping everything")
    _no_backup(p)
    add("backups")
    p = add("restore")
    p.add_argument(
        "backup", nargs="?", metavar="BACKUP", help="file name (or its start) or path; default: the newest"
    )
    p.add_argument(
        "--no-backup", action="store_true", help="do not save the current state first (a full disk)"
    )
    p = add("runbook")
    p.add_argument("notebook", metavar="NOTEBOOK", help="the notebook to run (a copy is executed)")
    p.add_argument(
        "-p",
        "--parameter",
        dest="parameters",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set a parameter (a Python literal, or else a string); repeatable",
    )
    p.add_argument("--output", metavar="PATH", help="where the executed copy goes (a folder or a file)")
    p.add_argument("--timeout", type=_seconds, metavar="SECONDS", help="give up on a cell after this long")
    add("connect").add_argument("url", metavar="URL", help="database URL or SQLite path")
    add("dashboard")
    return parser


PARSER = build_parser()


def parse(argv: list[str]) -> argparse.Namespace:
    """Parse arguments with the shared grammar; raise ArgumentProblem or HelpShown."""
    ns = PARSER.parse_args(argv)
    for key, value in COMMON_DEFAULTS.items():
        if not hasattr(ns, key):
            setattr(ns, key, value)
    return ns


async def dispatch(manager: MigrationManager, ns: argparse.Namespace) -> Result:
    """One manager call per command."""
    cmd = ns.command
    if cmd == "status":
        return await manager.status()
    if cmd == "up":
        return await manager.up(
            ns.version, dry_run=ns.dry_run, atomic=ns.atomic, retry=ns.retry, backup=not ns.no_backup
        )
    if cmd == "down":
        return await manager.down(
            to=ns.to, steps=ns.steps, all=ns.all, dry_run=ns.dry_run, backup=not ns.no_backup
        )
    if cmd == "redo":
        return await manager.redo(backup=not ns.no_backup)
    if cmd == "new":
        return await manager.new(ns.name, ns.kind or "sql")
    if cmd == "history":
        return await manager.history(ns.limit or None, ns.version)
    if cmd == "validate":
        return await manager.validate()
    if cmd == "mark":
        return await manager.mark(ns.version)
    if cmd == "unmark":
        return await manager.unmark(ns.version)
    if cmd == "repair":
        return await manager.repair()
    if cmd == "show":
        return await manager.show(ns.version)
    if cmd == "schema":
        return await manager.schema(ns.table)
    if cmd == "reset":
        return await manager.reset(yes=ns.yes, backup=not ns.no_backup)
    if cmd == "backups":
        return await manager.list_backups()
    if cmd == "restore":
        return await manager.restore(ns.backup, backup=not ns.no_backup)
    if cmd in SHELL_ONLY:
        raise ConfigError(f"`{cmd}` starts a kernel of its own: run it from a shell (nbmigrate {cmd} ...)")
    raise ArgumentProblem(f"unknown command {cmd!r}")
