"""`nbmigrate CMD`: parse, one manager call, render, exit code (0 ok, 1 failure, 2 usage)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable

from . import commands, config, render
from .config import mask_password
from .database import Database
from .errors import ConfigError, ConfirmationRequired, NbMigrateError
from .manager import MigrationManager
from .model import Progress, ValidationReport

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `nbmigrate` console script and `python -m nbmigrate`."""
    args = sys.argv[1:] if argv is None else argv
    try:
        ns = commands.parse(args)
    except commands.HelpShown as shown:
        sys.stdout.write(str(shown))
        return EXIT_OK
    except commands.ArgumentProblem as problem:
        print(mask_password(str(problem)), file=sys.stderr)
        print("run `nbmigrate --help` for the commands", file=sys.stderr)
        return EXIT_USAGE
    if ns.command in commands.NOTEBOOK_ONLY:
        where = f"`{ns.command}` is for notebooks (%migrate {ns.command})"
        print(f"nbmigrate: {where}; in the shell pass --db URL to each command", file=sys.stderr)
        return EXIT_USAGE
    logging.basicConfig(
        level=logging.INFO if ns.verbose else logging.WARNING,
        format="%(message)s",
        stream=sys.stderr,
    )
    manager: MigrationManager | None = None
    try:
        settings = config.resolve(ns.db, ns.dir, strict=ns.strict, lock_timeout=ns.lock_timeout)
        manager = MigrationManager(
            Database(settings.url),
            settings.directory,
            strict=settings.strict,
            lock_timeout=settings.lock_timeout,
            on_progress=None if ns.json else _progress_bar(),
        )
        result = asyncio.run(_run(manager, ns))
    except KeyboardInterrupt:
        flight = manager.interrupted if manager else None
        if flight is None:
            what = "stopped"
        elif flight.transactional:
            what = f"migration {flight.version} ({flight.name}) was rolled back"
        else:
            what = f"migration {flight.version} ({flight.name}) is not transactional: recorded as failed"
        print(f"interrupted: {what}; the lock is released", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (ConfirmationRequired, ConfigError) as exc:
        return _fail(exc, ns.debug, EXIT_USAGE)
    except NbMigrateError as exc:
        return _fail(exc, ns.debug, EXIT_FAILURE)
    try:
        print(render.to_json(result) if ns.json else render.to_text(result))
    except BrokenPipeError:  # `nbmigrate status | head`
        sys.stderr.close()
    if isinstance(result, ValidationReport) and not result.ok:
        return EXIT_FAILURE
    return EXIT_OK


async def _run(manager: MigrationManager, ns: argparse.Namespace) -> render.Result:
    try:
        return await commands.dispatch(manager, ns)
    finally:
        await manager.db.disconnect()


def _fail(exc: BaseException, debug: bool, code: int) -> int:
    if debug:
        import traceback

        traceback.print_exception(exc)
    print(f"error: {mask_password(str(exc))}", file=sys.stderr)
    return code


def _progress_bar() -> Callable[[Progress], None] | None:
    """A tqdm bar on a terminal for runs of several migrations; nothing otherwise."""
    if not sys.stderr.isatty():
        return None
    bar = None

    def update(p: Progress) -> None:
        nonlocal bar
        if p.total < 2:
            return
        if bar is None:
            from tqdm import tqdm

            bar = tqdm(total=p.total, unit="migration", file=sys.stderr, leave=False)
        if p.phase == "start":
            bar.set_description(f"{p.direction} {p.version}")
        else:
            bar.update(1)
            if p.index + 1 == p.total:
                bar.close()
                bar = None

    return update


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
