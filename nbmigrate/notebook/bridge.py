"""A private event loop on a daemon thread, where the notebook's database and manager live.

A Jupyter kernel already runs an asyncio loop in its main thread, so the sync faces
(magics, dashboard) never call `asyncio.run` there: `run(coro)` submits the coroutine to
this loop and waits. aiosqlite and asyncpg connections belong to the loop that opened
them, so `Session` opens, uses and closes its database on this loop only. A kernel
interrupt cancels the coroutine, waits until it has unwound (the manager rolls back the
migration in flight and releases the lock), then re-raises KeyboardInterrupt.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import ctypes
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from .. import config
from ..config import Settings
from ..engine.database import Database
from ..engine.manager import MigrationManager
from ..errors import ConfigError, ConnectionFailed, Interrupt, Interrupted, MisuseError, NbMigrateError
from ..urls import mask_password

T = TypeVar("T")

POLL_SECONDS = 0.05  # how often a waiting caller runs its `poll` (progress updates)
CANCEL_PATIENCE = 30.0  # how long an interrupted caller waits for the rollback
BLOCKED_PATIENCE = 0.5  # how long the loop has to take a cancellation before Interrupt is raised in it

_guard = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_thread: threading.Thread | None = None


def get_loop() -> asyncio.AbstractEventLoop:
    """The bridge loop, started on first use."""
    global _loop, _thread
    with _guard:
        if _loop is None:
            loop = asyncio.new_event_loop()
            ready = threading.Event()

            def main() -> None:
                asyncio.set_event_loop(loop)
                loop.call_soon(ready.set)
                while True:
                    try:
                        loop.run_forever()
                        return  # stop() asked for it
                    except Interrupt:  # raised between two tasks' steps: nothing there to interrupt
                        continue

            thread = threading.Thread(target=main, name="nbmigrate-bridge", daemon=True)
            thread.start()
            ready.wait()
            _loop, _thread = loop, thread
        return _loop


def is_running() -> bool:
    return _loop is not None


def stop(timeout: float = 5.0) -> None:
    """Cancel whatever still runs on the loop, stop it and join its thread."""
    global _loop, _thread
    with _guard:
        loop, thread = _loop, _thread
        _loop = _thread = None
    if loop is None or thread is None:
        return
    try:
        asyncio.run_coroutine_threadsafe(_cancel_all(), loop).result(timeout)
    except (concurrent.futures.TimeoutError, RuntimeError):
        pass
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout)
    if not thread.is_alive():
        loop.close()


async def _cancel_all() -> None:
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.get_running_loop().shutdown_asyncgens()


class StillRunning(Interrupted):
    """An interrupt was asked, but the work had not unwound when the caller stopped waiting."""


class _Handle:
    """A submitted coroutine's task, so another thread can cancel it and wait for its end."""

    def __init__(self) -> None:
        self.task: asyncio.Task[Any] | None = None
        self.cancel_requested = False
        self.cancel_taken = threading.Event()  # the loop ran `cancel`: it is not blocked
        self.finished = threading.Event()  # set when the coroutine has unwound, or never ran

    def cancel(self) -> None:  # runs on the loop thread
        self.cancel_taken.set()
        if self.task is not None:
            self.task.cancel()
            return
        self.cancel_requested = True
        # Not started: either its first step is already queued (it then sees the flag and
        # sets `finished`) or the interrupt came before it was submitted at all, in which
        # case nothing will ever run; one loop iteration later, that is known.
        asyncio.get_running_loop().call_soon(self._settle_unstarted)

    def _settle_unstarted(self) -> None:
        if self.task is None:
            self.finished.set()


async def _hosted(coro: Coroutine[Any, Any, T], handle: _Handle) -> T:
    try:
        if handle.cancel_requested:  # cancelled before it started
            coro.close()
            raise asyncio.CancelledError
        handle.task = asyncio.current_task()
        return await coro
    finally:
        handle.finished.set()


def run(
    coro: Coroutine[Any, Any, T],
    timeout: float | None = None,
    *,
    poll: Callable[[], None] | None = None,
) -> T:
    """Run `coro` on the bridge loop and return its result; call `poll` while waiting.

    On KeyboardInterrupt (a kernel interrupt) or after `timeout` seconds the coroutine is
    cancelled and waited for, then KeyboardInterrupt or TimeoutError is raised.
    """
    if threading.current_thread() is _thread:
        coro.close()
        raise MisuseError("bridge.run() was called on the bridge loop itself; await the coroutine")
    loop = get_loop()
    handle = _Handle()
    deadline = None if timeout is None else time.monotonic() + timeout
    try:  # an interrupt may come at any point, even while submitting
        future = asyncio.run_coroutine_threadsafe(_hosted(coro, handle), loop)
        while not future.done():
            # Waits on a lock with a timeout: a signal (kernel interrupt) breaks in at once.
            concurrent.futures.wait([future], timeout=POLL_SECONDS)
            if poll is not None:
                poll()
            if deadline is not None and time.monotonic() >= deadline and not future.done():
                if not _cancel_and_wait(loop, handle):
                    raise TimeoutError(f"gave up after {timeout:g}s; the operation is still running")
                raise TimeoutError(f"gave up after {timeout:g}s; the operation was cancelled")
    except KeyboardInterrupt:
        if not _cancel_and_wait(loop, handle):
            raise StillRunning() from None
        raise
    return future.result()


