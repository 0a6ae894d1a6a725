"""Turn results into plain text, JSON and HTML; knows the records and nothing else."""

from __future__ import annotations

from ..reports import Report as Result
from . import html, text  # noqa: F401  (each registers its renderings)
from .common import OUTCOME_COLOURS, STATE_COLOURS, STATE_ICONS, duration, plural, size, table, when
from .dispatch import to_data, to_html, to_json, to_text

__all__ = [
    "OUTCOME_COLOURS",
    "STATE_COLOURS",
    "STATE_ICONS",
    "Result",
    "duration",
    "plural",
    "size",
    "table",
    "to_data",
    "to_html",
    "to_json",
    "to_text",
    "when",
]
