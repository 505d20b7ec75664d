"""Where a route's write runs: on SQLite on the event loop, holding the writer lock (which
is waited for in the thread pool when another thread or process has it); on PostgreSQL
in the thread pool."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Any

from kopilka.api import offload
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


def _hold_in_a_thread(ctx: ServiceContext) -> tuple[threading.Thread, threading.Event]:
    """Another thread (as the log's checkpointer) holds the writer lock until released."""
    lock = writer_lock(ctx.engine)
    assert lock is not None
    taken, release = threading.Event(), threading.Event()

    def holder() -> None:
        with lock.hold():
            taken.set()
            release.wait(30)

    t = threading.Thread(target=holder)
    t.start()
    assert taken.wait(30)
    return t, release


def test_a_taken_sqlite_writer_lock_is_waited_for_in_the_pool_then_the_write_runs_on_the_loop(
    tmp_path,
):
    ctx = _ctx(f"sqlite:///{tmp_path / 'k.db'}")
    t, release = _hold_in_a_thread(ctx)

    async def scenario() -> tuple[int, int, bool]:
        pending = asyncio.ensure_future(_where(ctx))
        await asyncio.sleep(0.05)
        assert not pending.done()  # waiting in the pool, while the loop goes on
        release.set()
        return await pending

    loop_thread, ran_on, holding = asyncio.run(scenario())
    t.join()
    # on the loop: had it run in the pool, every write arriving while the pool's waiters
    # queued for the lock would have found it taken and queued there too
    assert ran_on == loop_thread
    assert holding
    lock = writer_lock(ctx.engine)
    assert lock is not None
    after = lock.try_hold()  # given back
    assert after is not None
    with after:
        pass


def test_writes_waiting_for_a_taken_lock_use_one_pool_thread_and_run_on_the_loop(
    tmp_path, monkeypatch
):
    ctx = _ctx(f"sqlite:///{tmp_path / 'k.db'}")
    t, release = _hold_in_a_thread(ctx)
    in_pool = 0
    most_in_pool = 0
    real_wait = offload._wait_in_pool

    async def counted(lock: Any) -> Any:
        nonlocal in_pool, most_in_pool
        in_pool += 1
        most_in_pool = max(most_in_pool, in_pool)
        try:
            return await real_wait(lock)
        finally:
            in_pool -= 1

    monkeypatch.setattr(offload, "_wait_in_pool", counted)

    async def scenario() -> list[tuple[int, int, bool]]:
        pending = [asyncio.ensure_future(_where(ctx)) for _ in range(5)]
        await asyncio.sleep(0.05)
        assert not any(p.done() for p in pending)
        release.set()
        return list(await asyncio.gather(*pending))

    results = asyncio.run(scenario())
    t.join()
    assert most_in_pool == 1  # the others waited on the loop, not in threads of their own
    assert all(ran_on == loop_thread and holding for loop_thread, ran_on, holding in results)


def test_a_write_cancelled_while_it_waits_gives_the_lock_back(tmp_path):
    ctx = _ctx(f"sqlite:///{tmp_path / 'k.db'}")
    t, release = _hold_in_a_thread(ctx)
    ran: list[bool] = []

    async def scenario() -> None:
        pending = asyncio.ensure_future(run_write(ctx, lambda: ran.append(True)))
        await asyncio.sleep(0.05)
        pending.cancel()  # e.g. the client went away
        await asyncio.sleep(0.05)
        release.set()  # now the pool's wait gets the lock, for a write that is gone
        with contextlib.suppress(asyncio.CancelledError):
            await pending

    asyncio.run(scenario())
    t.join()
    assert ran == []
    lock = writer_lock(ctx.engine)
    assert lock is not None
    after = lock.try_hold(5.0)
    assert after is not None  # not leaked by the cancelled wait
    with after:
        pass


def test_engines_without_a_writer_lock_use_the_pool():
    ctx = _ctx("sqlite://")  # in memory: no writer queue, like PostgreSQL
    loop_thread, ran_on, holding = asyncio.run(_where(ctx))
    assert ran_on != loop_thread
    assert not holding


def test_the_service_context_gives_the_store_s_writer_lock(tmp_path):
    """``ServiceContext.writer_lock()`` (what offload reads, so that the API does not import
    the store) is the store's per-file lock on a SQLite file, and None without one."""
    ctx = _ctx(f"sqlite:///{tmp_path / 'k.db'}")
    assert ctx.writer_lock() is not None
    assert ctx.writer_lock() is writer_lock(ctx.engine)
    assert _ctx("sqlite://").writer_lock() is None
