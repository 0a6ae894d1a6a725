"""The reliability suite: every test here is marked `reliability` (so `make stress` runs them
all), and every figure measured is printed at the end of the run."""

from __future__ import annotations

from pathlib import Path

import pytest

from .figures import FIGURES, LINES, save

HERE = Path(__file__).resolve().parent


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "reliability: the reliability suite (tests/reliability)")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.reliability)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not FIGURES:
        return
    outcomes = {}
    for outcome in ("passed", "failed", "error", "skipped"):
        mine = [r for r in terminalreporter.stats.get(outcome, []) if "tests/reliability/" in r.nodeid]
        outcomes[outcome] = len(mine)
    fuzz = {k.split("/", 1)[1]: v["examples"] for k, v in FIGURES.items() if k.startswith("fuzz/")}
    for name, examples in fuzz.items():
        LINES.append(f"fuzz ({name}): {examples} examples")
    FIGURES["tests"] = outcomes
    path = save()
    terminalreporter.section("nbmigrate reliability figures")
    for line in LINES:
        terminalreporter.write_line(line)
    summary = ", ".join(f"{n} {o}" for o, n in outcomes.items() if n)
    terminalreporter.write_line(f"reliability tests: {summary}; fuzz examples: {sum(fuzz.values())}")
    terminalreporter.write_line(f"(saved to {path})")