def submit(coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
    """Start `coro` on the bridge loop and return at once (the dashboard's buttons use this).

    `future.cancel()` cancels the coroutine on the loop; the future is marked cancelled at
    once, before the coroutine has unwound.
    """
    if threading.current_thread() is _thread:
        coro.close()
        raise MisuseError("bridge.submit() was called on the bridge loop itself; await the coroutine")
    return asyncio.run_coroutine_threadsafe(coro, get_loop())


def _cancel_and_wait(loop: asyncio.AbstractEventLoop, handle: _Handle) -> bool:
    """Cancel on the loop and wait until the coroutine has unwound (its rollbacks done); True if it did.

    If the loop does not take the cancellation at once, code running on it blocks it (a
    migration calling `time.sleep`, a CPU-bound loop): `Interrupt` is raised in that thread,
    where the code runs. A second interrupt while waiting stops the waiting, not the
    rollback, which carries on on the loop.
    """
    if loop.is_closed():
        return True
    loop.call_soon_threadsafe(handle.cancel)
    if not handle.cancel_taken.wait(BLOCKED_PATIENCE) and not handle.finished.is_set():
        _raise_in(_thread, Interrupt)
    return handle.finished.wait(CANCEL_PATIENCE)


def _raise_in(thread: threading.Thread | None, exc: type[BaseException]) -> None:
    """Raise `exc` in `thread` at its next Python instruction (CPython's asynchronous exception)."""
    if thread is None or thread.ident is None:
        return
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident), ctypes.py_object(exc))


class Session:
    """The notebook's database and manager, opened, used and closed on the bridge loop only.

    Until `connect` is called the settings follow the configuration as the CLI reads it
    (NBMIGRATE_DATABASE_URL, `[tool.nbmigrate]` in pyproject.toml, defaults), re-read
    before every command. After a failed `connect` nothing is connected and every command
    refuses, naming the failure, until a `connect` succeeds: never another database silently.
    """

    def __init__(self) -> None:
        self.settings: Settings | None = None
        self.explicit = False
        self.failed: str | None = None  # the last connect's URL (masked) and why it failed
        self._manager: MigrationManager | None = None

    def connect(self, url: str | None = None, directory: str | None = None) -> MigrationManager:
        """Open `url` (or the configured database) now, so a bad URL fails here."""
        try:
            manager = self._open(url, directory)
        except BaseException as exc:  # an interrupted connect is no connection either
            self.close()
            self.failed = _failure(url, exc)
            raise
        self.failed = None
        return manager

    def _open(self, url: str | None, directory: str | None) -> MigrationManager:
        settings = config.resolve(url, directory)
        manager = run(_open(settings))
        self.close()
        self.settings, self._manager, self.explicit = settings, manager, url is not None
        return manager

    def manager(self) -> MigrationManager:
        """The current manager; reopened when the configuration it came from has changed."""
        self._refuse_after_failed_connect()
        if self._manager is not None and self.explicit:
            return self._manager
        settings = config.resolve()
        if self._manager is None or settings != self.settings:
            self._open(None, None)
        assert self._manager is not None
        return self._manager

    def settings_now(self) -> Settings:
        """The settings the next command would use, without opening anything."""
        self._refuse_after_failed_connect()
        if self.explicit and self.settings is not None:
            return self.settings
        return config.resolve()

    def _refuse_after_failed_connect(self) -> None:
        if self.failed is not None:
            raise ConfigError(
                f"the last `%migrate connect` failed ({self.failed}); nothing is connected: "
                "run `%migrate connect URL` again"
            )

    def close(self) -> None:
        manager, self._manager = self._manager, None
        self.settings, self.explicit = None, False
        if manager is not None and is_running():
            try:
                run(manager.db.disconnect(), timeout=10)
            except Exception:  # closing must not fail; the connection is dropped either way
                pass


def _failure(url: str | None, exc: BaseException) -> str:
    """One line: the URL as it may be shown, and the reason."""
    if isinstance(exc, ConnectionFailed):
        return " ".join(str(exc).split())
    where = mask_password(url) if url is not None else "the configured database"
    reason = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, KeyboardInterrupt):
        reason = "interrupted"
    elif not isinstance(exc, NbMigrateError):
        reason = f"{type(exc).__name__}: {reason}"
    return f"{where}: {mask_password(reason)}"


async def _open(settings: Settings) -> MigrationManager:
    db = await Database(settings.url).connect()
    return MigrationManager.from_settings(db, settings)
