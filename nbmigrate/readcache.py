"""A cache for the shell's read-only answers: a SQLite ledger at an exact state, checksums at an exact stat.

With 10,000 migrations, `status` and a no-op `up` spend most of their time letting SQLite
parse a schema of 20,000 objects and reading 10,000 files to hash them. Both inputs can be
recognised from outside, cheaply and exactly:

- A SQLite file in rollback-journal mode counts every commit in its 100-byte header, and
  a commit writes page 1 (the header) before any other page. The header plus the file's
  stat (device, inode, size, mtime, ctime) therefore names one committed content. A file
  in WAL mode, or with a journal beside it (a write in progress), is never answered from
  here.
- A migration file's (size, mtime, ctime, inode) names its content, once the file has
  been left alone for a couple of seconds (a change within one timestamp tick could
  otherwise keep all four).

`status`'s printed output is a function of those two inputs, the settings and the code
(named by its modules' sizes and mtimes), so it is stored too and printed again as it was.

Entries live under `$NBMIGRATE_CACHE_DIR` (default `$XDG_CACHE_HOME/nbmigrate`, else
`~/.cache/nbmigrate`; an empty value turns the cache off), one file per database and one
per migrations directory, named by a hash of the absolute path. A missing, stale, damaged
or unwritable cache only means the slow way is taken.

Never call `database_state` in a process holding a SQLite connection to the same file:
closing any descriptor of a file drops every POSIX lock the process holds on it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CACHE_DIR_VARIABLE = "NBMIGRATE_CACHE_DIR"
FORMAT = 1  # bump when what is stored, or how a checksum is computed, changes
SETTLED_NS = 2_000_000_000  # a file changed more recently than this is hashed, not trusted
_MAGIC = b"SQLite format 3\x00"
_ROLLBACK_JOURNAL = b"\x01\x01"  # header bytes 18-19: legacy (rollback-journal) read/write versions


def cache_directory() -> Path | None:
    """Where entries are kept, or None when the cache is turned off."""
    value = os.environ.get(CACHE_DIR_VARIABLE)
    if value is not None:
        return Path(value) if value else None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "nbmigrate"


def _entry(kind: str, path: Path) -> Path | None:
    root = cache_directory()
    if root is None:
        return None
    digest = hashlib.sha256(os.path.abspath(path).encode("utf-8", "surrogateescape")).hexdigest()[:24]
    return root / f"{kind}-{digest}.json"


def _write(entry: Path, documents: list[Any]) -> None:
    """Replace `entry` with one JSON line per document, atomically; a failure leaves the cache as it was."""
    tmp = entry.with_name(f".{entry.name}.{os.getpid()}.tmp")
    try:
        text = "".join(json.dumps(d) + "\n" for d in documents)
        entry.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, entry)
    except (OSError, TypeError, ValueError):
        with contextlib.suppress(OSError):
            os.unlink(tmp)


# -- the ledger of a SQLite file ----------------------------------------------------------


def database_state(path: Path) -> str | None:
    """What names the committed content of the SQLite file at `path`; None when it cannot be told."""
    if os.path.lexists(f"{path}-wal"):
        return None  # WAL mode: commits do not reach the header
    try:
        if os.stat(f"{path}-journal").st_size:
            return None  # a write in progress, or a hot journal SQLite would roll back
    except FileNotFoundError:
        pass
    except OSError:
        return None
    try:
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            header = f.read(100)
    except OSError:
        return None
    if len(header) < 100 or not header.startswith(_MAGIC) or header[18:20] != _ROLLBACK_JOURNAL:
        return None
    return f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}:{header.hex()}"


@dataclass(frozen=True)
class LedgerSummary:
    """What a no-op `up` needs: whether nbmigrate's tables are complete, each row's version and status."""

    present: bool  # the ledger table exists
    adopted: bool  # both tables exist with every column: `up` has nothing to create or alter
    versions: list[tuple[str, str]]  # (version, status) per row


@dataclass(frozen=True)
class LedgerRows:
    """Every ledger row as SQLite returned it, for `status`."""

    columns: list[str]
    rows: list[list[Any]]

    def as_mappings(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


def _read_lines(entry: Path | None, state: str, count: int) -> list[Any] | None:
    """The first `count` JSON lines of an entry written for `state`, or None."""
    if entry is None:
        return None
    try:
        with open(entry, encoding="utf-8") as f:
            head = json.loads(f.readline())
            if head.get("format") != FORMAT or head.get("state") != state:
                return None
            return [head] + [json.loads(f.readline()) for _ in range(count - 1)]
    except (OSError, ValueError, AttributeError):
        return None


def _summary(head: dict[str, Any]) -> LedgerSummary:
    return LedgerSummary(bool(head["present"]), bool(head["adopted"]), [tuple(v) for v in head["versions"]])


def load_summary(path: Path, state: str) -> LedgerSummary | None:
    """The summary stored for the database at `path` in exactly `state`, or None."""
    lines = _read_lines(_entry("ledger", path), state, 1)
    try:
        return None if lines is None else _summary(lines[0])
    except (KeyError, TypeError, ValueError):
        return None


def load_rows(path: Path, state: str) -> tuple[LedgerSummary, LedgerRows] | None:
    """The summary and every row stored for the database at `path` in exactly `state`, or None."""
    lines = _read_lines(_entry("ledger", path), state, 2)
    if lines is None:
        return None
    try:
        summary, columns, rows = _summary(lines[0]), lines[1]["columns"], lines[1]["rows"]
    except (KeyError, TypeError, ValueError):
        return None
    if not all(isinstance(row, list) and len(row) == len(columns) for row in rows):
        return None
    return summary, LedgerRows(columns, rows)


def store_ledger(path: Path, state: str, summary: LedgerSummary, rows: LedgerRows) -> None:
    """Remember what the database at `path` held in `state` (read while no commit happened)."""
    entry = _entry("ledger", path)
    if entry is None:
        return
    head = {
        "format": FORMAT,
        "state": state,
        "present": summary.present,
        "adopted": summary.adopted,
        "versions": summary.versions,
    }
    _write(entry, [head, {"columns": rows.columns, "rows": rows.rows}])


# -- checksums of migration files -------------------------------------------------------


def _stat_key(st: os.stat_result) -> list[int]:
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


class Checksums:
    """Checksums of one directory's files, trusted only while each file's stat is unchanged."""

    def __init__(self, directory: Path) -> None:
        self._entry = _entry("checksums", directory)
        self._known: dict[str, list[Any]] = {}
        self._changed = False
        if self._entry is None:
            return
        try:
            with open(self._entry, encoding="utf-8") as f:
                data = json.load(f)
            if data.get("format") == FORMAT and isinstance(data.get("files"), dict):
                self._known = data["files"]
        except (OSError, ValueError, AttributeError):
            pass

    @property
    def enabled(self) -> bool:
        return self._entry is not None

    def get(self, filename: str, st: os.stat_result) -> str | None:
        """The checksum recorded for `filename` at exactly this stat."""
        known = self._known.get(filename)
        if isinstance(known, list) and len(known) == 5 and known[:4] == _stat_key(st):
            return str(known[4])
        return None

    def put(self, filename: str, st: os.stat_result, checksum: str) -> None:
        """Record a checksum computed from the file's content read after `st` was taken.

        Skipped while the file is recent: a second change within the same timestamp tick
        could keep its size and times, and its new content would then go unseen.
        """
        if max(st.st_mtime_ns, st.st_ctime_ns) > time.time_ns() - SETTLED_NS:
            return
        self._known[filename] = [*_stat_key(st), checksum]
        self._changed = True

    def save(self, present: set[str]) -> None:
        """Write the entries back, keeping only files that are still `present`."""
        if self._entry is None:
            return
        stale = self._known.keys() - present
        if not (self._changed or stale):
            return
        files = {name: value for name, value in self._known.items() if name in present}
        _write(self._entry, [{"format": FORMAT, "files": files}])


# -- the whole output of `status` ---------------------------------------------------------


def listing_state(directory: Path) -> str | None:
    """What names every entry of `directory` and its content: names and stats, hashed.

    None when the directory cannot be listed, or when an entry changed too recently for its
    stat to be trusted (see `Checksums.put`).
    """
    settled_before = time.time_ns() - SETTLED_NS
    lines = []
    try:
        with os.scandir(directory) as entries:
            for entry in entries:
                st = entry.stat()
                if st.st_mtime_ns > settled_before or st.st_ctime_ns > settled_before:
                    return None
                lines.append(
                    f"{entry.name}\0{st.st_mode}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}:{st.st_ino}"
                )
    except OSError:
        return None
    lines.sort()
    return hashlib.sha256("\n".join(lines).encode("utf-8", "surrogateescape")).hexdigest()


def code_state(package: Path = Path(__file__).parent) -> str:
    """What names the code that computes and renders the answers: every module's size and mtime."""
    digest = hashlib.sha256(str(FORMAT).encode())
    with os.scandir(package) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            if entry.name.endswith(".py"):
                st = entry.stat()
                digest.update(f"{entry.name}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def load_output(path: Path, kind: str, key: str) -> str | None:
    """The output stored for the database at `path` under exactly `key`, or None."""
    entry = _entry(kind, path)
    if entry is None:
        return None
    try:
        with open(entry, encoding="utf-8") as f:
            stored = json.load(f)
        if stored.get("key") == key and isinstance(stored.get("output"), str):
            return str(stored["output"])
    except (OSError, ValueError, AttributeError):
        pass
    return None


def store_output(path: Path, kind: str, key: str, output: str) -> None:
    """Remember the output computed for the database at `path` from the inputs named by `key`."""
    entry = _entry(kind, path)
    if entry is not None:
        _write(entry, [{"key": key, "output": output}])
