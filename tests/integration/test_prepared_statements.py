"""A read between two writes keeps the connection's prepared statements (PostgreSQL).

psycopg prepares a statement on the server after 5 runs on a connection and deallocates
every prepared statement of the connection on each ROLLBACK. A read-only unit of work ends
with COMMIT (nothing was written, so the effect is the same), or every read between two
purchases on a pooled connection would unprepare the purchase's statements again."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from kopilka.domain.clock import FrozenClock
from kopilka.services.context import ServiceContext
from kopilka.store.db import make_engine


def _prepared(ctx: ServiceContext) -> int:
    with ctx.uow(read_only=True) as uow:
        return int(uow.conn.execute(text("SELECT count(*) FROM pg_prepared_statements")).scalar())


def _failed_read(ctx: ServiceContext) -> None:
    with ctx.uow(read_only=True) as uow:
        uow.conn.execute(text("SELECT 1"))
        raise ZeroDivisionError


def test_reads_between_writes_keep_prepared_statements(postgres_url: str) -> None:
    engine = make_engine(postgres_url, pool_size=1)
    ctx = ServiceContext(engine, FrozenClock(datetime(2026, 1, 1, tzinfo=UTC)))
    try:
        query = text("SELECT count(*) FROM programs WHERE id > :n")
        for n in range(8):
            with ctx.uow() as uow:
                uow.conn.execute(query, {"n": n})
                uow.commit()
            with ctx.uow(read_only=True) as uow:
                uow.conn.execute(text("SELECT 1"))
        assert _prepared(ctx) >= 1
        # a failed read still rolls back (and psycopg then starts over, as it must)
        with pytest.raises(ZeroDivisionError):
            _failed_read(ctx)
        assert _prepared(ctx) == 0
    finally:
        engine.dispose()
