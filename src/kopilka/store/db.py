"""Engines for SQLite (WAL, one writer) and PostgreSQL (psycopg 3)."""

from __future__ import annotations

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
