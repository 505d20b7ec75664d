"""The SQLite write-ahead log checkpointed from a thread instead of inside commits: the
log stays bounded, the last writes are copied when the checkpointer stops, a failing
checkpoint is reported once and retried, and the API server runs it for its lifetime."""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from kopilka.api.app import create_app
from kopilka.app import build
from kopilka.settings import Settings
from kopilka.store.checkpoint import WalCheckpointer
from kopilka.store.db import make_engine, writer_lock

PAGE = 4096


def _autocheckpoint(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one())


def _write_pages(engine: Engine, pages: int) -> None:
    """One committed transaction that dirties about ``pages`` pages."""
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO blobs (b) VALUES (zeroblob(:n))"), {"n": pages * PAGE})


def _engine(path: Path, *, autocheckpoint: bool) -> Engine:
    engine = make_engine(
        f"sqlite:///{path}", sqlite_synchronous="NORMAL", sqlite_autocheckpoint=autocheckpoint
    )
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS blobs (id INTEGER PRIMARY KEY, b BLOB)"))
    return engine


def _log_pages(path: Path) -> int:
    wal = Path(f"{path}-wal")
    return wal.stat().st_size // PAGE if wal.exists() else 0


def _wait_for_ticks(checkpointer: WalCheckpointer, more: int) -> None:
    goal = checkpointer.checkpoints + more
    deadline = time.monotonic() + 30
    while checkpointer.checkpoints < goal:
        assert time.monotonic() < deadline, "the checkpointer thread stopped checkpointing"
        time.sleep(0.005)


def test_commits_leave_the_log_alone_only_when_asked(tmp_path):
    assert _autocheckpoint(_engine(tmp_path / "a.db", autocheckpoint=True)) == 1000
    engine = _engine(tmp_path / "b.db", autocheckpoint=False)
    assert _autocheckpoint(engine) == 0
    with engine.connect():  # a connection stays open, so closing others copies nothing
        for _ in range(30):
            _write_pages(engine, 50)
        assert _log_pages(tmp_path / "b.db") >= 1500  # nothing checkpointed it


def test_the_thread_keeps_the_log_bounded(tmp_path):
    engine = _engine(tmp_path / "k.db", autocheckpoint=False)
    with engine.connect(), WalCheckpointer(engine, interval_s=0.01) as checkpointer:
        for _ in range(30):
            _write_pages(engine, 50)
            # two ticks: the second one began after this write, so it copied all of it,
            # and the next write starts the log over from its beginning
            _wait_for_ticks(checkpointer, 2)
        assert _log_pages(tmp_path / "k.db") < 200  # 1,500 pages were written in all


class _Observed(WalCheckpointer):
    """A checkpointer that tells when a tick's first (passive) checkpoint has run."""

    def __init__(self, engine: Engine, restart_frames: int) -> None:
        super().__init__(engine, interval_s=30, restart_frames=restart_frames)
        self.passed = threading.Event()

    def checkpoint(self) -> tuple[int, int, int]:
        result = super().checkpoint()
        self.passed.set()
        return result


def _steady_writes(engine: Engine, checkpointer: _Observed, cycles: int) -> int:
    """Writes as under a steady stream: in each cycle a writer begins (in the writer queue,
    as the use cases write), a tick's passive checkpoint runs meanwhile on its thread, and
    the writer commits 50 pages. The longest the log's file grew, in pages."""
    lock = writer_lock(engine)
    assert lock is not None
    for _ in range(cycles):
        checkpointer.passed.clear()
        tick = threading.Thread(target=checkpointer._tick)
        with lock.hold(), engine.begin() as conn:
            conn.execute(text("INSERT INTO blobs (b) VALUES (zeroblob(:n))"), {"n": 50 * PAGE})
            tick.start()
            assert checkpointer.passed.wait(30)
        tick.join()
    return _log_pages(Path(str(engine.url.database)))


def test_the_log_stays_bounded_under_writes_without_a_pause(tmp_path):
    # a passive checkpoint copies while writers append, so it never leaves the whole log
    # copied before a writer begins, and no writer starts the log over: a tick that finds
    # the log long copies the rest between two writers
    engine = _engine(tmp_path / "k.db", autocheckpoint=False)
    checkpointer = _Observed(engine, restart_frames=500)
    assert _steady_writes(engine, checkpointer, 60) < 700  # 3,000 pages were written
    assert checkpointer.between_writers >= 4


