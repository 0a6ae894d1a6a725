"""The step in flight: how far it got (the runner decides its outcome from this), and its words."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime

from ..model import Migration


@dataclass
class Flight:
    """The step in flight and how far it got."""

    migration: Migration
    direction: str  # "up" or "down"
    run_id: str
    started: datetime
    t0: float = field(default_factory=time.perf_counter)
    evidence: str | None = None  # the version text of its committed running/reverting row
    finished: bool = False  # a non-transactional step's final ledger write committed
    out_of_order: bool = False

    @property
    def ms(self) -> float:
        return round((time.perf_counter() - self.t0) * 1000, 3)

    @property
    def action(self) -> str:
        return "apply" if self.direction == "up" else "revert"

    @property
    def done_outcome(self) -> str:
        return "applied" if self.direction == "up" else "reverted"


def stopped_by_lock(flight: Flight, atomic: bool) -> str:
    """What a lock that stopped the step left of it, for DatabaseLocked."""
    m = flight.migration
    where = m.path.name if m.path else "registered in code"
    if atomic:
        kept = "the whole --atomic run was rolled back"
    elif m.transactional:
        kept = "nothing of it was kept"
    else:
        kept = f"not transactional: it may be partly {'applied' if flight.direction == 'up' else 'reverted'}"
    return f"migration {m.version} ({where}) failed during {flight.direction}, {kept}"


def order_note(flight: Flight) -> str | None:
    return "out of order" if flight.out_of_order else None


def raised_text(exc: BaseException) -> str:
    """One line naming what a migration raised: `ValueError: bad`, `raised SystemExit(0)`."""
    if isinstance(exc, Exception):
        return f"{type(exc).__name__}: {exc}"
    detail = f"({exc})" if str(exc) else ""
    return f"raised {type(exc).__name__}{detail}"
