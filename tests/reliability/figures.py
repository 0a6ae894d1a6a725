"""Figures the reliability tests measure, printed at the end of the run and saved as JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .harness import ROOT, STRESS

FIGURES: dict[str, dict[str, Any]] = {}
LINES: list[str] = []


def record(key: str, line: str | None = None, **values: Any) -> None:
    """Keep `values` under `key` (numbers add up across calls) and a line for the summary."""
    entry = FIGURES.setdefault(key, {})
    for name, value in values.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool) and name in entry:
            entry[name] = entry[name] + value if not name.startswith("max_") else max(entry[name], value)
        else:
            entry[name] = value
    if line:
        LINES.append(line)


def save() -> Path:
    """Write the figures to build/reliability-figures[-stress].json; return the path."""
    path = ROOT / "build" / ("reliability-figures-stress.json" if STRESS else "reliability-figures.json")
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps({"stress": STRESS, "figures": FIGURES, "lines": LINES}, indent=2) + "\n")
    return path
