"""Progress bars, one kind for every face: a tqdm bar in a terminal or a notebook, log lines elsewhere.

`StepBar` turns the manager's Progress events (one "start" and one "done" per step) into
a bar for runs of several migrations; `RowBar` counts a data migration's rows. Both make
their bar with `new_bar`: tqdm's notebook widget inside a kernel (falling back to text
when widgets are missing), text on a stream otherwise.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

from .model import Progress

logger = logging.getLogger("nbmigrate")


def in_kernel() -> bool:
    """Running inside a Jupyter kernel (where tqdm draws a widget)."""
    return "ipykernel" in sys.modules


def new_bar(total: int, unit: str, *, desc: str = "", initial: int = 0, stream: TextIO | None = None) -> Any:
    """A tqdm bar: the notebook widget in a kernel (text if widgets fail), text on `stream` otherwise."""
    options: dict[str, Any] = {"total": total, "initial": initial, "unit": unit, "desc": desc, "leave": False}
    if stream is None and in_kernel():
        try:
            from tqdm.auto import tqdm

            return tqdm(**options)
        except Exception:  # ipywidgets missing or not usable here
            pass
    from tqdm.std import tqdm as text_tqdm

    return text_tqdm(file=stream or sys.stdout, **options)


class StepBar:
    """A bar for runs of several migrations, fed the manager's Progress events in order."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream
        self._bar: Any = None

    def show(self, p: Progress) -> None:
        if p.total < 2:
            return
        if self._bar is None:
            if p.phase != "start":
                return
            self._bar = new_bar(p.total, "migration", initial=p.index, stream=self.stream)
        if p.phase == "start":
            self._bar.set_description(f"{p.direction} {p.version} {p.name}", refresh=False)
            self._bar.refresh()
        else:
            self._bar.update(1)
            if p.index + 1 == p.total:
                self.close()

    def close(self) -> None:
        bar, self._bar = self._bar, None
        if bar is not None:
            bar.close()


class RowBar:
    """A data migration's rows: a bar where one shows (a terminal, a kernel), else a log line per ~10%."""

    def __init__(self, total: int, label: str, enabled: bool | None = None) -> None:
        if enabled is None:
            enabled = sys.stderr.isatty() or in_kernel()
        self.total, self.label = total, label
        self._bar = (
            new_bar(total, "row", desc=label, stream=None if in_kernel() else sys.stderr) if enabled else None
        )
        self._every = max(total // 10, 1)
        self._next = self._every

    def update(self, rows: int, done: int) -> None:
        if self._bar is not None:
            self._bar.update(rows)
        elif done >= self._next:
            logger.info("%s: %d of %d rows", self.label, done, self.total)
            self._next = done + self._every

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
