"""The pieces of the shared grammar: declared arguments, their value types, and the parser built from them.

Commands are declared once, in commands.py, as lists of `Arg`; this module turns the
declarations into one argparse parser (raising instead of exiting, so a notebook kernel
survives a typo) and answers the questions completion and help ask of them.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from .config import check_seconds
from .errors import ConfigError, NbMigrateError, UsageError
from .model import normalize_version, shorten

SHELL, NOTEBOOK = "shell", "notebook"
BOTH = frozenset({SHELL, NOTEBOOK})
MAX_COUNT = 10**9  # --steps, --limit: more is a typo, and no database counts that far
_UNSET: Any = object()  # an Arg's default when none is declared


class HelpShown(NbMigrateError):
    """`--help` was asked: the text is the help to show (not an error; the faces print it)."""


@dataclass(frozen=True)
class Arg:
    """One argument of a command: argparse, completion, `%migrate?` and dispatch all read this."""

    flags: tuple[str, ...]  # ("version",) for a positional; ("--to",) or ("-p", "--parameter")
    help: str = ""
    type: Callable[[str], Any] | None = None
    metavar: str | None = None
    flag: bool = False  # a switch (store_true)
    optional: bool = False  # a positional that may be left out
    repeat: bool = False  # may be given several times (a list)
    default: Any = _UNSET
    dest: str | None = None  # when not the flag's own name (`--sql`/`--python` -> kind)
    const: Any = None  # the value a switch with a `dest` stores
    group: str | None = None  # mutually exclusive with the others of its group
    faces: frozenset[str] = BOTH

    @property
    def positional(self) -> bool:
        return not self.flags[0].startswith("-")

    @property
    def name(self) -> str:
        """The dispatch name of its value."""
        return self.dest or self.flags[-1].lstrip("-").replace("-", "_")

    @property
    def initial(self) -> Any:
        """Its value when not given."""
        if self.default is not _UNSET:
            return self.default
        return [] if self.repeat else False if self.flag and self.const is None else None

    def add_to(self, target: Any) -> None:
        kwargs: dict[str, Any] = {"help": self.help}
        if self.const is not None:
            kwargs.update(action="store_const", const=self.const, dest=self.name)
        elif self.flag:
            kwargs.update(action="store_true")
        elif self.repeat:
            kwargs.update(action="append", default=[], dest=self.name)
        if self.type is not None:
            kwargs["type"] = self.type
        if self.metavar is not None:
            kwargs["metavar"] = self.metavar
        if self.optional:
            kwargs["nargs"] = "?"
        if self.default is not _UNSET and not self.flag and not self.repeat:
            kwargs["default"] = self.default
        target.add_argument(*self.flags, **kwargs)

    def usage(self) -> str:
        """How it reads in a usage line: `VERSION`, `[VERSION]`, `[--to VERSION]`, `[--all]`."""
        if self.positional:
            word = self.metavar or self.flags[0]
            return f"[{word}]" if self.optional else word
        flag = self.flags[-1]
        return f"[{flag}]" if self.flag or self.const is not None else f"[{flag} {self.metavar}]"


class Parser(argparse.ArgumentParser):
    """An ArgumentParser that raises instead of exiting, so a notebook kernel survives it."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        raise HelpShown(message or "")

    def print_help(self, file: Any = None) -> None:
        raise HelpShown(self.format_help())


def add_all(parser: argparse.ArgumentParser, args: Sequence[Arg]) -> None:
    """Add declared arguments, mutually exclusive groups kept together."""
    groups: dict[str, Any] = {}
    for arg in args:
        target: Any = parser
        if arg.group is not None:
            if arg.group not in groups:
                groups[arg.group] = parser.add_mutually_exclusive_group()
            target = groups[arg.group]
        arg.add_to(target)


# -- value types ------------------------------------------------------------------------


def version(text: str) -> str:
    try:
        return normalize_version(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def whole_number(minimum: int, maximum: int = MAX_COUNT) -> Callable[[str], int]:
    """A whole number (ASCII digits) from `minimum` to `maximum`."""

    def parse(text: str) -> int:
        digits = text.strip()
        if not re.fullmatch(r"-?[0-9]+", digits):
            raise argparse.ArgumentTypeError(f"expected a whole number, got {shorten(text)!r}")
        value = int(digits) if len(digits) <= 30 else None  # int() of thousands of digits refuses
        if value is None or not minimum <= value <= maximum:
            raise argparse.ArgumentTypeError(f"must be from {minimum} to {maximum:,}, got {shorten(digits)}")
        return value

    return parse


def seconds(text: str) -> float:
    try:
        return check_seconds(text, "seconds")
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("seconds: ")) from None
