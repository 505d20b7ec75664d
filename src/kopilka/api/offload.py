"""Where a route's blocking write runs: the thread pool, or the event loop itself.

A use case that writes is blocking code (SQLAlchemy, the driver), so routes hand it to
the thread pool and the event loop serves other requests meanwhile. On PostgreSQL that
is what lets a worker overlap one request's database round trips with another's Python.

SQLite is different: it runs inside this process, admits one writer at a time (the
writer lock of :mod:`kopilka.store.db`, got from :meth:`ServiceContext.writer_lock`), and
its work is Python and C holding the GIL.
The hop to a thread there buys no overlap and costs the GIL handoffs between the event
loop and the pool's threads: measured over HTTP on SQLite, one worker, 16 clients,
360 -> 500 purchases/s with the purchase run on the loop (bench/README.md, fourth round).
So a short SQLite write runs right on the loop, with the writer lock held; when another
thread or process holds the lock (the log's checkpointer, a second worker, a long
``kopilka expire``), the lock is waited for in the pool, never on the loop, and the
write then runs on the loop as well.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool

from kopilka.services.context import ServiceContext, SqliteWriterLock

T = TypeVar("T")


async def run_write(ctx: ServiceContext, fn: Callable[..., T], *args: Any) -> T:
    """Run ``fn(*args)``, a short use case that writes, where it costs least (see above).

    Only for bounded work (one purchase, one return): while it runs on the loop, the
    worker answers nothing else."""
    lock = ctx.writer_lock()
    if lock is None:
        return await run_in_threadpool(fn, *args)
    held = lock.try_hold()
    if held is None:
        # another thread or process has it: one write of this loop at a time waits for
        # it in the pool, the others wait here, on the loop, without a thread each
        async with _gate(asyncio.get_running_loop()):
            held = lock.try_hold() or await _wait_in_pool(lock)
            with held:
                return fn(*args)
    with held:
        return fn(*args)


_GATES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)


def _gate(loop: asyncio.AbstractEventLoop) -> asyncio.Lock:
    gate = _GATES.get(loop)
    if gate is None:
        gate = _GATES[loop] = asyncio.Lock()
    return gate


async def _wait_in_pool(lock: SqliteWriterLock) -> AbstractContextManager[None]:
    """The writer lock, waited for in the thread pool while the loop serves others.

    The write itself still runs on the loop, and one write per loop waits here at a time
    (the gate above). Run in the pool, every write that came while another thread held
    the lock for a few milliseconds (the log's checkpointer did, for a while) queued for
    the lock there, the loop's next write found it taken by them, and so on: once
    started, the writes stayed in the pool for good, paying the GIL hand-offs (futex
    calls were 11 % of the server's perf samples). With a pool thread per waiting write,
    each holding the lock until the loop took it over, the same convoy remained (10 %)."""
    waiter = _Waiter(lock)
    try:
        await run_in_threadpool(waiter.wait)
    except BaseException:
        waiter.abandon()  # cancelled (the client went away): the lock must not leak
        raise
    assert waiter.held is not None
    return waiter.held


class _Waiter:
    """Takes the writer lock in a pool thread for a coroutine that may stop waiting:
    whichever of the two comes second gives an unwanted lock back."""

    def __init__(self, lock: SqliteWriterLock) -> None:
        self.lock = lock
        self.held: AbstractContextManager[None] | None = None
        self._abandoned = False
        self._guard = threading.Lock()

    def wait(self) -> None:
        held = self.lock.try_hold(None)
        assert held is not None  # no timeout
        with self._guard:
            if not self._abandoned:
                self.held = held
                return
        with held:  # nobody waits for it any more
            pass

    def abandon(self) -> None:
        with self._guard:
            self._abandoned = True
            held, self.held = self.held, None
        if held is not None:
            with held:
                pass
