"""The executed copy of a runbook: parameters put in, where it goes, what failed, passwords scrubbed."""

from __future__ import annotations

import ast
import os
import re
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .errors import ConfigError, FileSystemFault
from .files import write_atomically
from .urls import mask_password, parse_url

URL_VARIABLE = "NBMIGRATE_DATABASE_URL"  # the kernel reads the database URL from here

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")
_ANSI_RE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@dataclass(frozen=True)
class FailedCell:
    """The cell that stopped the run: its place in the executed copy, first line, error's last line."""

    number: int  # 1-based, among all cells of the executed copy
    execution_count: int | None
    first_line: str
    error: str

    def describe(self) -> str:
        count = f" (In [{self.execution_count}])" if self.execution_count else ""
        return f"cell {self.number}{count} `{self.first_line}`: {self.error}"


@dataclass(frozen=True)
class RunbookReport:
    """What a runbook run did; `summary()` is the one line the CLI prints."""

    notebook: Path
    output: Path
    database: str | None  # masked
    code_cells: int  # code cells that ran
    seconds: float
    failed: FailedCell | None = None
    interrupted: bool = False  # Ctrl-C: the copy holds what ran until then

    @property
    def ok(self) -> bool:
        return self.failed is None

    def summary(self) -> str:
        where = f" against {self.database}" if self.database else ""
        if self.failed is not None:
            what = f"FAILED at {self.failed.describe()}"
        else:
            what = f"ran {self.code_cells} code cells{where} in {self.seconds:.1f} s"
        return mask_password(f"runbook {self.notebook.name} {what}; executed copy: {self.output}")

    def as_dict(self) -> dict[str, Any]:
        failed = self.failed
        return {
            "notebook": str(self.notebook),
            "output": str(self.output),
            "database": self.database,
            "ok": self.ok,
            "code_cells": self.code_cells,
            "seconds": round(self.seconds, 3),
            "failed": None if failed is None else {**asdict(failed), "message": failed.describe()},
        }


def parse_parameters(pairs: list[str]) -> dict[str, Any]:
    """`NAME=VALUE` pairs; a VALUE that parses as a Python literal is that literal, otherwise a string."""
    parameters: dict[str, Any] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        name = name.strip()
        if not sep or not _NAME_RE.match(name):
            raise ConfigError(f"parameter {pair!r} is not NAME=VALUE with NAME a Python identifier")
        try:
            parameters[name] = ast.literal_eval(text)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            parameters[name] = text
    return parameters


def inject_parameters(nb: Any, parameters: dict[str, Any], url: str | None = None) -> int:
    """Insert a cell tagged `injected-parameters` after the cell tagged `parameters` (or first).

    The database URL is read from the kernel's environment, never written into the notebook:
    the cell shows it with its password masked. Returns the new cell's index.
    """
    from nbformat.v4 import new_code_cell

    lines = ["# Parameters injected by `nbmigrate runbook`"]
    if url is not None:
        shown = parse_url(url).masked
        lines += ["import os", "", f'database_url = os.environ["{URL_VARIABLE}"]  # {shown}']
    lines += [f"{name} = {value!r}" for name, value in parameters.items()]
    cell = new_code_cell("\n".join(lines), metadata={"tags": ["injected-parameters"]})
    tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.get("metadata", {}).get("tags", [])]
    index = tagged[0] + 1 if tagged else 0
    nb.cells.insert(index, cell)
    return index


def executed_copy_path(notebook: Path, output: Path | None, now: datetime) -> Path:
    """`NAME.<UTC stamp>.ipynb` next to the notebook or in the `output` folder; `output` itself otherwise."""
    if output is not None and not (output.is_dir() or str(output).endswith(os.sep)):
        return output
    folder = output if output is not None else notebook.parent
    stamp = now.astimezone(timezone.utc).strftime("%Y-%m-%dT%H%M%SZ")
    path = folder / f"{notebook.stem}.{stamp}.ipynb"
    n = 2
    while path.exists():
        path = folder / f"{notebook.stem}.{stamp}-{n}.ipynb"
        n += 1
    return path


def write_copy(nb: Any, target: Path) -> None:
    """The executed copy, whole or not at all; a fault says the notebook did run, and how."""
    import nbformat

    try:
        write_atomically(target, nbformat.writes(nb), "the runbook's executed copy")
    except FileSystemFault as fault:
        outcome = nb.metadata["nbmigrate_runbook"]["outcome"]
        ran = "the notebook ran to the end" if outcome == "ok" else f"the notebook stopped at {outcome}"
        raise FileSystemFault(fault.path, fault.what, fault.reason, ran) from None


def failure(nb: Any, index: int, error: str | None = None) -> FailedCell:
    """The cell that stopped the run: its place, first line and error's last line, masked."""
    cell: Any = nb.cells[index] if nb.cells else {"source": "", "outputs": []}
    first = next((line.strip() for line in cell["source"].splitlines() if line.strip()), "")
    first = first if len(first) <= 80 else first[:79] + "…"
    if error is None:
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        error = _last_line(errors[-1]) if errors else "the cell failed"
    return FailedCell(index + 1, cell.get("execution_count"), mask_password(first), mask_password(error))


def _last_line(output: Any) -> str:
    """The error's last line, as a reader of the traceback sees it (no colour codes)."""
    lines = [_ANSI_RE.sub("", line).strip() for line in "\n".join(output.get("traceback", [])).splitlines()]
    lines = [line for line in lines if line]
    return lines[-1] if lines else f"{output.get('ename')}: {output.get('evalue')}"


def scrub(node: Any) -> Any:
    """Every string in the executed notebook with passwords masked (outputs may echo a URL)."""
    if isinstance(node, str):
        return mask_password(node)
    if isinstance(node, list):
        node[:] = [scrub(item) for item in node]
    elif isinstance(node, dict):
        for key in list(node):
            node[key] = scrub(node[key])
    return node
