"""Batch jobs: expiry, activation and hold timeouts, as of a given time.

Each batch is its own transaction, so a long sweep never holds locks for long and an
interrupted sweep resumes where it stopped (what is done is done once).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from kopilka.domain.program import Program
from kopilka.ledger.ledger import Ledger
from kopilka.ledger.sweeps import BATCH, BULK_BATCH, Step
from kopilka.services import outbox
from kopilka.services.context import ServiceContext
from kopilka.store.repos.due_summary import Due, due_summary

Progress = Callable[[int], None]


def _sweep(
    ctx: ServiceContext,
    program: Program,
    at: datetime,
    step: Callable[[Ledger], Step],
    progress: Progress | None,
) -> int:
    total = 0
    while True:
        with ctx.uow() as uow:
            since = outbox.swept_since(uow)
            found, done = step(Ledger(uow.ledger, program))
            outbox.record_swept(uow, program, since, at)
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
    workers: int | None = None,
) -> int:
    """Expire every lot due at ``as_of`` (default: now); returns the lots handled.

    On PostgreSQL ``workers`` transactions (default 2) run at once, each for its own
    share of the members found due, so the sweep uses more than one server process;
    SQLite has one writer, so there the batches run one after the other."""
    at = as_of or ctx.now()
    if ctx.engine.dialect.name != "postgresql":
        workers = 1  # one writer: transactions at once would only queue for the lock
    elif workers is None:
        workers = 2
    if workers <= 1:
        return _sweep(ctx, program, at, lambda lg: lg.expire_batch(at, batch), progress)
    return _parallel_expiry(ctx, program, at, batch, workers, progress)


def _parallel_expiry(
    ctx: ServiceContext,
    program: Program,
    at: datetime,
    batch: int,
    workers: int,
    progress: Progress | None,
) -> int:
    """Rounds of: find the members owning the next ``workers * batch`` due lots, split
    them into ``workers`` runs of ascending ids, expire each run in its own transaction
    (locks in ascending order within each, and the runs are disjoint)."""

    def expire(members: list[int]) -> Step:
        with ctx.uow() as uow:
            since = outbox.swept_since(uow)
            step = Ledger(uow.ledger, program).expire_members(at, members)
            outbox.record_swept(uow, program, since, at, members)
            uow.commit()
        return step

    total = 0
    with ThreadPoolExecutor(workers, thread_name_prefix="kopilka-expiry") as pool:
        while True:
            with ctx.uow(read_only=True) as uow:
                members = uow.ledger.due_expiry_members(program.id, at, batch * workers)
            if not members:
                return total
            size = -(-len(members) // workers)
            runs = [members[i : i + size] for i in range(0, len(members), size)]
            done = sum(step.done for step in pool.map(expire, runs))
            total += done
            if progress:
                progress(done)


def activate_due(
    ctx: ServiceContext,
    program: Program,
    as_of: datetime | None = None,
    progress: Progress | None = None,
    batch: int = BATCH,
) -> int:
    """Activate every pending lot whose time has come; returns the lots handled."""
    at = as_of or ctx.now()
    return _sweep(ctx, program, at, lambda lg: lg.activate_batch(at, batch), progress)


def expire_holds(
    ctx: ServiceContext,
    program: Program,
    as_of: datetime | None = None,
    progress: Progress | None = None,
    batch: int = BATCH,
) -> int:
    """End every hold that timed out; returns how many."""
    at = as_of or ctx.now()
    return _sweep(ctx, program, at, lambda lg: lg.expire_holds_batch(at, batch), progress)


def due(ctx: ServiceContext, program: Program, as_of: datetime | None = None) -> dict[str, Due]:
    """What ``expire_holds``, ``activate_due`` and ``expire_due`` would handle at ``as_of``
    (default: now), per sweep: a read, so nothing is written or locked (a dry run).
    Points a timed-out hold gives back to lots that are due to expire are not in the
    ``expire_due`` figures; the real sweep expires them too."""
    at = as_of or ctx.now()
    with ctx.uow(read_only=True) as uow:
        return due_summary(uow.conn, program.id, at)
