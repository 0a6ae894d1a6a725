"""Time whole migration-tool processes (start-up included) on generated sets; print medians."""

# Runners, each applying the same N migrations (table t_<i> plus an index) to a fresh SQLite
# file, as a separate process per step, timed with time.perf_counter around subprocess.run:
#   nbmigrate        .venv/bin/nbmigrate --db sqlite:///DB --dir DIR up|status|down --all
#   floor-sqlite3    bench/floor_sqlite3.py: the least a correct tool does, stdlib sqlite3
#   floor-aiosqlite  bench/floor_aiosqlite.py: the same on aiosqlite; ratios are against it
#   alembic, yoyo    anchors, installed in bench/.venv-anchors/ on first run
# Each repetition runs every runner (in a shuffled order) through apply -> no-op -> status ->
# rollback (then, for nbmigrate, `up --atomic` on a fresh file), checking the table count
# after each step, so a broken runner shows as an error.
#
#   .venv/bin/python bench/run.py                       # sizes 10,100,1000, 5 repetitions
#   .venv/bin/python bench/run.py --sizes 10 --repeat 2 --markdown bench/RESULTS.md
#   .venv/bin/python bench/run.py --sizes 10000 --tools nbmigrate,floor-aiosqlite \
#       --scenarios noop,status                         # flatness up to 10,000 migrations
#
# Standard library only: the anchors run in their own virtual environment.

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import migsets

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
# gitignored: generated sets and databases; the tests point it elsewhere to run a tiny benchmark
WORK = Path(os.environ.get("NBMIGRATE_BENCH_WORK") or BENCH / ".work")
VENV_BIN = ROOT / ".venv" / "bin"
PY = VENV_BIN / "python"
NBMIGRATE = VENV_BIN / "nbmigrate"
ANCHORS = BENCH / ".venv-anchors"  # gitignored
ANCHOR_PACKAGES = ["alembic", "sqlalchemy", "yoyo-migrations"]

TOOLS = ["nbmigrate", "nbmigrate-engine", "floor-sqlite3", "floor-aiosqlite", "alembic", "yoyo"]
NBMIGRATE_TOOLS = ("nbmigrate", "nbmigrate-engine")  # with and without the stdlib fast path (readonly.py)
ANCHOR_TOOLS = {"alembic", "yoyo"}
FLOOR = "floor-aiosqlite"
SCENARIOS = {
    "apply": "apply all (fresh DB)",
    "noop": "no-op (second up)",
    "status": "status",
    "rollback": "roll back all",
    "atomic": "apply all --atomic (fresh DB)",
}
# A scenario only nbmigrate has, compared with the floor's own way of doing the same job.
FLOOR_SCENARIO = {"atomic": "apply"}
HEAVY = {"IPython", "ipywidgets", "asyncpg"}  # must stay out of the CLI's start-up
TARGET_RATIO = 1.3  # nbmigrate apply/rollback vs floor-aiosqlite at the largest N
TARGET_QUICK = 0.12  # seconds: nbmigrate no-op and status at the largest N
TARGET_IMPORT = 0.060  # seconds that `import nbmigrate.cli` may add to start-up
TARGET_N = 1000  # the N the ratio and speed targets are stated at
FLAT_N = 10000  # no-op and status should be flat up to here ...
TARGET_FLAT = 2.0  # ... costing at most this many times their cost at the smallest N
TARGET_LINEAR = 1.5  # apply/rollback: cost per added migration, last interval of N vs the first


# Children run without PYTHON* variables (PYTHONDONTWRITEBYTECODE would make every run
# recompile the tools' own modules and alembic's revision files): a developer's usual setting.
CHILD_ENV = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
DROPPED_ENV = sorted(k for k in os.environ if k.startswith("PYTHON"))
TOOL_ENV: dict[str, dict[str, str]] = {}


def log(message: str) -> None:
    """Progress goes to stderr, so stdout holds only the report."""
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- processes


