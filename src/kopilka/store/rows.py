"""Many rows into one table in a few statements, inside the connection's transaction: a
review's or recompute's batch of tier standings, history lines and events.

PostgreSQL gets ``COPY ... FROM STDIN`` (psycopg formats each row in C; the server parses
no SQL per row); SQLite gets multi-row ``INSERT`` statements on the raw connection. The
rows are tuples already in the database's form: :func:`db_time` and :func:`db_json` convert
datetimes and JSON values as the column types of :mod:`kopilka.store.tables` would, so the
rows read back as SQLAlchemy's own inserts do (``store/bulk/writer.py`` does the same for
imports; this module is below the repositories, which that one is not).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from itertools import chain
from typing import Any

from sqlalchemy import Connection

from kopilka.store.db import dump_json

_ROWS_PER_INSERT = 500


@lru_cache(maxsize=4096)
def _sqlite_time(at: datetime | None) -> str | None:
    # the text SQLAlchemy's DateTime stores on SQLite, for UTC values; remembered, as a
    # batch writes the same few instants (its own time, the next review) on every row
    if at is None:
        return None
    return at.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _same(value: Any) -> Any:
    return value


def db_time(conn: Connection) -> Callable[[datetime | None], Any]:
    """How this connection's database takes a UTC datetime in :func:`insert_rows`."""
    return _same if conn.dialect.name == "postgresql" else _sqlite_time


def db_json(value: Any) -> str | None:
    """A JSON column's text (the engines' own serializer, as the ``Json`` type writes it)."""
    return None if value is None else dump_json(value)


def insert_rows(
    conn: Connection, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """Insert ``rows`` (tuples in ``columns`` order) into ``table``, in their order."""
    if not rows:
        return
    cols = ", ".join(columns)
    raw: Any = conn.connection.dbapi_connection
    if conn.dialect.name == "postgresql":
        with raw.cursor() as cur, cur.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    # many rows per statement: fewer steps for SQLite than one statement per row
    per = max(
        1, min(_ROWS_PER_INSERT, raw.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // len(columns))
    )
    one = "(" + ", ".join("?" * len(columns)) + ")"
    full = len(rows) - len(rows) % per
    cur = raw.cursor()
    try:
        if full:
            sql = f"INSERT INTO {table} ({cols}) VALUES " + ", ".join([one] * per)  # noqa: S608
            cur.executemany(
                sql, [tuple(chain.from_iterable(rows[i : i + per])) for i in range(0, full, per)]
            )
        if full < len(rows):
            rest = rows[full:]
            sql = f"INSERT INTO {table} ({cols}) VALUES " + ", ".join([one] * len(rest))  # noqa: S608
            cur.execute(sql, tuple(chain.from_iterable(rest)))
    finally:
        cur.close()


def sqlite_many(conn: Connection, sql: str, rows: Sequence[Sequence[Any]]) -> None:
    """SQLite: one prepared statement (``?`` placeholders) run for each of ``rows`` on the
    raw connection, the values already in the database's form."""
    if not rows:
        return
    cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cur.executemany(sql, rows)
    finally:
        cur.close()
