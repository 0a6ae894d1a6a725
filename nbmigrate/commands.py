"""Every command, declared once: its grammar, its help, the core call it makes, what it returns.

The shell (`nbmigrate CMD`), the notebook (`%migrate CMD`), completion, `%migrate?`, the
dashboard and the README check all read `COMMANDS`; adding a command is one entry here.
`dispatch` takes plain keyword arguments (the dashboard calls it so), `dispatch_parsed` a
namespace from `parse`.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import UsageError
from .grammar import BOTH, NOTEBOOK, SHELL, Arg, HelpShown, Parser, add_all, seconds, version, whole_number
from .reports import (
    BackupReport,
    HistoryReport,
    NewFileReport,
    Report,
    RunReport,
    SchemaReport,
    SourceReport,
    StatusReport,
    ValidationReport,
)

if TYPE_CHECKING:  # the manager brings asyncio: imported only by the commands that run it
    from .engine.manager import MigrationManager

__all__ = ["COMMANDS", "COMMON", "Command", "HelpShown", "dispatch", "dispatch_parsed", "in_face", "parse"]

Call = Callable[["MigrationManager", argparse.Namespace], Awaitable[Report]]


@dataclass(frozen=True)
class Command:
    """One command: what it does, its arguments, and the manager call that does it."""

    name: str
    summary: str
    args: tuple[Arg, ...] = ()
    call: Call | None = None  # None: a face runs it itself (connect, dashboard, runbook)
    result: type | None = None
    faces: frozenset[str] = BOTH
    also: tuple[str, ...] = ()  # common options this command takes even where they are shell-only

    def options(self, given: Mapping[str, Any]) -> argparse.Namespace:
        """Every argument's value: those given, the defaults for the rest; unknown names refused."""
        known = {a.name: a.initial for a in self.args}
        unknown = set(given) - set(known)
        if unknown:
            raise UsageError(f"{self.name} takes no {', '.join(sorted(unknown))}")
        return argparse.Namespace(**{**known, **given})

    @property
    def takes_version(self) -> bool:
        """Its first positional is a VERSION (completion offers versions there)."""
        first = next((a for a in self.args if a.positional), None)
        return first is not None and first.metavar == "VERSION"

    def long_options(self, face: str) -> list[str]:
        """The long options it takes in `face` (completion offers these)."""
        mine = [a for a in (*COMMON, *self.args) if face in a.faces or a.flags[-1] in self.also]
        return sorted(a.flags[-1] for a in mine if not a.positional)

    def usage(self, face: str) -> str:
        """`down [--to VERSION] [--steps N] [--all] ...`: its own arguments in `face`."""
        extra = [a.usage() for a in COMMON if a.flags[-1] in self.also]
        return " ".join([self.name, *(a.usage() for a in self.args if face in a.faces), *extra])


DRY_RUN = Arg(("--dry-run",), "run in a transaction that is rolled back", flag=True)
NO_BACKUP = Arg(("--no-backup",), "do not back up the SQLite file first", flag=True)
VERSION = Arg(("version",), type=version, metavar="VERSION")


def _command(name: str, summary: str, *args: Arg, call: Call | None = None, result: type | None = None,
             faces: frozenset[str] = BOTH, also: tuple[str, ...] = ()) -> Command:  # fmt: skip
    return Command(name, summary, args, call, result, faces, also)