def run_process(argv: list[str], timeout: float, tool: str = "") -> tuple[float, str | None]:
    """Run one whole process of `tool` in WORK; return (seconds, error or None)."""
    start = time.perf_counter()
    try:
        proc = subprocess.run(
            argv,
            cwd=WORK,
            env=TOOL_ENV.get(tool, CHILD_ENV),
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
    except FileNotFoundError:
        return time.perf_counter() - start, f"not found: {argv[0]}"
    except subprocess.TimeoutExpired:
        return time.perf_counter() - start, f"timed out after {timeout:g}s"
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        lines = [line.strip() for line in (proc.stderr or proc.stdout).splitlines()]
        last = next((line for line in reversed(lines) if line), "(no output)")
        return elapsed, f"exit {proc.returncode}: {last[:300]}"
    return elapsed, None


def commands(tool: str, set_dir: Path, db: str) -> dict[str, list[str]]:
    """Each scenario's command line for one runner; `db` is relative to WORK (the cwd)."""
    url = f"sqlite:///{db}"
    if tool in NBMIGRATE_TOOLS:
        program = [str(NBMIGRATE)] if tool == "nbmigrate" else [str(PY), str(BENCH / "nbmigrate_engine.py")]
        base = [*program, "--db", url, "--dir", str(set_dir)]
        return {
            "apply": [*base, "up"],
            "noop": [*base, "up"],
            "status": [*base, "status"],
            "rollback": [*base, "down", "--all"],
            "atomic": [*base, "up", "--atomic"],
        }
    elif tool.startswith("floor-"):
        base = [str(PY), str(BENCH / f"{tool.replace('-', '_')}.py"), db, str(set_dir)]
        up, status, down = ["up"], ["status"], ["down-all"]
    elif tool == "alembic":
        base = [
            str(ANCHORS / "bin" / "alembic"),
            "-c",
            str(set_dir / "alembic.ini"),
            "-x",
            f"url={url}",
        ]
        up, status, down = ["upgrade", "head"], ["current"], ["downgrade", "base"]
    elif tool == "yoyo":
        yoyo = str(ANCHORS / "bin" / "yoyo")
        tail = ["--no-config-file", "--database", url, str(set_dir)]
        return {
            "apply": [yoyo, "apply", "--batch", *tail],
            "noop": [yoyo, "apply", "--batch", *tail],
            "status": [yoyo, "list", *tail],
            "rollback": [yoyo, "rollback", "--batch", "--all", *tail],
        }
    else:
        raise ValueError(tool)
    return {"apply": base + up, "noop": base + up, "status": base + status, "rollback": base + down}


def user_tables(db: Path) -> int:
    """How many t_<i> tables the database holds (0 if there is no file)."""
    if not db.exists():
        return 0
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        (count,) = conn.execute(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name GLOB 't_[0-9]*'"
        ).fetchone()
    finally:
        conn.close()
    return count


def remove_db(tool: str) -> None:
    """Delete a runner's database with its journal, WAL, lock and backup files."""
    for path in (WORK / "db").glob(f"{tool}.db*"):
        if path.is_dir():
            shutil.rmtree(path)  # e.g. nbmigrate's <db>.backups/
        else:
            path.unlink()


# ---------------------------------------------------------------- anchors


def ensure_anchors() -> str | None:
    """Create bench/.venv-anchors with alembic and yoyo if missing; return why not, or None."""
    bins = [ANCHORS / "bin" / "alembic", ANCHORS / "bin" / "yoyo"]
    if all(b.exists() for b in bins):
        return None
    log(f"anchors: installing {' '.join(ANCHOR_PACKAGES)} into {ANCHORS} (first run)")
    python3 = shutil.which("python3") or sys.executable
    steps = []
    if not (ANCHORS / "bin" / "python").exists():
        steps.append([python3, "-m", "venv", str(ANCHORS)])
    pip = [str(ANCHORS / "bin" / "python"), "-m", "pip", "install", "-q"]
    steps.append([*pip, "--retries", "1", "--timeout", "30", *ANCHOR_PACKAGES])
    for argv in steps:
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=900)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"{' '.join(argv[:3])}: {exc}"
        if proc.returncode != 0:
            lines = [line for line in (proc.stderr or proc.stdout).splitlines() if line.strip()]
            return f"{' '.join(argv[:4])} failed: {lines[-1] if lines else proc.returncode}"
    missing = [str(b) for b in bins if not b.exists()]
    return f"missing after install: {', '.join(missing)}" if missing else None


