"""The three renderings of a command's result; each report type registers its own text and HTML.

`to_text` and `to_html` are `functools.singledispatch` functions (text.py and html.py
register one implementation per report type); `to_data` is every report's own
`as_dict()`. A report type without a text rendering is a TypeError, and a test renders
every command's result type in every format.
"""

from __future__ import annotations

from functools import singledispatch
from typing import Any

from ..errors import MisuseError
from ..reports import Report
from .common import e


@singledispatch
def to_text(result: Any) -> str:
    """Plain text, as the shell prints it."""
    raise MisuseError(f"cannot render {type(result).__name__} as text")


@singledispatch
def to_html(result: Any) -> str:
    """HTML for Jupyter; a report without its own HTML shows its text."""
    return wrap(f"<p>{e(to_text(result))}</p>")


def to_data(result: Report) -> Any:
    """Plain data for `--json` and for Python users."""
    return result.as_dict()


def to_json(result: Report) -> str:
    import json  # only for --json

    return json.dumps(to_data(result), indent=2, default=str)


def wrap(body: str) -> str:
    return f"<div class='nbmigrate'>{body}</div>"
