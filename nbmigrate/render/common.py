"""What every rendering shares: colours and icons of states, times, sizes, tables of text."""

from __future__ import annotations

import html
from datetime import datetime

from ..model import State

STATE_COLOURS = {
    State.APPLIED: "#1a7f37",
    State.APPLIED_OUT_OF_ORDER: "#1a7f37",
    State.RUNNING: "#0969da",
    State.PENDING: "#6e7781",
    State.CHANGED: "#bf8700",
    State.MISSING: "#cf222e",
    State.OUT_OF_ORDER: "#8250df",
    State.FAILED: "#cf222e",
}
STATE_ICONS = {
    State.APPLIED: "✔",
    State.APPLIED_OUT_OF_ORDER: "✔",
    State.RUNNING: "⟳",
    State.PENDING: "…",
    State.CHANGED: "✎",
    State.MISSING: "?",
    State.OUT_OF_ORDER: "↯",
    State.FAILED: "✘",
}
OUTCOME_COLOURS = {
    "applied": "#1a7f37",
    "ok": "#1a7f37",
    "reverted": "#6e7781",
    "marked": "#8250df",
    "unmarked": "#8250df",
    "repaired": "#bf8700",
    "dry-run": "#0969da",
    "skipped": "#bf8700",
    "interrupted": "#bf8700",
    "failed": "#cf222e",
}


def plural(count: int, noun: str) -> str:
    """`1 migration`, `2 migrations`."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def when(value: datetime | None) -> str:
    """A readable UTC time, to the second."""
    return value.isoformat(" ", "seconds")[:19] if value else ""  # half strftime's cost, per status row


def table(headers: list[str], rows: list[list[str]]) -> str:
    """A plain-text table with aligned columns."""
    widths = [max(map(len, column)) for column in zip(headers, *rows, strict=True)]
    line = "  ".join(f"{{:<{w}}}" for w in widths)  # one format for every row: status lists thousands
    return "\n".join(line.format(*row).rstrip() for row in [headers, *rows])


def duration(ms: float | None) -> str:
    """`12.3 ms`, `4.56 s`: how long something took."""
    if ms is None:
        return ""
    return f"{ms:.1f} ms" if ms < 1000 else f"{ms / 1000:.2f} s"


def short(text: str, limit: int) -> str:
    """One line, cut to `limit` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def terminated(sql: str) -> str:
    """A statement as it would be written in a script: with one `;` (SQL run from Python may
    already have it; one ending in a line comment gets it on a line of its own)."""
    text = sql.rstrip()
    if text.endswith(";"):
        return text
    last_line = text.rsplit("\n", 1)[-1]
    return f"{text}\n;" if "--" in last_line else f"{text};"


def indent(sql: str) -> str:
    """Continuation lines of a statement shown under a step."""
    return sql.replace("\n", "\n    ")


def indented(text: str) -> str:
    """Every line two spaces in."""
    return "\n".join("  " + line for line in text.splitlines())


def size(n: int) -> str:
    """Bytes as `512 B`, `3.4 MiB`."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def e(text: str) -> str:
    """HTML-escaped text."""
    return html.escape(text)
