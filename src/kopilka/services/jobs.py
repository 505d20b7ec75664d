"""Batch jobs: expiry, activation and hold timeouts, as of a given time.

Each batch is its own transaction, so a long sweep never holds locks for long and an
interrupted sweep resumes where it stopped (what is done is done once).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from kopilka.domain.program import Program
from kopilka.ledger.ledger import Ledger
from kopilka.ledger.sweeps import BATCH, BULK_BATCH, Step
from kopilka.services.context import ServiceContext

Progress = Callable[[int], None]


def _sweep(
    ctx: ServiceContext, program: Program, step: Callable[[Ledger], Step], progress: Progress | None
) -> int:
    total = 0
    while True:
        with ctx.uow() as uow:
            found, done = step(Ledger(uow.ledger, program))
            uow.commit()
        if not found:
            return total
        total += done
        if progress:
            progress(done)


def expire_due(
    ctx: ServiceContext,
    program: Program,
    as_of: datetime | None = None,
    progress: Progress | None = None,
    batch: int = BULK_BATCH,
) -> int:
    """Expire every lot due at ``as_of`` (default: now); returns the lots handled."""
    at = as_of or ctx.now()
    return _sweep(ctx, program, lambda lg: lg.expire_batch(at, batch), progress)


def activate_due(
    ctx: ServiceContext,
    program: Program,
    as_of: datetime | None = None,
    progress: Progress | None = None,
    batch: int = BATCH,
) -> int:
    """Activate every pending lot whose time has come; returns the lots handled."""
    at = as_of or ctx.now()
    return _sweep(ctx, program, lambda lg: lg.activate_batch(at, batch), progress)


def expire_holds(
    ctx: ServiceContext,
    program: Program,
    as_of: datetime | None = None,
    progress: Progress | None = None,
    batch: int = BATCH,
) -> int:
    """End every hold that timed out; returns how many."""
    at = as_of or ctx.now()
    return _sweep(ctx, program, lambda lg: lg.expire_holds_batch(at, batch), progress)
