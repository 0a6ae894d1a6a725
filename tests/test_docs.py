"""Docs are tested: every command is in the README with help text, and the README's first
lines are the two commands a newcomer runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from nbmigrate import commands

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


SHELL_COMMANDS = [c.name for c in commands.in_face("shell")]
NOTEBOOK_ONLY = [c.name for c in commands.in_face("notebook") if "shell" not in c.faces]


@pytest.mark.parametrize("command", SHELL_COMMANDS)
def test_every_cli_command_is_in_the_readme_with_help(command: str) -> None:
    assert re.search(rf"`nbmigrate {command}\b", README), f"README does not show `nbmigrate {command}`"
    assert commands.COMMANDS[command].summary, f"{command} has no help text"
    assert f"\n    {command}" in commands.parser().format_help(), f"`nbmigrate --help` does not list {command}"


@pytest.mark.parametrize("command", NOTEBOOK_ONLY)
def test_every_notebook_only_command_is_in_the_readme(command: str) -> None:
    assert re.search(rf"%migrate {command}\b", README), f"README does not show `%migrate {command}`"


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