COMMANDS: dict[str, Command] = {
    c.name: c
    for c in (
        _command(
            "status", "every migration and its state", call=lambda m, o: m.status(), result=StatusReport
        ),
        _command(
            "up",
            "apply pending migrations (up to and including VERSION)",
            Arg(("version",), type=version, metavar="VERSION", optional=True),
            DRY_RUN,
            Arg(("--atomic",), "all pending migrations in one transaction", flag=True),
            Arg(("--retry",), "run a failed migration again as it is", flag=True),
            NO_BACKUP,
            call=lambda m, o: m.up(
                o.version, dry_run=o.dry_run, atomic=o.atomic, retry=o.retry, backup=not o.no_backup
            ),
            result=RunReport,
        ),
        _command(
            "down",
            "revert the last applied migration (or --to, --steps, --all)",
            Arg(("--to",), "revert down to VERSION (kept)", type=version, metavar="VERSION", group="which"),
            Arg(("--steps",), "revert N migrations", type=whole_number(1), metavar="N", group="which"),
            Arg(("--all",), "revert every migration", flag=True, group="which"),
            DRY_RUN,
            NO_BACKUP,
            call=lambda m, o: m.down(
                to=o.to, steps=o.steps, all=o.all, dry_run=o.dry_run, backup=not o.no_backup
            ),
            result=RunReport,
        ),
        _command(
            "redo",
            "revert the last applied migration and apply it again",
            NO_BACKUP,
            call=lambda m, o: m.redo(backup=not o.no_backup),
            result=RunReport,
        ),
        _command(
            "new",
            "write the next numbered migration file from a template",
            Arg(("name",), "lowercase letters, digits and _", metavar="NAME"),
            Arg(("--sql",), "a .sql file (default)", dest="kind", const="sql", group="kind"),
            Arg(("--python",), "a .py file", dest="kind", const="python", group="kind"),
            call=lambda m, o: m.new(o.name, o.kind or "sql"),
            result=NewFileReport,
        ),
        _command(
            "history",
            "the event log, newest first",
            Arg(("version",), "only this migration", type=version, metavar="VERSION", optional=True),
            Arg(("--limit",), "newest N events (0: all)", type=whole_number(0), metavar="N", default=50),
            call=lambda m, o: m.history(o.limit or None, o.version),
            result=HistoryReport,
        ),
        _command(
            "validate",
            "check files against the ledger; non-zero exit on any problem",
            call=lambda m, o: m.validate(),
            result=ValidationReport,
        ),
        _command(
            "mark",
            "record VERSION as applied without running it",
            VERSION,
            call=lambda m, o: m.mark(o.version),
            result=RunReport,
        ),
        _command(
            "unmark",
            "forget VERSION in the ledger without running anything",
            VERSION,
            call=lambda m, o: m.unmark(o.version),
            result=RunReport,
        ),
        _command(
            "repair",
            "accept the current files of applied migrations (record new checksums)",
            call=lambda m, o: m.repair(),
            result=RunReport,
        ),
        _command(
            "show",
            "the source of migration VERSION",
            VERSION,
            call=lambda m, o: m.show(o.version),
            result=SourceReport,
        ),
        _command(
            "schema",
            "the database's tables, columns and indexes",
            Arg(("table",), metavar="TABLE", optional=True),
            call=lambda m, o: m.schema(o.table),
            result=SchemaReport,
        ),
        _command(
            "reset",
            "drop everything, ledger included (development only; needs --yes)",
            Arg(("--yes",), "confirm dropping everything", flag=True),
            NO_BACKUP,
            call=lambda m, o: m.reset(yes=o.yes, backup=not o.no_backup),
            result=RunReport,
        ),
        _command(
            "backups",
            "the backups of a SQLite database file, newest first",
            call=lambda m, o: m.list_backups(),
            result=BackupReport,
        ),
        _command(
            "restore",
            "put a backup back (default: the newest); the current state is backed up first",
            Arg(
                ("backup",),
                "file name (or its start) or path; default: the newest",
                metavar="BACKUP",
                optional=True,
            ),
            Arg(("--no-backup",), "do not save the current state first (a full disk)", flag=True),
            call=lambda m, o: m.restore(o.backup, backup=not o.no_backup),
            result=BackupReport,
        ),
        _command(
            "runbook",
            "shell only: run a notebook against the database with parameters; keep the executed copy",
            Arg(("notebook",), "the notebook to run (a copy is executed)", metavar="NOTEBOOK"),
            Arg(
                ("-p", "--parameter"),
                "set a parameter (a Python literal, or else a string); repeatable",
                metavar="NAME=VALUE",
                repeat=True,
                dest="parameters",
            ),
            Arg(("--output",), "where the executed copy goes (a folder or a file)", metavar="PATH"),
            Arg(("--timeout",), "give up on a cell after this long", type=seconds, metavar="SECONDS"),
            faces=frozenset({SHELL}),
        ),
        _command(
            "connect",
            "notebook only: the database URL (and --dir PATH) for this session's commands",
            Arg(("url",), "database URL or SQLite path", metavar="URL"),
            faces=frozenset({NOTEBOOK}),
            also=("--dir",),
        ),
        _command(
            "dashboard",
            "notebook only: a control panel of every migration, with buttons (ipywidgets)",
            faces=frozenset({NOTEBOOK}),
        ),
    )
}

