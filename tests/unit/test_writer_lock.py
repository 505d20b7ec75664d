"""The SQLite writer queue: one writer at a time, re-entrant within a thread."""

from __future__ import annotations

import threading
import time

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
    """A nested hold in the same thread does not wait for itself."""
    lock = SqliteWriterLock(str(tmp_path / "db.writer"))
    with lock.hold(), lock.hold():
        pass


def test_only_sqlite_files_have_a_writer_queue(tmp_path):
    """PostgreSQL and in-memory SQLite need no queue; a file gets one per path."""
    file_engine = make_engine(f"sqlite:///{tmp_path / 'k.db'}")
    assert writer_lock(file_engine) is writer_lock(make_engine(f"sqlite:///{tmp_path / 'k.db'}"))
    assert writer_lock(make_engine("sqlite://")) is None
