"""Crash injection: SIGKILL `nbmigrate up` at random moments, then check nothing is half-applied."""

from __future__ import annotations

import random
import signal
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from . import harness


@dataclass
class CrashSummary:
    """What the trials did and found; `violations` must stay empty."""

    backend: str
    trials: int = 0
    kills: int = 0  # SIGKILL sent while the process was still running
    during_startup: int = 0  # killed before the ledger existed
    mid_run: int = 0  # killed with the ledger there and not every migration recorded
    after_last_commit: int = 0  # killed after the last migration committed, or the run had ended
    full_run_seconds: float = 0.0
    window: tuple[float, float] = (0.0, 0.0)  # when migrations ran, in seconds after the process started
    slowest_recovery_seconds: float = 0.0
    violations: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (
            f"crash injection on {self.backend}: {self.trials} trials, {self.kills} kills "
            f"({self.mid_run} mid-run, {self.during_startup} during start-up, "
            f"{self.after_last_commit} after the last commit), "
            f"full run {self.full_run_seconds:.2f}s (migrating from {self.window[0]:.2f}s to "
            f"{self.window[1]:.2f}s), slowest recovery {self.slowest_recovery_seconds:.2f}s, "
            f"invariant violations: {len(self.violations)}"
        )


def run_trials(
    backend: str,
    new_database: Callable[[], str],
    drop_database: Callable[[str], None],
    directory: Path,
    expected: dict[str, int],
    kills: int,
    seed: int,
) -> CrashSummary:
    """Trials until `kills` SIGKILLs landed on a running `up`: each on a fresh database, `up`
    killed after a random delay, check, `up` again, check. (A run may end before its delay
    is up; such a trial still checks the invariant but is not a kill. At most 3 x `kills` + 10
    trials, so it always ends.)

    Half the delays are drawn from the whole run, half from the stretch in which migrations
    ran (both measured on first, unkilled runs), so most kills land while work is in flight.
    """
    rng = random.Random(seed)
    summary = CrashSummary(backend)
    _calibrate(new_database, drop_database, directory, expected, summary, harness.count(1, 3))
    for trial in range(3 * kills + 10):
        if summary.kills >= kills:
            break
        url = new_database()
        low, high = (0.0, summary.full_run_seconds) if trial % 2 else summary.window
        try:
            _one_trial(url, directory, expected, rng.uniform(low, high), trial, summary)
        finally:
            drop_database(url)
    return summary


def _calibrate(
    new_database: Callable[[], str],
    drop_database: Callable[[str], None],
    directory: Path,
    expected: dict[str, int],
    summary: CrashSummary,
    runs: int,
) -> None:
    """Time whole `up` runs (process start to exit) on fresh databases, and when they migrated;
    keep the medians."""
    totals, firsts, lasts = [], [], []
    for _ in range(runs):
        url = new_database()
        try:
            started = datetime.now(timezone.utc)
            done = harness.run("--db", url, "--dir", str(directory), "up")
            if done.returncode != 0 or done.crashed:
                summary.violations.append(
                    f"calibration run failed ({done.returncode}): {done.stderr.strip()}"
                )
            summary.violations += harness.violations(harness.inspect(url), expected)
            window = harness.apply_window(url)
            assert window is not None, "the calibration run applied nothing"
            first, last = ((moment - started).total_seconds() for moment in window)
            totals.append(done.seconds)
            firsts.append(max(first, 0.0))
            lasts.append(min(max(last, first), done.seconds))
        finally:
            drop_database(url)
    summary.full_run_seconds = statistics.median(totals)
    summary.window = (statistics.median(firsts), statistics.median(lasts))


def _one_trial(
    url: str, directory: Path, expected: dict[str, int], delay: float, trial: int, summary: CrashSummary
) -> None:
    summary.trials += 1
    where = f"trial {trial} (kill after {delay:.3f}s)"
    proc = harness.spawn("--db", url, "--dir", str(directory), "up")
    time.sleep(delay)
    killed = harness.kill(proc, signal.SIGKILL)
    proc.communicate()
    summary.kills += killed
    after_kill = harness.inspect(url)
    if not killed or len(after_kill.applied()) == len(expected):
        summary.after_last_commit += 1
    elif not after_kill.has_ledger:
        summary.during_startup += 1
    else:
        summary.mid_run += 1
    summary.violations += [f"{where}, after the kill: {v}" for v in harness.violations(after_kill, expected)]
    if not killed and proc.returncode != 0:
        summary.violations.append(f"{where}: the unkilled run exited {proc.returncode}")

    # The next run must not wait for a lock the dead process held, and must finish the work.
    # (In this process, to save a start-up per trial: the same `nbmigrate.cli.main`.)
    again = harness.main("--db", url, "--dir", str(directory), "--lock-timeout", "20", "up")
    summary.slowest_recovery_seconds = max(summary.slowest_recovery_seconds, again.seconds)
    if again.returncode != 0 or again.crashed:
        summary.violations.append(f"{where}: recovery `up` exited {again.returncode}: {again.stderr.strip()}")
    recovered = harness.inspect(url)
    problems = harness.violations(recovered, expected) + harness.applied_once(recovered)
    if recovered.applied() != set(expected):
        problems.append(f"after recovery only {sorted(recovered.applied())} applied")
    summary.violations += [f"{where}, after recovery: {p}" for p in problems]
    if url.startswith("sqlite"):
        partials = list(Path(str(harness.sqlite_path(url)) + ".backups").glob(".*"))
        if partials:
            summary.violations.append(f"{where}: partial backups left after recovery: {partials}")
