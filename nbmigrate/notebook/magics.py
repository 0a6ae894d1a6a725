"""`%migrate CMD` and `%%migration VERSION NAME`: parse, one call on the bridge loop, a result to show."""

from __future__ import annotations

import argparse
import logging
import re
import shlex
import sys
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from IPython.core.completer import CompletionContext, SimpleCompletion, SimpleMatcherResult, context_matcher
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from traitlets import Bool, Bunch, Float, TraitError, validate

from .. import commands, config, errors, render, urls
from ..engine.manager import MigrationManager
from ..errors import ConfigError, NbMigrateError
from ..grammar import NOTEBOOK
from ..model import (
    normalize_version,
    version_key,
)
from ..reports import (
    StatusReport,
    ValidationReport,
)
from ..sources import scaffold
from ..sources.discover import FILE_RE
from ..urls import mask_password
from . import authoring, bridge, display

T = TypeVar("T")
# Options whose value is a VERSION: completion offers versions after them.
_VERSION_OPTIONS = frozenset(
    a.flags[-1] for c in commands.COMMANDS.values() for a in c.args if a.metavar == "VERSION"
)


class CellFailure(errors.NbMigrateError):
    """A run-time failure: the cell fails (nbval and Run All stop) with a few lines, no traceback.

    `.error` is the nbmigrate error (MigrationFailed, LockTimeout ...) it stands for.
    """

    def __init__(self, error: NbMigrateError | str, name: str | None = None) -> None:
        self.error = error
        self.kind = name or type(error).__name__
        super().__init__(mask_password(str(error)))

    def _render_traceback_(self) -> list[str]:
        first, *rest = str(self).splitlines() or [""]
        return [f"{self.kind}: {first}", *(f"  {line.strip()}" for line in rest)]


class MigrationInterrupted(errors.Interrupted):
    """A kernel interrupt, raised after the run was cancelled and rolled back: one line, no traceback."""

    def _render_traceback_(self) -> list[str]:
        return [f"KeyboardInterrupt: {self}"]


