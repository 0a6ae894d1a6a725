"""Widget updates posted from any thread, applied on the thread that built the dashboard."""

from __future__ import annotations

import asyncio
import logging
import queue
from collections.abc import Callable
from typing import Any

logger = logging.getLogger("nbmigrate")


class UiQueue:
    """Widget updates from any thread, applied on the thread that built the dashboard.

    When that thread runs an event loop (a Jupyter kernel) each post wakes it through
    `call_soon_threadsafe`; otherwise the updates wait for `drain` (called by `wait()`).
    """

    def __init__(self) -> None:
        try:
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None
        self._items: queue.SimpleQueue[tuple[Callable[..., None], tuple[Any, ...]]] = queue.SimpleQueue()

    def post(self, fn: Callable[..., None], *args: Any) -> None:
        self._items.put((fn, args))
        loop = self._loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(self.drain)
            except RuntimeError:  # the loop closed in between: wait() drains instead
                pass

    def drain(self, block: float = 0.0) -> None:
        try:
            item = self._items.get(timeout=block) if block else self._items.get_nowait()
        except queue.Empty:
            return
        while True:
            fn, args = item
            try:
                fn(*args)
            except Exception:  # a display problem must not stop the updates after it
                logger.exception("nbmigrate dashboard: a widget update failed")
            try:
                item = self._items.get_nowait()
            except queue.Empty:
                return