# ---------------------------------------------------------------- facts

VERSIONS_SNIPPET = """\
import importlib.metadata as m, json, platform, sqlite3, sys
out = {"python": platform.python_version(), "sqlite": sqlite3.sqlite_version}
for name in sys.argv[1:]:
    try:
        out[name] = m.version(name)
    except m.PackageNotFoundError:
        out[name] = "not installed"
print(json.dumps(out))
"""


def versions(python: Path, packages: list[str]) -> dict[str, str]:
    """Versions of Python, SQLite and `packages` as seen by one interpreter."""
    try:
        proc = subprocess.run(
            [str(python), "-c", VERSIONS_SNIPPET, *packages],
            capture_output=True,
            text=True,
            timeout=60,
        )
        return json.loads(proc.stdout)
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return {}


def machine_facts(with_anchors: bool) -> list[tuple[str, str]]:
    """(label, value) pairs describing where the figures come from."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    main = versions(PY, ["nbmigrate", "aiosqlite"])
    facts = [
        ("date", datetime.now().astimezone().isoformat(timespec="seconds")),
        ("CPU", cpu),
        ("cores", str(os.cpu_count())),
        ("load average at start", " ".join(f"{x:.2f}" for x in os.getloadavg())),
        ("OS", platform.platform()),
        ("Python", main.get("python", platform.python_version())),
        ("SQLite", main.get("sqlite", sqlite3.sqlite_version)),
        ("nbmigrate", main.get("nbmigrate", "?")),
        ("aiosqlite", main.get("aiosqlite", "?")),
    ]
    if with_anchors:
        anchors = versions(ANCHORS / "bin" / "python", ["alembic", "SQLAlchemy", "yoyo-migrations"])
        facts += [(k, v) for k, v in anchors.items() if k not in ("python", "sqlite")]
    return facts


# ---------------------------------------------------------------- measuring


class Results:
    """Samples per (N, runner, scenario) and the first error per (N, runner)."""

    def __init__(self) -> None:
        self.samples: dict[tuple[int, str, str], list[float]] = {}
        self.errors: dict[tuple[int, str], str] = {}
        self.schema_load: dict[int, float] = {}  # N -> seconds SQLite takes to parse the schema

    def add(self, n: int, tool: str, scenario: str, seconds: float) -> None:
        self.samples.setdefault((n, tool, scenario), []).append(seconds)

    def spread(self, n: int) -> str:
        """The noisiest cell of one N: its (max - min) / median, to judge the figures by."""
        worst = max(
            (
                ((max(v) - min(v)) / statistics.median(v), t, s)
                for (m, t, s), v in self.samples.items()
                if m == n and len(v) > 1
            ),
            default=None,
        )
        if worst is None:
            return "spread: one sample per cell"
        ratio, tool, scenario = worst
        return f"largest spread (max-min)/median: {ratio:.0%} ({tool}, {SCENARIOS[scenario]})"

    def median(self, n: int, tool: str, scenario: str) -> float | None:
        values = self.samples.get((n, tool, scenario))
        if not values or (n, tool) in self.errors:
            return None
        return statistics.median(values)


def run_sequence(
    tool: str,
    n: int,
    cmds: dict[str, list[str]],
    scenarios: list[str],
    prepared: dict[str, bool],
    timed: bool,
    results: Results,
    timeout: float,
) -> None:
    """One repetition of one runner: apply -> no-op -> status -> rollback -> atomic, as selected."""
    db = WORK / "db" / f"{tool}.db"
    steps: list[tuple[str, int]] = []
    if "apply" in scenarios or not prepared[tool]:
        remove_db(tool)
        prepared[tool] = False
        steps.append(("apply", n))
    steps += [(s, n) for s in ("noop", "status") if s in scenarios]
    if "rollback" in scenarios:
        steps.append(("rollback", 0))
    if "atomic" in scenarios and "atomic" in cmds:
        steps.append(("atomic", n))
    for step, expected in steps:
        if step == "atomic":
            remove_db(tool)  # like apply: every migration pending, on a fresh file
        seconds, error = run_process(cmds[step], timeout, tool)
        if error is None:
            found = user_tables(db)
            if found != expected:
                error = f"after {step}: {found} tables t_<i>, expected {expected}"
        if error is not None:
            results.errors[(n, tool)] = f"{SCENARIOS[step]}: {error}"
            prepared[tool] = False
            return
        if timed and step in scenarios:
            results.add(n, tool, step, seconds)
        prepared[tool] = step not in ("rollback", "atomic")


def measure_size(
    n: int,
    tools: list[str],
    scenarios: list[str],
    args: argparse.Namespace,
    rng: random.Random,
    results: Results,
) -> None:
    """All repetitions for one N, interleaving the runners."""
    log(f"N={n}: generating migration sets (once) in {WORK / 'sets'}")
    cmds = {}
    for tool in tools:
        set_dir = migsets.ensure_set(WORK / "sets", migsets.kind_of(tool), n)
        cmds[tool] = commands(tool, set_dir, f"db/{tool}.db")
    prepared = dict.fromkeys(tools, False)
    total = args.warmup + args.repeat
    for rep in range(total):
        order = [t for t in tools if (n, t) not in results.errors]
        rng.shuffle(order)
        kind = (
            "warm-up (untimed)" if rep < args.warmup else f"repetition {rep - args.warmup + 1}/{args.repeat}"
        )
        log(f"N={n}: {kind}: {', '.join(order) or '(no runner left)'}")
        for tool in order:
            run_sequence(tool, n, cmds[tool], scenarios, prepared, rep >= args.warmup, results, args.timeout)
            if (n, tool) in results.errors:
                log(f"  {tool} error: {results.errors[(n, tool)]}")
    db = WORK / "db" / "nbmigrate.db"
    if db.exists() and user_tables(db) == n:
        results.schema_load[n] = schema_load(db)
    for tool in tools:
        remove_db(tool)


def schema_load(db: Path, repeat: int = 5) -> float:
    """Median seconds of the first statement on a fresh connection: SQLite parsing the schema.

    Every tool keeping its ledger in the database pays this at start-up; with N migrations
    of one table and one index each, the schema has 2N objects.
    """
    times = []
    for _ in range(repeat):
        conn = sqlite3.connect(db)
        try:
            start = time.perf_counter()
            conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
            times.append(time.perf_counter() - start)
        finally:
            conn.close()
    return statistics.median(times)


def importtime(argv: list[str], timeout: float) -> tuple[dict[str, int], str | None]:
    """Self time in µs of each module `python -X importtime ARGV` imports, and any error."""
    try:
        proc = subprocess.run(
            [str(PY), "-X", "importtime", *argv],
            env=CHILD_ENV,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=WORK,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {}, str(exc)
    self_us: dict[str, int] = {}
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            fields = line.split("|")
            try:
                self_us[fields[-1].strip()] = int(fields[0].split(":")[1])
            except ValueError:
                continue  # the header line
    if proc.returncode != 0:
        lines = [
            line for line in proc.stderr.splitlines() if line.strip() and not line.startswith("import time:")
        ]
        return self_us, f"exit {proc.returncode}: {lines[-1] if lines else ''}"
    return self_us, None


def import_cost(count: int, rng: random.Random, timeout: float) -> dict:
    """Start-up figures for the nbmigrate CLI, from the nbmigrate venv."""
    probes = {
        "python -c pass": [str(PY), "-c", "pass"],
        "python -c 'import nbmigrate.cli'": [str(PY), "-c", "import nbmigrate.cli"],
        "nbmigrate --help": [str(NBMIGRATE), "--help"],
    }
    times: dict[str, list[float]] = {k: [] for k in probes}
    out: dict = {"errors": {}}
    for _ in range(count):
        order = [k for k in probes if k not in out["errors"]]
        rng.shuffle(order)
        for key in order:
            seconds, error = run_process(probes[key], timeout)
            if error:
                out["errors"][key] = error
            else:
                times[key].append(seconds)
    out["medians"] = {k: statistics.median(v) for k, v in times.items() if v and k not in out["errors"]}
    base, imp = (out["medians"].get(k) for k in list(probes)[:2])
    out["cost"] = imp - base if base is not None and imp is not None else None

    # Which modules `nbmigrate --help` imports, beyond a bare interpreter's.
    bare, _ = importtime(["-c", "pass"], timeout)
    cli, error = importtime([str(NBMIGRATE), "--help"], timeout)
    added = {name: us for name, us in cli.items() if name not in bare}
    out["heavy_error"] = error
    out["heavy"] = sorted({name.split(".")[0] for name in added} & HEAVY)
    per_package: dict[str, int] = {}
    for name, us in added.items():
        top = name.split(".")[0]
        per_package[top] = per_package.get(top, 0) + us
    out["top_packages"] = sorted(per_package.items(), key=lambda kv: -kv[1])[:8]
    out["modules_added"] = len(added)
    return out


# ---------------------------------------------------------------- reporting


def cell(results: Results, n: int, tool: str, scenario: str) -> str:
    """`0.412 (1.08x)`, `error`, or `-` when not measured."""
    if (n, tool) in results.errors:
        return "error"
    value = results.median(n, tool, scenario)
    if value is None:
        return "-"
    floor = results.median(n, FLOOR, FLOOR_SCENARIO.get(scenario, scenario))
    return f"{value:.3f} ({value / floor:.2f}x)" if floor else f"{value:.3f}"


def table(
    results: Results, n: int, tools: list[str], scenarios: list[str]
) -> tuple[list[str], list[list[str]]]:
    """Header and rows of one N's table."""
    header = ["scenario", *tools]
    rows = [[SCENARIOS[s], *(cell(results, n, t, s) for t in tools)] for s in scenarios]
    return header, rows