@magics_class
class NbMigrate(Magics):
    """nbmigrate's magics; settings with `%config NbMigrate.strict = True` and the like."""

    strict = Bool(
        None, allow_none=True, help="Refuse out-of-order migrations (None: from the configuration)."
    ).tag(config=True)
    lock_timeout = Float(
        None, allow_none=True, help="Seconds to wait for another run's lock (None: from the configuration)."
    ).tag(config=True)
    progress = Bool(True, help="Show a progress bar on runs of several migrations.").tag(config=True)

    @validate("lock_timeout")
    def _check_lock_timeout(self, proposal: Bunch) -> float | None:
        """NaN, infinite, negative or absurd seconds are refused (`%config` prints the one line)."""
        if proposal["value"] is None:
            return None
        try:
            return config.check_seconds(proposal["value"], "NbMigrate.lock_timeout")
        except ConfigError as exc:
            raise TraitError(str(exc)) from None

    def __init__(self, shell: InteractiveShell) -> None:
        super().__init__(shell=shell)
        self.session = bridge.Session()
        self._ledger_versions: set[str] = set()

    # -- %migrate ---------------------------------------------------------------------

    @line_magic
    def migrate(self, line: str) -> Any:
        ns = _parse(line)
        if ns is None:
            return None
        if ns.db is not None:
            raise UsageError("--db is for the shell; in a notebook run `%migrate connect URL` once")
        if ns.dir is not None and ns.command != "connect":
            raise UsageError("--dir is for the shell; in a notebook run `%migrate connect URL --dir PATH`")
        with _fails_short(ns.debug):
            if ns.command == "connect":
                return self._connect(ns)
            if ns.command == "dashboard":
                return self._dashboard(ns)
            manager = self._manager(ns)
            result = self._run(manager, commands.dispatch_parsed(manager, ns), ns)
            if isinstance(result, StatusReport):
                self._ledger_versions = {m.version for m in result.migrations if m.applied}
            if isinstance(result, ValidationReport) and not result.ok:
                raise CellFailure(render.to_text(result), "ValidationFailed")
        return render.to_data(result) if ns.json else display.Result(result)

    def _connect(self, ns: argparse.Namespace) -> display.Shown:
        manager = self.session.connect(ns.url, ns.dir)
        message = f"connected to {manager.db.display_url}; migrations in {manager.directory}"
        return display.Message(message, database=manager.db.display_url, directory=str(manager.directory))

    def _dashboard(self, ns: argparse.Namespace) -> Any:
        from .widgets import Dashboard  # ipywidgets only when asked for

        return Dashboard(self._manager(ns))

    def _manager(self, ns: argparse.Namespace | None = None) -> MigrationManager:
        """The session's manager with this command's strict and lock-timeout settings."""
        manager = self.session.manager()
        settings = self.session.settings
        assert settings is not None
        strict = ns.strict if ns is not None and ns.strict is not None else self.strict
        timeout = ns.lock_timeout if ns is not None and ns.lock_timeout is not None else self.lock_timeout
        manager.strict = settings.strict if strict is None else strict
        manager.lock_timeout = settings.lock_timeout if timeout is None else timeout
        return manager

    def _run(
        self, manager: MigrationManager, coro: Coroutine[Any, Any, T], ns: argparse.Namespace | None = None
    ) -> T:
        """Run on the bridge loop with a progress bar; say what an interrupt rolled back."""
        quiet = ns is not None and ns.json
        bar = display.ProgressBar(enabled=self.progress and not quiet)
        manager.on_progress = bar.report
        try:
            with _log_lines(ns is not None and ns.verbose):
                return bridge.run(coro, poll=bar.pump)
        except KeyboardInterrupt as stop:
            raise MigrationInterrupted(_interrupt_text(manager, stop)) from None
        finally:
            manager.on_progress = None
            bar.close()

    # -- %%migration ------------------------------------------------------------------

    @magic_arguments(name="%migration")
    @argument("version", metavar="VERSION", type=lambda text: _arg(normalize_version, text))
    @argument("name", metavar="NAME", type=lambda text: _arg(scaffold.check_name, text))
    @argument("--apply", action="store_true", help="apply it at once (`%%migrate up VERSION`)")
    @argument("--force", action="store_true", help="rewrite it even though it is applied")
    @cell_magic
    def migration(self, line: str, cell: str) -> Any:
        """Write the cell as migrations/migration_VERSION_NAME.sql (or .py), so it outlives the kernel.

        The cell is SQL with `-- up` and `-- down` marker lines, or Python defining
        `async def up(db)` and `async def down(db)`. Running the same cell again does
        nothing; changing a migration that is not applied yet rewrites its file; changing
        an applied one is refused (write a new migration, or --force). `$x` and `{x}` in
        the cell are written as they are.
        """
        args = parse_argstring(self.migration, line)
        if not cell.strip():
            raise UsageError("the cell is empty: write SQL with -- up / -- down, or Python: async def up(db)")
        with _fails_short(False):
            manager = self._manager()
            write = authoring.write_cell(
                manager, args.version, args.name, cell, force=args.force, apply=args.apply
            )
            return display.Authored(self._run(manager, write))

    # -- completion -------------------------------------------------------------------

    @context_matcher(identifier="nbmigrate", priority=100)
    def complete(self, context: CompletionContext) -> SimpleMatcherResult:
        """Subcommands after `%migrate `, versions where a VERSION goes, options after `-`."""
        found = re.search(r"%migrate\s+(?P<rest>.*)$", context.text_until_cursor)
        if found is None:
            return _matched([], "", suppress=False)
        words = found["rest"].split()
        token = "" if not words or found["rest"][-1:].isspace() else words.pop()
        candidates = self._candidates(words, token)
        completions = [SimpleCompletion(c, type="nbmigrate") for c in candidates if c.startswith(token)]
        return _matched(completions, token, suppress=bool(completions))

    def _candidates(self, words: list[str], token: str) -> list[str]:
        if not words:  # not `runbook`: it starts a kernel of its own, so %migrate refuses it
            return [c.name for c in commands.in_face(NOTEBOOK)]
        command = commands.COMMANDS.get(words[0])
        if command is None:
            return []
        takes_version = (len(words) == 1 and command.takes_version) or words[-1] in _VERSION_OPTIONS
        if takes_version and not token.startswith("-"):
            return self.known_versions()
        return command.long_options(NOTEBOOK)

    def known_versions(self) -> list[str]:
        """Versions of the migration files (even an invalid set) and of the last status seen."""
        versions = set(self._ledger_versions)
        try:
            directory = self.session.settings_now().directory
            if directory.is_dir():
                versions |= {m["version"] for p in directory.iterdir() if (m := FILE_RE.match(p.name))}
        except (ConfigError, OSError):
            pass
        return sorted(versions, key=version_key)

    def close(self) -> None:
        self.session.close()


def _matched(completions: list[SimpleCompletion], token: str, *, suppress: bool) -> SimpleMatcherResult:
    """IPython's matcher result: ours alone when we have some, nothing ordered specially."""
    return {
        "completions": completions,
        "suppress": suppress,
        "matched_fragment": token,
        "do_not_suppress": set(),
        "ordered": False,
    }


