"""Where a route's write runs: on the event loop when SQLite's writer lock is free this
instant, in the thread pool otherwise (and always on PostgreSQL)."""

from __future__ import annotations

import asyncio
import threading

from kopilka.api.offload import run_write
from kopilka.domain.clock import SystemClock
from kopilka.services.context import ServiceContext
from kopilka.store.db import make_engine, writer_lock


def _ctx(url: str) -> ServiceContext:
    return ServiceContext(make_engine(url), SystemClock())


async def _where(ctx: ServiceContext) -> tuple[int, int, bool]:
    """(the loop's thread, the thread the write ran on, whether it held the writer lock)."""
    lock = writer_lock(ctx.engine)

    def write() -> tuple[int, bool]:
        # as a use case does: its unit of work takes the writer lock (re-entrant on the loop)
        with ctx.uow() as uow:
            holding = lock is not None and bool(getattr(lock._local, "depth", 0))
            uow.commit()
        return threading.get_ident(), holding

    ran_on, holding = await run_write(ctx, write)
    return threading.get_ident(), ran_on, holding


def test_a_free_sqlite_writer_lock_runs_the_write_on_the_loop_holding_it(tmp_path):
    ctx = _ctx(f"sqlite:///{tmp_path / 'k.db'}")
    loop_thread, ran_on, holding = asyncio.run(_where(ctx))
    assert ran_on == loop_thread
    assert holding
    lock = writer_lock(ctx.engine)
    assert lock is not None
    assert not getattr(lock._local, "depth", 0)


def test_a_taken_sqlite_writer_lock_sends_the_write_to_the_pool(tmp_path):
    ctx = _ctx(f"sqlite:///{tmp_path / 'k.db'}")
    lock = writer_lock(ctx.engine)
    assert lock is not None
    taken, release = threading.Event(), threading.Event()

    def holder() -> None:
        with lock.hold():
            taken.set()
            release.wait(30)

    t = threading.Thread(target=holder)
    t.start()
    taken.wait(30)

    async def scenario() -> tuple[int, int, bool]:
        pending = asyncio.ensure_future(_where(ctx))
        await asyncio.sleep(0.05)
        assert not pending.done()  # waiting in the pool, while the loop goes on
        release.set()
        return await pending

    loop_thread, ran_on, holding = asyncio.run(scenario())
    t.join()
    assert ran_on != loop_thread
    assert holding  # the write's own unit of work takes the lock in its thread


def test_engines_without_a_writer_lock_use_the_pool():
    ctx = _ctx("sqlite://")  # in memory: no writer queue, like PostgreSQL
    loop_thread, ran_on, holding = asyncio.run(_where(ctx))
    assert ran_on != loop_thread
    assert not holding
