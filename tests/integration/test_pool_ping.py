"""PostgreSQL pool: a connection idle past the threshold is pinged before it is lent, and
one the server dropped is replaced; one reused at once is lent without a round trip."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import DBAPIError

from kopilka.store.db import make_engine


def _backend_pid(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _terminate(url: str, pid: int) -> None:
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            assert conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar()
    finally:
        admin.dispose()


def test_idle_connection_dropped_by_the_server_is_replaced(postgres_url: str) -> None:
    engine = make_engine(postgres_url, pool_size=1, ping_after_idle_s=0.0)
    try:
        first = _backend_pid(engine)
        _terminate(postgres_url, first)
        # idle past the threshold (0 s): pinged, found dead, replaced before use
        second = _backend_pid(engine)
        assert second != first
    finally:
        engine.dispose()


def test_connection_reused_at_once_is_not_pinged(postgres_url: str) -> None:
    engine = make_engine(postgres_url, pool_size=1, ping_after_idle_s=3600.0)
    try:
        first = _backend_pid(engine)
        _terminate(postgres_url, first)
        # not idle long enough to be pinged: the dead connection is lent and its first
        # statement fails; SQLAlchemy then drops it, and the next checkout connects anew
        with pytest.raises(DBAPIError) as failed:
            _backend_pid(engine)
        assert failed.value.connection_invalidated
        assert _backend_pid(engine) != first
    finally:
        engine.dispose()
