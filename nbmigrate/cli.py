"""`nbmigrate CMD`: parse, one manager call, render, exit code (0 ok, 1 failure, 2 usage)."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from . import commands, config, render, urls
from .errors import ConfigError, ConfirmationRequired, FileSystemFault, NbMigrateError, UsageError
from .grammar import SHELL
from .model import Progress
from .reports import (
    RunReport,
    ValidationReport,
)
from .urls import mask_password

if TYPE_CHECKING:
    from .engine.manager import MigrationManager

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED, EXIT_TERMINATED = 0, 1, 2, 130, 143


def main(argv: list[str] | None = None) -> int:
    """`nbmigrate ARGS` in this process: the exit code (0 ok, 1 failure, 2 usage, 130/143 interrupted)."""
    run = _Run()
    try:
        return _main(sys.argv[1:] if argv is None else argv, run)
    except KeyboardInterrupt as stop:
        if run.finished:
            print(
                "interrupted after the command finished (it did all it was asked); "
                "its output may be cut short",
                file=sys.stderr,
            )
            return EXIT_INTERRUPTED
        return _interrupted(stop, run.manager, run.command)


class _Run:
    """What an interrupt's report needs to know of the run it stopped."""

    manager: MigrationManager | None = None
    command = ""
    finished = False  # the command is done; only its output was still being printed


def _main(args: list[str], run: _Run) -> int:
    try:
        ns = commands.parse(args)
    except commands.HelpShown as shown:
        sys.stdout.write(str(shown))
        return EXIT_OK
    except UsageError as problem:
        line = " ".join(mask_password(str(problem)).split())  # one line, whatever was typed
        print(f"{line} (`nbmigrate --help` lists the commands)", file=sys.stderr)
        return EXIT_USAGE
    if SHELL not in commands.COMMANDS[ns.command].faces:
        where = f"`{ns.command}` is for notebooks (%migrate {ns.command})"
        print(f"nbmigrate: {where}; in the shell pass --db URL to each command", file=sys.stderr)
        return EXIT_USAGE
    if ns.command == "runbook":
        return _runbook(ns)
    run.command = ns.command
    try:
        settings = config.resolve(ns.db, ns.dir, strict=ns.strict, lock_timeout=ns.lock_timeout)
        result = _read_only_answer(settings, ns)
        if result is None:
            run.manager = _manager(settings, ns)
            result = _run(run.manager, ns)
        run.finished = True
    except (ConfirmationRequired, ConfigError, UsageError) as exc:
        return _fail(exc, ns, EXIT_USAGE)
    except Exception as exc:  # NbMigrateError, or a surprise: one line either way, --debug for more
        return _fail(exc, ns, EXIT_FAILURE)
    try:
        print(render.to_json(result) if ns.json else render.to_text(result))
    except BrokenPipeError:  # `nbmigrate status | head`
        sys.stderr.close()
    if isinstance(result, ValidationReport) and not result.ok:
        return EXIT_FAILURE
    return EXIT_OK


def _interrupted(stop: KeyboardInterrupt, manager: MigrationManager | None, command: str) -> int:
    """What an interrupt left behind, as the database shows it: completed steps, then one line.

    It imports nothing: the interrupt may have landed in the middle of an import.
    """
    interruption = manager.interruption if manager is not None else None
    if interruption is not None and interruption.completed:
        print(render.to_text(RunReport(command, "", steps=interruption.completed)))
    if getattr(stop, "abandoned", False):
        flight = manager.in_flight if manager is not None else None
        what = "stopped"
        if flight is not None:
            what = f"the outcome of migration {flight.version} ({flight.name}) is unknown"
        print(f"interrupted: gave up waiting; {what}: run `nbmigrate status`", file=sys.stderr)
    else:
        what = interruption.describe() if interruption is not None else "stopped before anything ran"
        print(f"interrupted: {what}; the lock is released", file=sys.stderr)
    if getattr(stop, "signum", None) == signal.SIGTERM:
        return EXIT_TERMINATED
    return EXIT_INTERRUPTED


