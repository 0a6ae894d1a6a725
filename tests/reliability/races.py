"""Races: several `nbmigrate` processes against one database at once; the end must be consistent."""

from __future__ import annotations

import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from . import harness

_APPLIED = re.compile(r"^applied (\d+) ", re.M)
_REVERTED = re.compile(r"^reverted (\d+) ", re.M)


@dataclass
class RaceSummary:
    """What the rounds did and found; `violations` must stay empty."""

    backend: str
    scenario: str
    rounds: int = 0
    processes: int = 0
    exit_codes: Counter[int] = field(default_factory=Counter)
    slowest_round_seconds: float = 0.0
    violations: list[str] = field(default_factory=list)

    def line(self) -> str:
        codes = ", ".join(f"exit {c}: {n}" for c, n in sorted(self.exit_codes.items()))
        return (
            f"races ({self.scenario}) on {self.backend}: {self.rounds} rounds, {self.processes} processes "
            f"({codes}), slowest round {self.slowest_round_seconds:.2f}s, "
            f"violations: {len(self.violations)}"
        )


def start_together(commands: list[list[str]]) -> list[harness.Finished]:
    """Start every command at once, then wait for all of them."""
    t0 = time.perf_counter()
    procs = [harness.spawn(*args) for args in commands]
    return [harness.finish(p, tuple(args), t0, timeout=300) for p, args in zip(procs, commands, strict=True)]


def _check_processes(done: list[harness.Finished], where: str, summary: RaceSummary) -> None:
    for f in done:
        summary.processes += 1
        summary.exit_codes[f.returncode] += 1
        if f.returncode != 0 or f.crashed:
            summary.violations.append(
                f"{where}: `{' '.join(f.args[4:])}` exited {f.returncode}: {f.stderr.strip()[-500:]}"
            )


def all_up(url: str, directory: Path, expected: dict[str, int], summary: RaceSummary, n: int = 8) -> None:
    """`n` processes run `up` at once: each migration applied exactly once, in version order."""
    where = f"{summary.scenario} round {summary.rounds}"
    summary.rounds += 1
    t0 = time.perf_counter()
    done = start_together([["--db", url, "--dir", str(directory), "up"] for _ in range(n)])
    summary.slowest_round_seconds = max(summary.slowest_round_seconds, time.perf_counter() - t0)
    _check_processes(done, where, summary)
    snap = harness.inspect(url)
    problems = harness.violations(snap, expected) + harness.applied_once(snap)
    if snap.applied() != set(expected):
        problems.append(f"only {sorted(snap.applied())} applied")
    order = [v for _, action, v, outcome in snap.log if action == "apply" and outcome == "ok"]
    if order != sorted(order, key=int):
        problems.append(f"applied out of version order: {order}")
    reported = Counter(v for f in done for v in _APPLIED.findall(f.stdout))
    if reported != Counter(dict.fromkeys(expected, 1)):
        problems.append(f"processes reported applying {dict(reported)}, expected each version once")
    summary.violations += [f"{where}: {p}" for p in problems]


def mixed(url: str, directory: Path, expected: dict[str, int], summary: RaceSummary) -> None:
    """From half applied: `up` x3, `down --steps 2` x2, `redo`, `status` x2 at once.

    The end state depends on who wins the lock; it must be consistent whatever it is, and the
    processes' own reports must add up to it.
    """
    where = f"{summary.scenario} round {summary.rounds}"
    summary.rounds += 1
    half = sorted(expected)[len(expected) // 2 - 1]
    first = harness.run("--db", url, "--dir", str(directory), "up", half)
    if first.returncode != 0:
        summary.violations.append(f"{where}: setting up to {half} failed: {first.stderr.strip()}")
        return
    before = harness.inspect(url).applied()
    base = ["--db", url, "--dir", str(directory)]
    commands = [
        [*base, "up"],
        [*base, "down", "--steps", "2"],
        [*base, "status"],
        [*base, "up"],
        [*base, "redo"],
        [*base, "down", "--steps", "2"],
        [*base, "status"],
        [*base, "up"],
    ]
    t0 = time.perf_counter()
    done = start_together(commands)
    summary.slowest_round_seconds = max(summary.slowest_round_seconds, time.perf_counter() - t0)
    _check_processes(done, where, summary)
    snap = harness.inspect(url)
    problems = harness.violations(snap, expected)
    applied = sum(len(_APPLIED.findall(f.stdout)) for f in done)
    reverted = sum(len(_REVERTED.findall(f.stdout)) for f in done)
    if len(before) + applied - reverted != len(snap.applied()):
        problems.append(
            f"{len(before)} applied before, processes reported {applied} applied and {reverted} "
            f"reverted, but {len(snap.applied())} are applied now"
        )
    summary.violations += [f"{where}: {p}" for p in problems]
