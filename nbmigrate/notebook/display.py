"""Results for notebooks (HTML in Jupyter, stable text elsewhere, data in Python) and the progress bar."""

from __future__ import annotations

import html
import queue
from typing import Any

from .. import render
from ..model import Progress
from ..progress import StepBar
from ..reports import ValidationReport
from .authoring import AuthoredMigration


class Shown:
    """What `%migrate` and `%%migration` return: `_repr_html_` for Jupyter, `repr` for text.

    `.data` is the command's JSON-ready data, `.rows` a list of dicts (one per migration,
    event, table or step), `.to_dataframe()` the rows as a pandas DataFrame.
    """

    def text(self) -> str:
        raise NotImplementedError

    def _repr_html_(self) -> str:
        return f"<div class='nbmigrate'><p>{html.escape(self.text())}</p></div>"

    def __repr__(self) -> str:
        return self.text()

    @property
    def data(self) -> Any:
        raise NotImplementedError

    @property
    def rows(self) -> list[dict[str, Any]]:
        return [self.data]

    def to_dataframe(self) -> Any:
        try:
            import pandas
        except ImportError:
            raise ImportError(
                "to_dataframe() needs pandas, which is not installed: pip install pandas "
                "(or use .rows, a list of dicts)"
            ) from None
        return pandas.DataFrame(self.rows)


class Result(Shown):
    """One command's result (status, up, down, history, schema ...)."""

    def __init__(self, value: render.Result) -> None:
        self.value = value

    def text(self) -> str:
        return render.to_text(self.value)

    def _repr_html_(self) -> str:
        return render.to_html(self.value)

    @property
    def data(self) -> Any:
        return render.to_data(self.value)

    @property
    def rows(self) -> list[dict[str, Any]]:
        if isinstance(self.value, ValidationReport):
            return [{"problem": p} for p in self.value.problems]
        rows = getattr(self.value, "rows", None)
        return list(rows) if rows is not None else [self.data]


class Authored(Shown):
    """What `%%migration` did: the file written (or not), and the run of --apply."""

    def __init__(self, value: AuthoredMigration) -> None:
        self.value = value

    def text(self) -> str:
        run = f"\n{render.to_text(self.value.run)}" if self.value.run is not None else ""
        return self.value.message + run

    def _repr_html_(self) -> str:
        run = render.to_html(self.value.run) if self.value.run is not None else ""
        return f"<div class='nbmigrate'><p>{html.escape(self.value.message)}</p></div>{run}"

    @property
    def data(self) -> Any:
        data = self.value.as_dict()
        data["run"] = render.to_data(self.value.run) if self.value.run is not None else None
        return data


class Message(Shown):
    """A one-line outcome, such as `connect`'s."""

    def __init__(self, message: str, **data: Any) -> None:
        self.message = message
        self._data = {"message": message, **data}

    def text(self) -> str:
        return self.message

    @property
    def data(self) -> Any:
        return dict(self._data)


class ProgressBar:
    """A bar for runs of several migrations: a widget in Jupyter, text elsewhere.

    The manager reports from the bridge thread (`report`, only a queue put); the bar is
    drawn from the thread that waits for the run (`pump`), the kernel's own, so widget
    updates never come from a foreign thread.
    """

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.in_flight: Progress | None = None
        self._events: queue.SimpleQueue[Progress] = queue.SimpleQueue()
        self._bar = StepBar()

    def report(self, p: Progress) -> None:
        """The manager's on_progress callback; safe on any thread."""
        self.in_flight = p if p.phase == "start" else None
        if self.enabled:
            self._events.put(p)

    def pump(self) -> None:
        """Draw what was reported since the last call."""
        while True:
            try:
                p = self._events.get_nowait()
            except queue.Empty:
                return
            try:
                self._bar.show(p)
            except Exception:  # a display problem must never break a migration run
                self.enabled = False

    def close(self) -> None:
        self.pump()
        self._bar.close()
