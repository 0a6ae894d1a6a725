"""The benchmarks still run end to end (tiny sizes, no anchors): a broken runner fails here, not at make bench."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT, child_env


def test_run_py_measures_every_scenario_and_checks_each_runner(tmp_path: Path) -> None:
    report = tmp_path / "bench.md"
    tools = "nbmigrate,nbmigrate-engine,floor-sqlite3,floor-aiosqlite"
    tiny = "--sizes 3 --repeat 1 --warmup 0 --import-repeat 1".split()
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), *tiny, "--tools", tools, "--markdown", str(report)],
        env={**child_env(), "NBMIGRATE_BENCH_WORK": str(tmp_path / "work")},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = {
        line.split("|")[1].strip(): line for line in report.read_text().splitlines() if line.startswith("| ")
    }
    for scenario in ("apply all (fresh DB)", "no-op (second up)", "status", "roll back all"):
        cells = [c.strip() for c in rows[scenario].split("|")[2:-1]]
        assert len(cells) == 4 and all(c[0].isdigit() for c in cells), rows[scenario]
    atomic = [c.strip() for c in rows["apply all --atomic (fresh DB)"].split("|")[2:-1]]
    assert atomic[0][0].isdigit() and atomic[1][0].isdigit() and atomic[2:] == ["-", "-"]
    assert "=> importing nbmigrate.cli adds" in proc.stdout
    assert (tmp_path / "work" / "sets" / "n3").is_dir()  # NBMIGRATE_BENCH_WORK kept it out of bench/.work


def test_data_migration_py_checks_every_contender(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "data_migration.py"), "--rows", "3000", "--repeat", "1"],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for contender in ("set-based UPDATE", "backfill (in a migration)", "seed OFFSET loop"):
        assert contender in proc.stdout
    assert "target: backfill within 2x of one set-based UPDATE" in proc.stdout