def test_the_writers_themselves_copy_between_writers(tmp_path):
    # asked by a tick, the next writer of the process does it as it gives the lock back,
    # in its own thread; the write after it starts the log over
    engine = _engine(tmp_path / "k.db", autocheckpoint=False)
    lock = writer_lock(engine)
    assert lock is not None
    where: list[int] = []

    class Traced(WalCheckpointer):
        def _copy_as_writer(self) -> None:
            where.append(threading.get_ident())
            super()._copy_as_writer()

    with engine.connect():  # keeps the log from being checkpointed when others close
        _write_pages(engine, 50)
        checkpointer = Traced(engine, interval_s=30, restart_frames=10)
        ticking = threading.Thread(target=checkpointer._tick)
        ticking.start()
        ticking.join()
        assert lock.before_release == checkpointer._copy_as_writer
        assert where == []
        with lock.hold():
            _write_pages(engine, 20)
        assert where == [threading.get_ident()]  # the writer's thread, not the tick's
        assert checkpointer.between_writers == 1
        assert lock.before_release is None
        with lock.hold():
            _write_pages(engine, 20)
        _busy, frames, _copied = checkpointer.checkpoint()
        assert frames < 50  # started over: only the last write's frames


def test_with_no_writer_to_ask_a_tick_copies_between_writers_itself(tmp_path):
    engine = _engine(tmp_path / "k.db", autocheckpoint=False)
    lock = writer_lock(engine)
    assert lock is not None
    with engine.connect():  # keeps the log from being checkpointed when others close
        _write_pages(engine, 50)
        checkpointer = WalCheckpointer(engine, interval_s=30, restart_frames=10)
        checkpointer._tick()  # asks the next writer
        assert lock.before_release is not None
        assert checkpointer.between_writers == 0
        checkpointer._tick()  # no writer came: takes the lock itself
        assert lock.before_release is None
        assert checkpointer.between_writers == 1


def test_stopping_leaves_no_request_to_the_writers(tmp_path):
    engine = _engine(tmp_path / "k.db", autocheckpoint=False)
    lock = writer_lock(engine)
    assert lock is not None
    with engine.connect():
        _write_pages(engine, 50)
        checkpointer = WalCheckpointer(engine, interval_s=3600, restart_frames=10)
        with checkpointer:
            checkpointer._tick()  # asks the next writer
            assert lock.before_release is not None
        assert lock.before_release is None
        assert checkpointer.between_writers == 1  # the stop copied between writers itself


def test_without_copying_between_writers_the_log_grows(tmp_path):
    # the fault the test above guards against, seen by the same measure
    engine = _engine(tmp_path / "k.db", autocheckpoint=False)
    checkpointer = _Observed(engine, restart_frames=10**9)
    assert _steady_writes(engine, checkpointer, 60) >= 2_900
    assert checkpointer.checkpoints == 60
    assert checkpointer.between_writers == 0


def test_stopping_copies_the_last_writes(tmp_path):
    engine = _engine(tmp_path / "k.db", autocheckpoint=False)
    with engine.connect():
        checkpointer = WalCheckpointer(engine, interval_s=3600)  # no tick before the stop
        with checkpointer:
            _write_pages(engine, 20)
        assert checkpointer.checkpoints == 1
        busy, frames, copied = checkpointer.checkpoint()
        assert busy == 0
        assert frames == copied  # the stop's own checkpoint left nothing behind
        assert not any(t.name == "kopilka-wal-checkpoint" for t in threading.enumerate())


def test_a_failing_checkpoint_is_reported_once_and_retried(tmp_path, caplog):
    engine = make_engine(f"sqlite:///{tmp_path / 'k.db'}", sqlite_autocheckpoint=False)
    os.mkdir(tmp_path / "k.db")  # a directory where the database should be: cannot open
    checkpointer = WalCheckpointer(engine, interval_s=3600)
    with caplog.at_level(logging.WARNING, logger="kopilka.store"):
        checkpointer._tick()
        checkpointer._tick()
    failures = [r for r in caplog.records if "WAL checkpoint failed" in r.getMessage()]
    assert len(failures) == 1
    assert checkpointer.checkpoints == 0


def test_the_api_server_checkpoints_in_the_background_for_its_lifetime(tmp_path):
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'k.db'}", data_dir=tmp_path)
    kopilka = build(settings, migrate=True, background_checkpoints=True)
    assert kopilka.checkpointer is not None
    assert _autocheckpoint(kopilka.engine) == 0

    def running() -> bool:
        return any(t.name == "kopilka-wal-checkpoint" for t in threading.enumerate())

    with TestClient(create_app(kopilka)) as client:
        assert client.get("/healthz").status_code == 200
        assert running()
    assert not running()
    kopilka.close()


def test_without_background_checkpoints_sqlite_checkpoints_in_its_commits(tmp_path):
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'k.db'}", data_dir=tmp_path)
    kopilka = build(settings, migrate=True)
    assert kopilka.checkpointer is None
    assert _autocheckpoint(kopilka.engine) == 1000
    kopilka.close()