def text_table(header: list[str], rows: list[list[str]]) -> str:
    """Columns aligned with spaces."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = []
    for r in [header, ["-" * w for w in widths], *rows]:
        lines.append(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))
            ).rstrip()
        )
    return "\n".join(lines)


def md_table(header: list[str], rows: list[list[str]]) -> str:
    """A GitHub-flavoured markdown table."""
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|",
    ]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def targets(results: Results, n: int) -> list[tuple[str, str, str]]:
    """(status, target, measured) for each speed target at N."""
    out = []
    nb = "nbmigrate"

    for s in ("apply", "rollback"):
        label = f"N={n} {SCENARIOS[s]}: nbmigrate within {TARGET_RATIO}x of {FLOOR}"
        mine, floor = results.median(n, nb, s), results.median(n, FLOOR, s)
        if mine is None or floor is None:
            out.append(("n/a", label, "not measured"))
        else:
            out.append(
                (
                    verdict(mine <= TARGET_RATIO * floor),
                    label,
                    f"{mine:.3f} s vs {floor:.3f} s = {mine / floor:.2f}x",
                )
            )
    label = f"N={n} {SCENARIOS['atomic']}: nbmigrate faster than {FLOOR}'s per-migration apply"
    mine, floor = results.median(n, nb, "atomic"), results.median(n, FLOOR, "apply")
    if mine is None or floor is None:
        out.append(("n/a", label, "not measured"))
    else:
        out.append((verdict(mine < floor), label, f"{mine:.3f} s vs {floor:.3f} s = {mine / floor:.2f}x"))
    for s in ("noop", "status"):
        for tool in NBMIGRATE_TOOLS:  # with the stdlib fast path, and the engine answering all
            mine, yoyo = results.median(n, tool, s), results.median(n, "yoyo", s)
            if mine is None and tool != nb:
                continue  # nbmigrate-engine not selected
            label = f"N={n} {SCENARIOS[s]}: {tool} faster than yoyo"
            if mine is None or yoyo is None:
                out.append(("n/a", label, "not measured"))
            else:
                out.append((verdict(mine < yoyo), label, f"{mine:.3f} s vs {yoyo:.3f} s"))
            label = f"N={n} {SCENARIOS[s]}: {tool} under {TARGET_QUICK} s"
            if mine is None:
                out.append(("n/a", label, "not measured"))
            else:
                out.append((verdict(mine < TARGET_QUICK), label, f"{mine:.3f} s"))
    return out


def linearity(results: Results, sizes: list[int]) -> list[tuple[str, str, str]]:
    """Apply and roll back cost linear in N: the cost of each added migration stays the same.

    Compared between the first interval of sizes (e.g. 10 -> 100) and the last (100 -> 1000),
    so the fixed cost of a process (start-up, backup, ledger) does not count.
    """
    if len(sizes) < 3:
        return []
    out = []
    (a, b), (c, d) = sizes[:2], sizes[-2:]
    for s in ("apply", "rollback"):
        label = (
            f"{SCENARIOS[s]}: nbmigrate cost linear in N (per added migration, N={c}->{d} "
            f"at most {TARGET_LINEAR}x N={a}->{b})"
        )
        ta, tb, tc, td = (results.median(n, "nbmigrate", s) for n in (a, b, c, d))
        if None in (ta, tb, tc, td):
            out.append(("n/a", label, "not measured"))
            continue
        first, last = (tb - ta) / (b - a), (td - tc) / (d - c)
        ok = first > 0 and last <= TARGET_LINEAR * first
        out.append((verdict(ok), label, f"{first * 1000:.2f} ms then {last * 1000:.2f} ms per migration"))
    return out


def import_targets(imports: dict | None) -> list[tuple[str, str, str]]:
    """(status, target, measured) for the start-up targets."""
    out = []
    label = f"CLI import cost <= {TARGET_IMPORT * 1000:.0f} ms"
    if imports is None or imports["cost"] is None:
        out.append(("n/a", label, "not measured"))
    else:
        cost = imports["cost"]
        out.append((verdict(cost <= TARGET_IMPORT), label, f"{cost * 1000:.0f} ms"))
    label = f"`nbmigrate --help` imports none of {', '.join(sorted(HEAVY))}"
    if imports is None or imports["heavy_error"]:
        out.append(("n/a", label, "not measured"))
    else:
        out.append((verdict(not imports["heavy"]), label, ", ".join(imports["heavy"]) or "none imported"))
    return out


def growth(results: Results, sizes: list[int], tools: list[str]) -> list[tuple[str, str, str]]:
    """No-op and status from the smallest N to the largest (at least FLAT_N): how much they grow.

    nbmigrate gets a verdict against TARGET_FLAT; the other runners are shown for scale.
    """
    small, large = min(sizes), max(sizes)
    if large < FLAT_N or small == large:
        return []
    out = []
    for s in ("noop", "status"):
        label = f"{SCENARIOS[s]} flat from N={small} to N={large}: at most {TARGET_FLAT}x"
        factors = []
        for tool in tools:
            a, b = results.median(small, tool, s), results.median(large, tool, s)
            if a is not None and b is not None:
                factors.append((tool, a, b))
        scale = ", ".join(f"{tool} {b / a:.1f}x" for tool, a, b in factors)
        for name in NBMIGRATE_TOOLS:
            mine = next(((a, b) for tool, a, b in factors if tool == name), None)
            if mine is None:
                if name == "nbmigrate":
                    out.append(("n/a", f"{label}", "not measured"))
                continue
            a, b = mine
            out.append(
                (verdict(b <= TARGET_FLAT * a), f"{label} ({name})", f"{a:.3f} s -> {b:.3f} s; {scale}")
            )
    return out


def import_lines(imports: dict) -> list[str]:
    """The import-cost section as lines of text."""
    lines = [f"{key}: {value:.3f} s (median)" for key, value in imports["medians"].items()]
    if imports["cost"] is not None:
        lines.append(f"=> importing nbmigrate.cli adds {imports['cost'] * 1000:.0f} ms")
    lines += [f"{key}: error: {error}" for key, error in imports["errors"].items()]
    if imports["heavy_error"]:
        lines.append(f"python -X importtime nbmigrate --help: error: {imports['heavy_error']}")
    else:
        heavy = ", ".join(imports["heavy"]) or "none"
        lines.append(
            f"`nbmigrate --help` imports {imports['modules_added']} modules beyond a "
            f"bare interpreter; of {', '.join(sorted(HEAVY))}: {heavy}"
        )
        if imports["top_packages"]:
            lines.append(
                "heaviest packages it imports (self time, -X importtime): "
                + ", ".join(f"{name} {us / 1000:.1f} ms" for name, us in imports["top_packages"])
            )
    return lines


def report(
    args: argparse.Namespace,
    facts: list[tuple[str, str]],
    notes: list[str],
    results: Results,
    imports: dict | None,
) -> None:
    """Print the tables, import cost and targets; write markdown and JSON if asked."""
    tools, scenarios, sizes = args.tools, args.scenarios, args.sizes
    method = (
        f"medians of {args.repeat} interleaved repetitions (after {args.warmup} "
        f"warm-up), whole processes timed with perf_counter; ratio = median / {FLOOR}"
        + "".join(
            f" ({SCENARIOS[k]}: / its {SCENARIOS[v]})" for k, v in FLOOR_SCENARIO.items() if k in scenarios
        )
    )
    width = max(len(k) for k, _ in facts)
    print("\n".join(f"{k + ':':{width + 1}} {v}" for k, v in facts))
    print("\n" + method)
    for note in notes:
        print(note)
    md = [
        "# nbmigrate benchmark",
        "",
        "Produced by `bench/run.py " + " ".join(sys.argv[1:]) + "`.",
        "",
    ]
    md += [f"- {k}: {v}" for k, v in facts] + ["", method + ".", ""]
    md += [f"> {note}" for note in notes] + ([""] if notes else [])
    for n in sizes:
        header, rows = table(results, n, tools, scenarios)
        print(f"\nN = {n} migrations (seconds per whole process)")
        print(text_table(header, rows))
        print(results.spread(n))
        md += [f"## N = {n} migrations (seconds per whole process)", ""]
        md += [md_table(header, rows), "", results.spread(n) + ".", ""]
        if n in results.schema_load:
            ms = results.schema_load[n] * 1000
            line = (
                f"SQLite's first statement on a database of {n} migrations (parsing a schema of "
                f"{2 * n} tables and indexes), included in every figure above: {ms:.1f} ms"
            )
            print(line)
            md += [line + ".", ""]
    if imports is not None:
        lines = import_lines(imports)
        print("\nCLI start-up\n" + "\n".join(lines))
        md += ["## CLI start-up", ""] + [f"- {line}" for line in lines] + [""]
    checks = targets(results, TARGET_N) if TARGET_N in sizes else []
    checks += linearity(results, sizes) + import_targets(imports) + growth(results, sizes, tools)
    print("\nTargets")
    md += ["## Targets", "", "| | target | measured |", "|---|---|---|"]
    for status, label, measured in checks:
        print(f"  {status:4}  {label}: {measured}")
        md.append(f"| {status} | {label} | {measured} |")
    errors = sorted(results.errors.items())
    if errors:
        print("\nErrors")
        md += ["", "## Errors", ""]
        for (n, tool), error in errors:
            print(f"  N={n} {tool}: {error}")
            md.append(f"- N={n} {tool}: `{error}`")
    if args.markdown:
        Path(args.markdown).write_text("\n".join(md) + "\n")
        log(f"markdown written to {args.markdown}")
    if args.json:
        raw = {
            "facts": dict(facts),
            "samples": [
                {"n": n, "tool": t, "scenario": s, "seconds": v}
                for (n, t, s), v in sorted(results.samples.items())
            ],
            "errors": [{"n": n, "tool": t, "error": e} for (n, t), e in errors],
            "imports": imports,
        }
        Path(args.json).write_text(json.dumps(raw, indent=1) + "\n")
        log(f"raw samples written to {args.json}")


# ---------------------------------------------------------------- main


def csv(kind: type, choices: list[str] | None = None):
    """An argparse type for comma-separated values."""

    def parse(text: str) -> list:
        values = [kind(v.strip()) for v in text.split(",") if v.strip()]
        bad = [v for v in values if choices is not None and v not in choices]
        if bad or not values:
            raise argparse.ArgumentTypeError(
                f"expected a comma-separated list of {', '.join(choices or ['numbers'])}"
            )
        return values

    return parse


def main() -> int:
    """Parse arguments, measure, report; exit 1 if a runner errored."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--sizes",
        type=csv(int),
        default=[10, 100, 1000],
        help="numbers of migrations (default 10,100,1000)",
    )
    parser.add_argument("--repeat", type=int, default=5, help="timed repetitions (default 5)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed repetitions first, per N (default 1)")
    parser.add_argument(
        "--tools", type=csv(str, TOOLS), default=TOOLS, help=f"runners (default {','.join(TOOLS)})"
    )
    parser.add_argument(
        "--scenarios",
        type=csv(str, list(SCENARIOS)),
        default=list(SCENARIOS),
        help=f"scenarios (default {','.join(SCENARIOS)})",
    )
    parser.add_argument(
        "--import-repeat", type=int, default=20, help="runs of each start-up probe (default 20)"
    )
    parser.add_argument(
        "--timeout", type=float, default=1800, help="seconds one process may take (default 1800)"
    )
    parser.add_argument("--seed", type=int, default=None, help="seed of the shuffled orders")
    parser.add_argument("--markdown", metavar="FILE", help="also write the report as markdown")
    parser.add_argument("--json", metavar="FILE", help="also write every sample as JSON")
    args = parser.parse_args()
    if args.repeat < 1 or args.warmup < 0 or args.import_repeat < 1 or min(args.sizes) < 1:
        parser.error("--repeat, --import-repeat and sizes must be >= 1, --warmup >= 0")
    args.tools = [t for t in TOOLS if t in args.tools]
    args.scenarios = [s for s in SCENARIOS if s in args.scenarios]
    args.sizes = sorted(set(args.sizes))

    seed = args.seed if args.seed is not None else random.randrange(2**32)
    rng = random.Random(seed)
    notes = [f"shuffle seed {seed} (--seed {seed} repeats the orders)"]
    if DROPPED_ENV:
        notes.append(f"timed processes run without {', '.join(DROPPED_ENV)}")
    (WORK / "db").mkdir(parents=True, exist_ok=True)
    if ANCHOR_TOOLS & set(args.tools):
        skipped = ensure_anchors()
        if skipped:
            line = f"anchors (alembic, yoyo) skipped: could not install them: {skipped}"
            log(line)
            notes.append(line)
            args.tools = [t for t in args.tools if t not in ANCHOR_TOOLS]
    if FLOOR not in args.tools:
        notes.append(f"{FLOOR} not selected: no ratios")
    facts = machine_facts(bool(ANCHOR_TOOLS & set(args.tools)))

    results = Results()
    for n in args.sizes:
        measure_size(n, args.tools, args.scenarios, args, rng, results)
    imports = None
    if "nbmigrate" in args.tools:
        log(f"CLI start-up: {args.import_repeat} runs of each probe")
        imports = import_cost(args.import_repeat, rng, args.timeout)
    report(args, facts, notes, results, imports)
    failed = bool(results.errors) or bool(imports and imports["errors"])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
