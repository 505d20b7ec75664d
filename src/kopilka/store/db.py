"""Engines for SQLite (WAL, one writer) and PostgreSQL (psycopg 3)."""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.pool import NullPool

READ_ONLY = "kopilka_read_only"


def make_engine(url: str, *, pool_size: int = 10, sqlite_synchronous: str = "FULL") -> Engine:
    """Build the engine for ``url``; SQLite files get WAL mode and immediate write locks."""
    if url.startswith("sqlite"):
        return _sqlite_engine(url, sqlite_synchronous)
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        isolation_level="READ COMMITTED",
    )


def _sqlite_engine(url: str, synchronous: str) -> Engine:
    path = url.split("///", 1)[1] if "///" in url else ""
    memory = path in ("", ":memory:")
    if not memory:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False, "timeout": 30}}
    if memory:
        kwargs["poolclass"] = NullPool
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # let SQLAlchemy's begin event below issue BEGIN itself
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        if not memory:
            cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={synchronous}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # one writer: a write transaction takes the lock up front so that it never fails
        # half-way on a lock upgrade; read transactions stay deferred
        if conn.get_execution_options().get(READ_ONLY):
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


class SqliteWriterLock:
    """Queues the writers of one SQLite file, across threads and processes.

    SQLite admits one writer; without a queue, waiting writers sleep in SQLite's busy
    handler with growing back-off, which turned a load test's p99 into seconds. Threads
    of a process wait on a lock, processes on ``flock`` of a file beside the database.
    Re-entrant within a thread, so nested units of work cannot deadlock on it.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._threads = threading.Lock()
        self._local = threading.local()

    @contextmanager
    def hold(self) -> Iterator[None]:
        if getattr(self._local, "depth", 0):
            self._local.depth += 1
            try:
                yield
            finally:
                self._local.depth -= 1
            return
        with self._threads:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                self._local.depth = 1
                try:
                    yield
                finally:
                    self._local.depth = 0
            finally:
                os.close(fd)  # closing the file releases the flock


_WRITER_LOCKS: dict[str, SqliteWriterLock] = {}
_WRITER_LOCKS_GUARD = threading.Lock()


def writer_lock(engine: Engine) -> SqliteWriterLock | None:
    """The writer queue of a SQLite file engine; None for PostgreSQL or in-memory SQLite."""
    if engine.dialect.name != "sqlite":
        return None
    database = engine.url.database
    if not database or database == ":memory:":
        return None
    found = _WRITER_LOCKS.get(database)
    if found is None:
        path = str(Path(database).resolve()) + ".writer"
        with _WRITER_LOCKS_GUARD:
            # one queue per file, however its path was spelled
            found = next((w for w in _WRITER_LOCKS.values() if w.path == path), None)
            found = found or SqliteWriterLock(path)
            _WRITER_LOCKS[database] = found
    return found
