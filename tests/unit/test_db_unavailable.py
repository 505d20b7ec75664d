"""Which database errors mean "unavailable, retry" (503) rather than a bug (500)."""

from __future__ import annotations

import sqlite3

import psycopg
import psycopg.errors
import pytest
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from kopilka.store.db import is_unavailable


def _wrapped(orig: Exception, cls: type = OperationalError, **kw: bool) -> Exception:
    return cls("SELECT 1", {}, orig, **kw)


@pytest.mark.parametrize(
    "exc",
    [
        # refused or timed out at connect time: psycopg names no SQLSTATE
        _wrapped(psycopg.OperationalError("connection failed: Connection refused")),
        _wrapped(psycopg.errors.ConnectionTimeout("connection timeout expired")),
        # the server shutting down, or not ready yet
        _wrapped(psycopg.errors.AdminShutdown("terminating connection")),
        _wrapped(psycopg.errors.CannotConnectNow("the database system is starting up")),
        # lost under a statement (SQLAlchemy recognised the disconnect)
        _wrapped(Exception("server closed the connection"), connection_invalidated=True),
        # no pooled connection in time
        PoolTimeout("QueuePool limit reached"),
    ],
    ids=["refused", "connect-timeout", "shutdown", "starting-up", "lost", "pool-timeout"],
)
def test_an_unreachable_database_is_unavailable(exc: Exception) -> None:
    """These are outages to retry: 503 with Retry-After."""
    assert is_unavailable(exc)


@pytest.mark.parametrize(
    "exc",
    [
        _wrapped(psycopg.errors.QueryCanceled("canceling statement due to statement timeout")),
        _wrapped(psycopg.errors.UndefinedTable("relation does not exist"), cls=OperationalError),
        _wrapped(psycopg.errors.UniqueViolation("duplicate key"), cls=IntegrityError),
        _wrapped(sqlite3.OperationalError("database is locked")),
        _wrapped(sqlite3.OperationalError("no such table: x")),
        RuntimeError("a bug"),
    ],
    ids=["cancelled", "undefined-table", "unique", "sqlite-locked", "sqlite-table", "bug"],
)
def test_other_failures_are_not(exc: Exception) -> None:
    """A statement's own failure, SQLite's errors and bugs stay 500s."""
    assert not is_unavailable(exc)
