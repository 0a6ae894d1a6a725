"""Awaiting work to its end even when the waiting task is cancelled meanwhile.

A COMMIT that was sent either happens or not; the database decides, not the timing of a
Ctrl-C. So the transaction helper and the runner await their COMMIT, ROLLBACK and ledger
writes with `settle`: an interrupt that arrives meanwhile is held until the work is done,
then raised, and what is reported afterwards is what the database shows.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def settle(work: Awaitable[T]) -> T:
    """Await `work` to its end; if this task was cancelled meanwhile, raise that afterwards."""
    result, cancelled = await through_cancellation(work)
    if cancelled is not None:
        raise cancelled
    return result


async def through_cancellation(work: Awaitable[T]) -> tuple[T, asyncio.CancelledError | None]:
    """Await `work` to its end; its result and the cancellation that arrived meanwhile, if any.

    For clean-up that runs while an interrupt already unwinds the task: a second Ctrl-C must
    not cut short the record of what the first one left behind. If `work` raises, that is
    raised (a cancellation that arrived meanwhile is then dropped: the task is unwinding).
    """
    task = asyncio.ensure_future(work)
    cancelled: asyncio.CancelledError | None = None
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError as exc:
            if task.done():  # the work itself was cancelled (by its own code): not ours to hold
                break
            cancelled = exc
        except BaseException:
            if task.done():  # the work failed: its exception is raised below
                break
            raise
    if cancelled is not None and not task.cancelled() and task.exception() is not None:
        raise task.exception()  # type: ignore[misc]
    return task.result(), cancelled
