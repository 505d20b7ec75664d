"""The SQLite writer queue: one writer at a time, re-entrant within a thread."""

from __future__ import annotations

import fcntl
import logging
import os
import subprocess
import sys
import threading
import time
from typing import Any

from kopilka.store.db import SqliteWriterLock, make_engine, writer_lock


def test_writers_take_turns_across_threads(tmp_path):
    """Two threads never hold the writer lock at the same time."""
    lock = SqliteWriterLock(str(tmp_path / "db.writer"))
    inside = 0
    overlaps = 0
    guard = threading.Lock()

    def write() -> None:
        nonlocal inside, overlaps
        for _ in range(20):
            with lock.hold():
                with guard:
                    inside += 1
                    overlaps += inside > 1
                time.sleep(0.0005)
                with guard:
                    inside -= 1

    threads = [threading.Thread(target=write) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert overlaps == 0


def test_the_lock_is_reentrant_within_a_thread(tmp_path):
    """A nested hold in the same thread does not wait for itself: it is entered at once,
    the lock stays taken for other threads until the outer hold ends, and is free after.
    The holder runs in a thread joined with a timeout, so a broken re-entrancy fails the
    test instead of hanging it."""
    lock = SqliteWriterLock(str(tmp_path / "db.writer"))
    steps: list[str] = []

    def taken_by_another_thread() -> bool:
        seen: list[bool] = []
        probe = threading.Thread(target=lambda: seen.append(lock.try_hold() is None))
        probe.start()
        probe.join(timeout=10)
        return seen == [True]

    def holder() -> None:
        with lock.hold():
            steps.append("outer")
            with lock.hold():
                steps.append("inner")
                steps.append(f"taken inside: {taken_by_another_thread()}")
            steps.append(f"taken after inner: {taken_by_another_thread()}")
        steps.append("released")

    t = threading.Thread(target=holder, daemon=True)
    t.start()
    t.join(timeout=10)
    assert not t.is_alive(), f"the nested hold waited for itself (got as far as {steps})"
    assert steps == [
        "outer",
        "inner",
        "taken inside: True",
        "taken after inner: True",
        "released",
    ]
    held = lock.try_hold()  # given back by the outer hold
    assert held is not None
    with held:
        pass


def test_only_sqlite_files_have_a_writer_queue(tmp_path):
    """PostgreSQL and in-memory SQLite need no queue; a file gets one per path."""
    file_engine = make_engine(f"sqlite:///{tmp_path / 'k.db'}")
    assert writer_lock(file_engine) is writer_lock(make_engine(f"sqlite:///{tmp_path / 'k.db'}"))
    assert writer_lock(make_engine("sqlite://")) is None


def test_try_hold_takes_a_free_lock_and_gives_it_back(tmp_path):
    """Free: taken at once, and other threads find it taken until it is given back."""
    lock = SqliteWriterLock(str(tmp_path / "db.writer"))
    seen: list[bool] = []

    def other() -> None:
        held = lock.try_hold()
        seen.append(held is not None)
        if held is not None:
            with held:
                pass

    held = lock.try_hold()
    assert held is not None
    with held:
        t = threading.Thread(target=other)
        t.start()
        t.join()
        with lock.try_hold() or _fail("not re-entrant"):  # nested, same thread
            pass
    t = threading.Thread(target=other)
    t.start()
    t.join()
    assert seen == [False, True]


def test_try_hold_does_not_wait_for_another_process(tmp_path):
    """Another process holding the file's flock: None at once, not a wait."""
    path = tmp_path / "db.writer"
    lock = SqliteWriterLock(str(path))
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys, time\n"
            f"fd = os.open({str(path)!r}, os.O_RDWR | os.O_CREAT, 0o600)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX)\n"
            "print('held', flush=True)\n"
            "sys.stdin.read()\n",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        assert lock.try_hold() is None
        # and the threads' lock was given back: a thread of ours can still try
        assert lock._threads.acquire(blocking=False)
        lock._threads.release()
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)
    held = lock.try_hold()
    assert held is not None
    with held:
        pass


def test_try_hold_waits_up_to_its_timeout(tmp_path):
    """With a timeout: the lock once another thread gives it back within it, else None
    after it; for another process's flock too, which is polled until the deadline."""
    path = tmp_path / "db.writer"
    lock = SqliteWriterLock(str(path))
    got: list[float] = []

    def other(timeout_s: float) -> None:
        t = time.monotonic()
        held = lock.try_hold(timeout_s)
        got.append(time.monotonic() - t if held is not None else -1.0)
        if held is not None:
            with held:
                pass

    with lock.hold():
        waiter = threading.Thread(target=other, args=(30.0,))
        waiter.start()
        time.sleep(0.05)
    waiter.join()
    with lock.hold():
        late = threading.Thread(target=other, args=(0.05,))
        late.start()
        late.join()
    assert got[0] >= 0.04  # it waited for the holder, then had the lock
    assert got[1] == -1.0  # the holder kept it past the timeout

    fd = os.open(path, os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)  # another open file description: as another process
    try:
        t = time.monotonic()
        assert lock.try_hold(0.05) is None
        assert time.monotonic() - t >= 0.05
        assert lock._threads.acquire(blocking=False)  # given back
        lock._threads.release()
    finally:
        os.close(fd)
    held = lock.try_hold(0.05)
    assert held is not None
    with held:
        pass


def test_work_before_release_runs_once_in_the_holders_thread_before_the_lock_is_free(
    tmp_path, caplog
):
    lock = SqliteWriterLock(str(tmp_path / "db.writer"))
    seen: list[tuple[int, bool]] = []

    def work() -> None:
        other: list[bool] = []
        probe = threading.Thread(target=lambda: other.append(lock.try_hold() is None))
        probe.start()
        probe.join()
        seen.append((threading.get_ident(), other[0]))  # (where it ran, lock still taken)

    lock.before_release = work
    with lock.hold():
        pass
    held = lock.try_hold()
    assert held is not None
    with held:  # asked once: nothing to do this time
        pass
    lock.before_release = work
    held = lock.try_hold()
    assert held is not None
    with held:
        with lock.hold():  # nested: only the outermost release does the work
            pass
        assert len(seen) == 1
    assert seen == [(threading.get_ident(), True), (threading.get_ident(), True)]

    def failing() -> None:
        raise OSError("disk I/O error")

    lock.before_release = failing
    with caplog.at_level(logging.WARNING, logger="kopilka.store"), lock.hold():
        pass  # the holder's own work is not failed by it
    assert any("writer lock back failed: OSError" in r.getMessage() for r in caplog.records)
    assert lock.before_release is None
    assert lock._threads.acquire(blocking=False)  # and the lock was given back
    lock._threads.release()


def _fail(why: str) -> Any:
    raise AssertionError(why)
