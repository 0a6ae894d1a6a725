"""`nbmigrate runbook NOTEBOOK`: run a notebook against a database with parameters; keep the executed copy."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .runbook_copy import (
    URL_VARIABLE,
    FailedCell,
    RunbookReport,
    executed_copy_path,
    failure,
    inject_parameters,
    parse_parameters,
    scrub,
    write_copy,
)
from .urls import check_path, parse_url

__all__ = [
    "FailedCell",
    "RunbookReport",
    "executed_copy_path",
    "inject_parameters",
    "kernel_manager",
    "parse_parameters",
    "run",
]


def run(
    notebook: Path,
    url: str | None = None,
    parameters: dict[str, Any] | None = None,
    output: Path | None = None,
    directory: str | None = None,
    timeout: float | None = None,
    environment: dict[str, str] | None = None,
) -> RunbookReport:
    """Execute `notebook` in a fresh kernel of this Python, stopping at the first failing cell.

    `url` reaches the kernel as NBMIGRATE_DATABASE_URL and as the `database_url` parameter;
    `directory` as NBMIGRATE_MIGRATIONS and `migrations_dir`. The executed copy is written
    whether the run succeeds or not. Cells tagged `raises-exception` may fail.
    `environment` adds variables to the kernel's (NBMIGRATE_LOCK_TIMEOUT and the like).
    """
    nb = _read(notebook, output)
    env = {**os.environ, **(environment or {})}
    url = _absolute(url) if url is not None else None
    shown = parse_url(url).masked if url is not None else None  # parsed: its password is masked everywhere
    params = dict(parameters or {})
    if url is not None:
        env[URL_VARIABLE] = url
    if directory is not None:
        env["NBMIGRATE_MIGRATIONS"] = params["migrations_dir"] = str(Path(directory).resolve())
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    if params or url is not None:
        inject_parameters(nb, params, url)
    nb.metadata["nbmigrate_runbook"] = {
        "notebook": str(notebook),
        "database": shown,
        "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    target = executed_copy_path(notebook, output, datetime.now(timezone.utc))
    ran, failed, interrupted, seconds = _execute(nb, notebook, timeout, env)
    nb.metadata["nbmigrate_runbook"]["outcome"] = "ok" if failed is None else failed.describe()
    scrub(nb)
    write_copy(nb, target)
    return RunbookReport(notebook, target, shown, ran, seconds, failed, interrupted)


def _read(notebook: Path, output: Path | None) -> Any:
    """The notebook, read; nbclient there to run it."""
    try:
        import nbclient  # noqa: F401  (checked here, before anything is read)
        import nbformat
    except ImportError as exc:
        needs = "`runbook` needs nbclient and ipykernel: pip install 'nbmigrate[notebook]'"
        raise ConfigError(f"{needs} ({exc})") from None
    check_path(notebook, "notebook")
    if output is not None:
        check_path(output, "output")
    if not notebook.is_file():
        raise ConfigError(f"no notebook at {notebook}")
    try:
        return nbformat.read(notebook, as_version=4)  # type: ignore[no-untyped-call]
    except Exception as exc:
        raise ConfigError(f"{notebook} is not a readable notebook: {exc}") from None


def _execute(
    nb: Any, notebook: Path, timeout: float | None, env: dict[str, str]
) -> tuple[int, FailedCell | None, bool, float]:
    """Run every cell in a fresh kernel: how many ran, which failed, whether Ctrl-C stopped it, how long."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    current = [0]  # the index of the cell running now
    ran: list[int] = []
    client = NotebookClient(
        nb,
        km=kernel_manager(),
        timeout=timeout,
        resources={"metadata": {"path": str(notebook.parent.resolve())}},
        on_cell_start=lambda cell, cell_index: current.__setitem__(0, cell_index),
        on_cell_executed=lambda cell, cell_index, execute_reply: ran.append(cell_index),
    )
    started = time.perf_counter()
    failed: FailedCell | None = None
    interrupted = False
    try:
        client.execute(env=env, stderr=subprocess.DEVNULL)  # the kernel's own log lines are noise here
    except CellExecutionError:
        failed = failure(nb, current[0])
    except (KeyboardInterrupt, asyncio.CancelledError):  # Ctrl-C lands in nbclient's loop as either
        interrupted = True
        failed = failure(nb, current[0], "KeyboardInterrupt: stopped by the operator")
    except Exception as exc:  # a dead kernel, a cell timeout: the copy is still written
        failed = failure(nb, current[0], f"{type(exc).__name__}: {exc}")
    return len(ran), failed, interrupted, time.perf_counter() - started


def _absolute(url: str) -> str:
    """A relative SQLite path is relative to the caller's folder, not the notebook's."""
    parsed = parse_url(url)
    if parsed.path is not None and not parsed.path.is_absolute():
        return f"sqlite:///{parsed.path.resolve()}"
    return url


def kernel_manager() -> Any:
    """A kernel manager whose `python3` is this interpreter, whatever kernelspecs are installed."""
    from ipykernel.kernelspec import RESOURCES, get_kernel_dict
    from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager

    class ThisPython(KernelSpecManager):
        def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
            return KernelSpec(resource_dir=RESOURCES, **get_kernel_dict())

    return AsyncKernelManager(kernel_name="python3", kernel_spec_manager=ThisPython())
