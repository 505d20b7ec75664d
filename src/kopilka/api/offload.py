"""Where a route's blocking write runs: the thread pool, or the event loop itself.

A use case that writes is blocking code (SQLAlchemy, the driver), so routes hand it to
the thread pool and the event loop serves other requests meanwhile. On PostgreSQL that
is what lets a worker overlap one request's database round trips with another's Python.

SQLite is different: it runs inside this process, admits one writer at a time (the
writer lock of :mod:`kopilka.store.db`), and its work is Python and C holding the GIL.
The hop to a thread there buys no overlap and costs the GIL handoffs between the event
loop and the pool's threads: measured over HTTP on SQLite, one worker, 16 clients,
360 -> 500 purchases/s with the purchase run on the loop (bench/README.md, fourth round).
So a short SQLite write whose writer lock is free this instant runs right on the loop,
with the lock held; when another thread or process holds it (a second worker, a long
``kopilka expire``), the write waits for it in the pool as before, never on the loop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool

from kopilka.services.context import ServiceContext
from kopilka.store.db import writer_lock

T = TypeVar("T")


async def run_write(ctx: ServiceContext, fn: Callable[..., T], *args: Any) -> T:
    """Run ``fn(*args)``, a short use case that writes, where it costs least (see above).

    Only for bounded work (one purchase, one return): while it runs on the loop, the
    worker answers nothing else."""
    lock = writer_lock(ctx.engine)
    if lock is not None:
        held = lock.try_hold()
        if held is not None:
            with held:
                return fn(*args)
    return await run_in_threadpool(fn, *args)