# Options accepted before or after the command: `nbmigrate --db X up` = `nbmigrate up --db X`.
COMMON = (
    Arg(("--db",), "database URL (password never shown)", metavar="URL", faces=frozenset({SHELL})),
    Arg(("--dir",), "migrations directory", metavar="PATH", faces=frozenset({SHELL})),
    Arg(("--json",), "print JSON", flag=True),
    Arg(("--strict",), "refuse out-of-order migrations", flag=True, default=None),
    Arg(("--lock-timeout",), "how long to wait for another run's lock", type=seconds, metavar="SECONDS"),
    Arg(("-v", "--verbose"), "show migrations' log lines", flag=True),
    Arg(("--debug",), "show tracebacks", flag=True),
)
EXIT_CODES = "Exit codes: 0 ok, 1 failure, 2 usage error, 130 interrupted (Ctrl-C), 143 terminated (SIGTERM)."


def _build(prog: str = "nbmigrate") -> argparse.ArgumentParser:
    common = Parser(add_help=False)
    for arg in COMMON:  # SUPPRESS: given before the command and not after, it keeps its value
        common.add_argument(*arg.flags, help=arg.help, default=argparse.SUPPRESS, **_kind(arg))
    parser = Parser(
        prog=prog, parents=[common], description="Async database migrations for SQLite and PostgreSQL.",
        epilog=EXIT_CODES,
    )  # fmt: skip
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    for c in COMMANDS.values():
        add_all(sub.add_parser(c.name, parents=[common], help=c.summary, description=c.summary), c.args)
    return parser


def _kind(arg: Arg) -> dict[str, Any]:
    if arg.flag:
        return {"action": "store_true"}
    return {"metavar": arg.metavar, **({"type": arg.type} if arg.type else {})}


_parsers: list[argparse.ArgumentParser] = []


def parser() -> argparse.ArgumentParser:
    """The one parser, built on first use (it costs milliseconds every command would pay)."""
    if not _parsers:
        _parsers.append(_build())
    return _parsers[0]


def in_face(face: str) -> list[Command]:
    """The commands `face` offers, in declaration order."""
    return [c for c in COMMANDS.values() if face in c.faces]


def parse(argv: list[str]) -> argparse.Namespace:
    """Parse arguments with the shared grammar; raise UsageError or HelpShown."""
    ns = parser().parse_args(argv)
    for arg in COMMON:
        if not hasattr(ns, arg.name):
            setattr(ns, arg.name, arg.initial)
    return ns


async def dispatch(manager: MigrationManager, name: str, /, **options: Any) -> Report:
    """Run command `name` with plain keyword arguments (the defaults for the rest)."""
    command = COMMANDS.get(name)
    if command is None:
        raise UsageError(f"unknown command {name!r}")
    if command.call is None:
        where = "a shell (nbmigrate" if SHELL in command.faces else "a notebook (%migrate"
        raise UsageError(f"`{name}` is run by the face itself: run it from {where} {name} ...)")
    return await command.call(manager, command.options(options))


async def dispatch_parsed(manager: MigrationManager, ns: argparse.Namespace) -> Report:
    """Run the command a `parse` result names, with its arguments."""
    command = COMMANDS[ns.command]
    return await dispatch(manager, command.name, **{a.name: getattr(ns, a.name) for a in command.args})
