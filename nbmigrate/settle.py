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
    if cancelled is not None:
        if not task.cancelled():
            task.exception()  # retrieved, so asyncio does not log it as never retrieved
        raise cancelled
    return task.result()
