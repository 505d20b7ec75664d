"""Checkpoints of a SQLite file's write-ahead log, from a thread of their own.

By default SQLite checkpoints inside the commit that brings the log past 1,000 pages:
that writer copies the log's pages into the database and waits for ``fdatasync``, while
it holds the writer lock. A purchase writes ~30 pages (its rows and their index entries),
so every ~33rd purchase paid for the checkpoint of the ones before it, and a worker's
event loop, which runs SQLite writes itself (``api.offload``), stood still during the
sync: over HTTP the p99 at half load was higher in every one of four interleaved pairs
(bench/README.md, sixth round).

A :class:`WalCheckpointer` is for an engine built with ``sqlite_autocheckpoint=False``
(:func:`kopilka.store.db.make_engine`): while it is entered, a daemon thread runs a
``PASSIVE`` checkpoint every ``interval_s``. A passive checkpoint never waits for, nor
blocks, readers and writers; SQLite releases the GIL while it copies and syncs, so on a
second core it costs the request path nothing; and a page written many times between
two checkpoints is copied once. When the last frame of the log has been copied, the
next writer starts the log over from its beginning.

Under a steady stream of writes that alone does not keep the log bounded: while a
passive checkpoint copies, writers append, so it never finds the whole log copied, no
writer ever starts the log over, and the log grows for as long as the writes go on (over
1.4 GB after 15,000 purchases in a row, each read searching an ever longer log's index;
bench/README.md, seventh round). So when a tick finds at least ``restart_frames``
frames in the log (it has not started over lately), it checkpoints once more what the
writers added meanwhile, then asks the next writer of this process to checkpoint again
as it gives the writer lock back (:attr:`kopilka.store.db.SqliteWriterLock.
before_release`): with no writer between, that copies the few frames written meanwhile,
and the next writer starts the log over. The writer does it in its own thread, with the
lock it already holds; for the API on SQLite that is the event loop, which stands still
for it (~6 ms under full load, about once a second: most of it the two syncs SQLite needs
before the log may start over). If no writer of this process has given the lock back by
the next tick (another process writes), the tick takes the lock itself (waiting at most
one interval for it).
"""

from __future__ import annotations

import logging
import threading
from types import TracebackType

from sqlalchemy import Engine

from kopilka.store.db import writer_lock

log = logging.getLogger("kopilka.store")

INTERVAL_S = 0.5
# the longest log a tick leaves to the writers to start over; longer, it copies the rest
# between two writers (64 MB of 4 KB pages: under full load about every second tick, so
# the writers are held back for a few milliseconds about once a second)
RESTART_FRAMES = 16_384


class WalCheckpointer:
    """While entered, a thread checkpoints ``engine``'s SQLite file every ``interval_s``."""

    def __init__(
        self, engine: Engine, interval_s: float = INTERVAL_S, restart_frames: int = RESTART_FRAMES
    ) -> None:
        self.engine = engine
        self.interval_s = interval_s
        self.restart_frames = restart_frames
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False
        self.checkpoints = 0  # succeeded so far
        self.between_writers = 0  # of them, those that also copied the rest of the log

    def checkpoint(self) -> tuple[int, int, int]:
        """One passive checkpoint now: (busy, frames in the log, frames copied)."""
        conn = self.engine.raw_connection()
        try:
            cursor = conn.cursor()
            try:
                cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
                busy, frames, copied = cursor.fetchone() or (0, 0, 0)
            finally:
                cursor.close()
        finally:
            conn.close()
        return int(busy), int(frames), int(copied)

    def __enter__(self) -> WalCheckpointer:
        if self._thread is not None:
            raise RuntimeError("this checkpointer is already running")
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, name="kopilka-wal-checkpoint", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stop.set()
        thread.join()
        lock = writer_lock(self.engine)
        if lock is not None and lock.before_release == self._copy_as_writer:
            lock.before_release = None  # no writer is to do it for a stopped checkpointer
        self._tick(ask_writers=False)  # what the last interval wrote

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._tick()

    def _tick(self, ask_writers: bool = True) -> None:
        try:
            # (a checkpoint reports the log as it found it: "all copied" says nothing of
            # the frames written while it ran)
            _busy, frames, _copied = self.checkpoint()
            if frames >= self.restart_frames:
                self._copy_between_writers(ask_writers)
        except Exception as e:  # a failed checkpoint is retried at the next tick
            if not self._failing:
                log.warning("WAL checkpoint failed, will retry: %s", type(e).__name__)
            self._failing = True
        else:
            self.checkpoints += 1
            if self._failing:
                log.info("WAL checkpoints succeed again")
            self._failing = False

    def _copy_between_writers(self, ask_writers: bool) -> None:
        lock = writer_lock(self.engine)
        if lock is None:
            return
        # first what the writers added during the tick's checkpoint, without holding them
        # back: what is left to copy between two writers is what they add during this one
        self.checkpoint()
        if ask_writers and lock.before_release is None:
            # the next writer of this process copies the rest as it gives the lock back,
            # in its own thread: no hand-over of the lock between threads
            lock.before_release = self._copy_as_writer
            return
        # asked a tick ago and no writer of this process has given the lock back since
        # (another process writes, or nobody), or stopping: take the lock here
        lock.before_release = None
        held = lock.try_hold(self.interval_s)
        if held is None:  # the writers kept the queue all interval: next tick
            return
        with held:
            self.checkpoint()
        self.between_writers += 1

    def _copy_as_writer(self) -> None:
        try:
            self.checkpoint()
        except Exception as e:  # the write itself has succeeded; the next tick asks again
            log.warning("WAL checkpoint between writers failed: %s", type(e).__name__)
        else:
            self.between_writers += 1
