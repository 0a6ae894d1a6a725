"""Ctrl-C and SIGTERM in the shell: cancel the run cleanly, and reach code that blocks the event loop.

`run(coro)` runs the command on an event loop of its own. The first SIGINT or SIGTERM
cancels the command's task, so the step in flight unwinds through its rollback (or, when
its COMMIT was already sent, through that commit) and the lock is released. When the loop
does not take the cancellation within a moment, something blocks it (a migration calling
`time.sleep`, a CPU-bound loop): then `errors.Interrupt` is raised right there, in the
main thread, and unwinds the same way. Further signals while a clean stop is under way are
held (the rollback must finish), except that a third gives up waiting.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import threading
import time
from collections.abc import Coroutine
from types import FrameType
from typing import Any, TypeVar

from .errors import Interrupt, Interrupted

T = TypeVar("T")

PATIENCE = 0.5  # seconds the loop has to take a cancellation before the interrupt is raised in place
_GIVE_UP_AT = 3  # signals; the last one abandons waiting for the rollback


class Stopped(Interrupted):
    """The run was stopped by a signal (`.signum`); `.abandoned` when nbmigrate stopped waiting for it."""

    def __init__(self, signum: int, abandoned: bool = False) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.abandoned = abandoned


class _Controller:
    """The signal handler's state: one cancellation, then an in-place interrupt if the loop is stuck."""

    def __init__(self, loop: asyncio.AbstractEventLoop, task: asyncio.Task[Any]) -> None:
        self.loop = loop
        self.task = task
        self.signum: int | None = None
        self.count = 0
        self.force = False  # the watchdog sent a signal to raise Interrupt in place
        self.closed = False  # the run is over: a forced signal still on its way is ignored
        self.lock = threading.Lock()  # between the watchdog sending and the run closing
        self.taken = threading.Event()  # the loop ran the cancellation

    def handle(self, signum: int, frame: FrameType | None) -> None:
        if self.force:  # sent by the watchdog: the loop is blocked by code running right now
            self.force = False
            if not self.closed:
                raise Interrupt(signal.Signals(signum).name)
            return
        if self.closed:
            raise KeyboardInterrupt
        self.count += 1
        if self.count == 1:
            self.signum = signum
            self.loop.call_soon_threadsafe(self._cancel)
            threading.Thread(target=self._watch, name="nbmigrate-interrupt", daemon=True).start()
        elif self.count >= _GIVE_UP_AT:
            raise Stopped(signum, abandoned=True)
        else:
            print("still stopping: the step in flight is finishing (again to give up)", file=sys.stderr)

    def close(self) -> None:
        """The run is over; let a forced signal already sent land (it is ignored now)."""
        with self.lock:
            self.closed = True
        while self.force:
            time.sleep(0.005)  # interrupted by that signal, whose handler clears the flag

    def _cancel(self) -> None:
        self.taken.set()
        self.task.cancel()

    def _watch(self) -> None:
        if self.taken.wait(PATIENCE) or self.task.done():
            return
        with self.lock:
            if self.closed:
                return
            self.force = True
            signal.pthread_kill(threading.main_thread().ident or 0, self.signum or signal.SIGINT)


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run `main` to its end on a new event loop; a signal stops it as described above (raises Stopped)."""
    loop = asyncio.new_event_loop()
    task = loop.create_task(main)
    controller = _Controller(loop, task)
    previous = {s: signal.signal(s, controller.handle) for s in (signal.SIGINT, signal.SIGTERM)}
    abandoned = False
    try:
        try:
            return loop.run_until_complete(task)
        except (asyncio.CancelledError, KeyboardInterrupt) as exc:
            if controller.signum is None:
                raise
            abandoned = isinstance(exc, Stopped) and exc.abandoned
            raise Stopped(controller.signum, abandoned) from None
    finally:
        try:
            _close(loop, wait=not abandoned)
        finally:
            controller.close()
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def _close(loop: asyncio.AbstractEventLoop, *, wait: bool) -> None:
    """Let what is left finish its clean-up (connections close), then close the loop."""
    try:
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        if wait:
            for t in pending:
                t.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
    finally:
        loop.close()