def _interrupt_text(manager: MigrationManager, stop: KeyboardInterrupt) -> str:
    """What a kernel interrupt left behind, as the database shows it, with what the run had done."""
    if isinstance(stop, bridge.StillRunning):
        flight = manager.in_flight
        what = f"migration {flight.version} ({flight.name})" if flight else "the command"
        return (
            f"{what} is still running in the background (it blocks the event loop); "
            "its outcome will show in `%migrate status`"
        )
    interruption = manager.interruption
    text = interruption.describe() if interruption is not None else "nothing was running"
    done = interruption.completed if interruption is not None else []
    if done:
        steps = ", ".join(f"{s.version} {s.name}" for s in done)
        text = f"{done[0].outcome} {steps} first; then {text}"
    return f"{text}; the lock is released"


def _notebook_text(text: str) -> str:
    """The shared parser speaks of `nbmigrate`; in a notebook the command is `%migrate`."""
    return re.sub(r"(usage: |^)nbmigrate\b", r"\1%migrate", text, flags=re.MULTILINE)


def _parse(line: str) -> argparse.Namespace | None:
    """The shared grammar; None when help was shown."""
    try:
        argv = shlex.split(line)
    except ValueError as exc:
        raise UsageError(f"%migrate: {exc}") from None
    try:
        return commands.parse(argv)
    except commands.HelpShown as shown:
        print(_notebook_text(str(shown)))
        return None
    except errors.UsageError as problem:
        raise UsageError(_notebook_text(mask_password(str(problem))).splitlines()[0]) from None


def _arg(check: Any, text: str) -> Any:
    """An argparse type from a core check: its error becomes the usage message."""
    try:
        return check(text)
    except (ValueError, ConfigError) as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


@contextmanager
def _fails_short(debug: bool) -> Iterator[None]:
    """nbmigrate's errors fail the cell with a few lines (the whole traceback with --debug)."""
    try:
        yield
    except NbMigrateError as exc:
        if debug:
            raise
        raise CellFailure(exc) from exc


@contextmanager
def _log_lines(verbose: bool) -> Iterator[None]:
    """With -v, the migrations' log lines go to the cell's stderr."""
    if not verbose:
        yield
        return
    logger = logging.getLogger("nbmigrate")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(urls.masking_formatter("%(message)s"))
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _grammar() -> str:
    """`%migrate?`: every command the notebook offers, with its own arguments."""
    common = " ".join(a.usage() for a in commands.COMMON if NOTEBOOK in a.faces)
    lines = [f"  %migrate {c.usage(NOTEBOOK)}" for c in commands.in_face(NOTEBOOK)]
    return f"usage: %migrate COMMAND {common}\n\ncommands:\n" + "\n".join(lines) + "\n"


NbMigrate.migrate.__doc__ = (
    "Run an nbmigrate command, with the same grammar as the `nbmigrate` shell command.\n\n"
    "Results are returned: an HTML table in Jupyter, text elsewhere, and `.rows`, `.data`,\n"
    "`.to_dataframe()` in Python; `--json` returns the data. `%migrate connect URL [--dir PATH]`\n"
    "sets this session's database; without it the configuration is read as the shell reads it\n"
    "(NBMIGRATE_DATABASE_URL, [tool.nbmigrate] in pyproject.toml). --db and --dir are for the shell.\n"
    "Settings: `%config NbMigrate.strict = True`, `%config NbMigrate.lock_timeout = 30`.\n\n" + _grammar()
)


def load(shell: InteractiveShell) -> None:
    """`%load_ext nbmigrate`."""
    magics = NbMigrate(shell)
    shell.register_magics(magics)
    shell.Completer.custom_matchers.append(magics.complete)


def unload(shell: InteractiveShell) -> None:
    """`%unload_ext nbmigrate`: disconnect, forget the magics, stop the bridge loop."""
    magics = shell.magics_manager.registry.pop(NbMigrate.__name__, None)
    if isinstance(magics, NbMigrate):
        magics.close()
        shell.Completer.custom_matchers[:] = [
            m for m in shell.Completer.custom_matchers if getattr(m, "__self__", None) is not magics
        ]
        configurables: list[Any] = shell.configurables  # IPython types it as shells; magics are there too
        if magics in configurables:
            configurables.remove(magics)
    shell.magics_manager.magics["line"].pop("migrate", None)
    shell.magics_manager.magics["cell"].pop("migration", None)
    bridge.stop()