def _read_only_answer(settings: config.Settings, ns: argparse.Namespace) -> render.Result | None:
    """`status`, and an `up` with nothing to apply, on a SQLite file: no event loop needed."""
    from .engine import readonly

    if settings.url.path is None:
        return None
    if ns.command == "status":
        return readonly.status(settings)
    if ns.command == "up" and not ns.dry_run:  # a dry run reports the (empty) schema change
        return readonly.nothing_to_apply(settings, ns.version)
    return None


def _manager(settings: config.Settings, ns: argparse.Namespace) -> MigrationManager:
    """The engine, with logging set up; imported only here, as it brings asyncio and a driver."""
    import logging

    from .engine.database import Database
    from .engine.manager import MigrationManager

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(urls.masking_formatter("%(message)s"))
    logging.basicConfig(level=logging.INFO if ns.verbose else logging.WARNING, handlers=[handler])
    return MigrationManager.from_settings(
        Database(settings.url), settings, on_progress=None if ns.json else _progress_bar()
    )


def _run(manager: MigrationManager, ns: argparse.Namespace) -> render.Result:
    """One command on an event loop of its own; the connection is closed either way."""
    from . import signals

    async def run() -> render.Result:
        try:
            return await commands.dispatch_parsed(manager, ns)
        finally:
            await manager.db.disconnect()

    return signals.run(run())


def _runbook(ns: argparse.Namespace) -> int:
    """Run a notebook in a kernel of its own; print one line; exit 1 at the first failing cell."""
    from . import runbook, runbook_copy  # nbclient only when a runbook is run

    try:
        report = runbook.run(
            Path(ns.notebook),
            ns.db or os.environ.get(runbook_copy.URL_VARIABLE) or None,
            runbook.parse_parameters(ns.parameters),
            Path(ns.output) if ns.output else None,
            ns.dir,
            ns.timeout,
            {
                **({"NBMIGRATE_STRICT": "1"} if ns.strict else {}),
                **({"NBMIGRATE_LOCK_TIMEOUT": str(ns.lock_timeout)} if ns.lock_timeout is not None else {}),
            },
        )
    except FileSystemFault as exc:  # not the arguments' fault: a failure, like any other command's
        return _fail(exc, ns, EXIT_FAILURE)
    except NbMigrateError as exc:
        return _fail(exc, ns, EXIT_USAGE)
    if ns.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        print(report.summary(), file=sys.stdout if report.ok else sys.stderr)
    if report.interrupted:
        return EXIT_INTERRUPTED
    return EXIT_OK if report.ok else EXIT_FAILURE


def _fail(exc: BaseException, ns: argparse.Namespace, code: int) -> int:
    """One line on stderr (a JSON object on stdout with --json); what did finish is shown first."""
    if ns.debug:
        import traceback

        sys.stderr.write(mask_password("".join(traceback.format_exception(exc))))
    message = mask_password(str(exc))
    if not isinstance(exc, NbMigrateError):
        message = f"unexpected {type(exc).__name__}: {message} (run with --debug for the traceback)"
    completed = getattr(exc, "completed", [])
    if ns.json:
        fields = {
            k: _json_value(v) for k, v in vars(exc).items() if not k.startswith("_") and k != "completed"
        }
        error = {"type": type(exc).__name__, "message": message, **fields}
        print(json.dumps({"error": error, "completed": [s.as_dict() for s in completed]}, indent=2))
    elif completed:
        print(render.to_text(RunReport(ns.command, "", steps=completed)))
    print(f"error: {message}", file=sys.stderr)
    return code


def _json_value(value: object) -> object:
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    return mask_password(str(value))


def _progress_bar() -> Callable[[Progress], None] | None:
    """A bar on a terminal for runs of several migrations; nothing otherwise."""
    if not sys.stderr.isatty():
        return None
    from .progress import StepBar

    return StepBar(sys.stderr).show


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
