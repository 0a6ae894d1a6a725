"""Re-execute notebooks in place so their saved outputs are current: `python notebooks/refresh.py [NAME ...]`.

Runs each notebook as nbval does (this Python's kernel, a scratch folder, a fresh PostgreSQL
database for 06), then keeps the saved form stable: widget state and views removed (their
text/plain stays), no timing metadata, execution counts 1, 2, 3 ..., and paths under the
scratch root shown as a reader's own run shows them (`/tmp/nbmigrate-xxxxxxxx/app.db`).
"""

from __future__ import annotations

import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import nbformat
from conftest import POSTGRES_NOTEBOOKS, ipython_dir, notebook_environment, postgres_database, scratch_root
from nbclient import NotebookClient

from nbmigrate.runbook import kernel_manager

HERE = Path(__file__).resolve().parent
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
LANGUAGE_INFO = {
    "codemirror_mode": {"name": "ipython", "version": 3},
    "file_extension": ".py",
    "mimetype": "text/x-python",
    "name": "python",
    "nbconvert_exporter": "python",
    "pygments_lexer": "ipython3",
}


def clean(nb: Any) -> None:
    """The saved form: only what a reader needs, nothing that changes from run to run by itself."""
    nb.metadata = nbformat.from_dict(
        {
            "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
            "language_info": LANGUAGE_INFO,
        }
    )
    for cell in nb.cells:
        tags = cell.metadata.get("tags")
        cell.metadata = nbformat.from_dict({"tags": tags} if tags else {})
        for output in cell.get("outputs", []):
            output.get("data", {}).pop(WIDGET_VIEW, None)
            if "metadata" in output:
                output.metadata = nbformat.from_dict({})


def shorten(node: Any, root: str) -> Any:
    """`<root>/nbmigrate-xxxxxxxx` becomes `<temp dir>/nbmigrate-xxxxxxxx` in every string."""
    if isinstance(node, str):
        return node.replace(root.rstrip("/") + "/", tempfile.gettempdir().rstrip("/") + "/")
    if isinstance(node, list):
        node[:] = [shorten(item, root) for item in node]
    elif isinstance(node, dict):
        for key in list(node):
            node[key] = shorten(node[key], root)
    return node


def refresh(path: Path, root: Path) -> float:
    nb = nbformat.read(path, as_version=4)
    started = time.perf_counter()
    NotebookClient(
        nb, km=kernel_manager(), timeout=300, record_timing=False, resources={"metadata": {"path": str(HERE)}}
    ).execute()
    clean(nb)
    for cell in nb.cells:
        shorten(cell.get("outputs", []), str(root))
    nbformat.validate(nb)
    nbformat.write(nb, path)
    return time.perf_counter() - started


def main(names: list[str]) -> None:
    paths = [HERE / n for n in names] if names else sorted(HERE.glob("[0-9][0-9]_*.ipynb"))
    notebook_environment()
    with ExitStack() as stack:
        root = stack.enter_context(scratch_root())
        stack.enter_context(ipython_dir())
        if any(p.name in POSTGRES_NOTEBOOKS for p in paths):
            stack.enter_context(postgres_database("nbmigrate_demo"))  # the name 06 suggests
        for path in paths:
            print(f"{path.name}: {refresh(path, root):.1f} s")


if __name__ == "__main__":
    main(sys.argv[1:])
