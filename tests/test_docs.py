"""Docs are tested: every command is in the README with help text, and the README's first
lines are the two commands a newcomer runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from nbmigrate import commands

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _subcommands() -> dict[str, object]:
    action = next(a for a in commands.PARSER._actions if a.dest == "command")
    return dict(action.choices)  # type: ignore[arg-type]


SHELL_COMMANDS = sorted(set(_subcommands()) - {"connect", "dashboard"})


@pytest.mark.parametrize("command", SHELL_COMMANDS)
def test_every_cli_command_is_in_the_readme_with_help(command: str) -> None:
    assert re.search(rf"`nbmigrate {command}\b", README), f"README does not show `nbmigrate {command}`"
    parser = _subcommands()[command]
    assert parser.description, f"{command} has no help text"  # type: ignore[attr-defined]


def test_readme_starts_with_the_two_commands() -> None:
    first_block = README.split("```")[1]
    assert "make demo" in first_block and "make test" in first_block


def test_makefile_targets_named_in_the_readme_exist() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    for target in re.findall(r"make (\w+)", README):
        assert re.search(rf"^{target}:", makefile, re.M), (
            f"README names `make {target}`, the Makefile lacks it"
        )


def test_ci_runs_the_readme_test_command() -> None:
    assert "make test" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
