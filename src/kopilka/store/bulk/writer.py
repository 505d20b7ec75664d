"""Bulk writing for imports: ids reserved up front, rows sent in one statement per table.

PostgreSQL gets ``COPY ... FROM STDIN`` through psycopg and ids from the tables' own
sequences (``nextval`` over ``generate_series``, so a concurrent writer never collides);
SQLite gets multi-row ``INSERT`` statements on the raw connection and ids counted up from
``MAX(id)`` (safe because a write transaction there holds the database's single write lock).

Rows are plain tuples already in the database's form: :meth:`BulkWriter.ts` and
:meth:`BulkWriter.js` convert datetimes and JSON values the way the SQLAlchemy column
types of :mod:`kopilka.store.tables` would, so the rows read back identically.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, date, datetime
from itertools import chain
from typing import Any

from sqlalchemy import Connection

from kopilka.store.db import dump_json

ID_CHUNK = 50_000
_ROWS_PER_INSERT = 500
_VARIABLE_LIMIT = sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER


def _sqlite_ts(at: datetime | None) -> str | None:
    # the storage format of SQLAlchemy's DateTime on SQLite, for UTC values
    if at is None:
        return None
    return at.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


class _Memo(dict[Any, Any]):
    """``convert`` remembered per value; a hit is a plain dict lookup (no Python frame)."""

    def __init__(self, convert: Callable[[Any], Any], limit: int) -> None:
        super().__init__()
        self.convert = convert
        self.limit = limit

    def __missing__(self, key: Any) -> Any:
        if len(self) >= self.limit:
            self.clear()
        out = self[key] = self.convert(key)
        return out


def _cached(convert: Callable[[datetime | None], Any]) -> Callable[[datetime | None], Any]:
    """``convert`` remembered per value: a batch converts the same instants many times
    (a purchase's time is its entry's, its lot's, its row's)."""
    return _Memo(convert, 200_000).__getitem__


def _same(value: Any) -> Any:
    return value


def _sqlite_date(day: date | None) -> str | None:
    return None if day is None else day.isoformat()


def _json(value: Any) -> str | None:
    # the engines' own JSON serializer (orjson, json.dumps for what it refuses): the text
    # the Json column type stores through SQLAlchemy
    return None if value is None else dump_json(value)


class BulkWriter:
    """Inserts many rows per table on one connection, inside its current transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.pg = conn.dialect.name == "postgresql"
        self.ts: Callable[[datetime | None], Any] = _same if self.pg else _cached(_sqlite_ts)
        self.js: Callable[[Any], str | None] = _json
        self.day: Callable[[date | None], Any] = _same if self.pg else _sqlite_date
        self._next: dict[str, int] = {}
        self._pool: dict[str, list[int]] = {}
        self._size: dict[str, int] = {}
        self._seq: dict[str, str] = {}
        self._expect: dict[str, int] = {}

    def raw(self) -> Any:
        """The DBAPI connection under the SQLAlchemy one (same transaction)."""
        return self.conn.connection.dbapi_connection

    # -- ids --------------------------------------------------------------------------------
    def next_id(self, table: str) -> int:
        """A fresh primary key for ``table``, reserved for this transaction."""
        if not self.pg:
            if table not in self._next:
                self._next[table] = int(
                    self.conn.exec_driver_sql(
                        f"SELECT COALESCE(MAX(id), 0) FROM {table}"  # noqa: S608 - table names are ours
                    ).scalar_one()
                )
            self._next[table] += 1
            return self._next[table]
        pool = self._pool.get(table)
        if not pool:
            # grow the reservation as the batch asks for more: few round trips, few gaps
            size = self._size[table] = min(self._size.get(table, 500) * 4, ID_CHUNK)
            size = max(size, min(self._expect.pop(table, 0), ID_CHUNK))
            pool = self._pool[table] = self.reserve(table, size)
        return pool.pop()

    def expect(self, table: str, n: int) -> None:
        """About ``n`` ids of ``table`` will be needed: reserve that many at the first
        :meth:`next_id` (PostgreSQL), before the batch's rows start streaming, which would
        make each later reservation wait for the chunk in flight."""
        self._expect[table] = n

    def reserve(self, table: str, n: int) -> list[int]:
        """``n`` ids from the table's sequence (PostgreSQL), lowest popped first."""
        seq = self._seq.get(table)
        if seq is None:
            seq = self._seq[table] = str(
                self.conn.exec_driver_sql(
                    f"SELECT pg_get_serial_sequence('{table}', 'id')"
                ).scalar_one()
            )
        rows = self.conn.exec_driver_sql(
            f"SELECT nextval('{seq}') FROM generate_series(1, {int(n)})"  # noqa: S608
        ).scalars()
        return sorted((int(i) for i in rows), reverse=True)

    # -- rows -------------------------------------------------------------------------------
    def insert(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
        """Insert the rows (tuples in ``columns`` order); returns how many."""
        cols = ", ".join(columns)
        if self.pg:
            n = 0
            with self.raw().cursor() as cur, cur.copy(f"COPY {table} ({cols}) FROM STDIN") as cp:
                for row in rows:
                    cp.write_row(row)
                    n += 1
            return n
        batch = rows if isinstance(rows, list) else list(rows)
        if not batch:
            return 0
        # many rows per statement: half the CPU of one statement per row (fewer steps and
        # foreign-key checks); the rows, their order and their ids are the same
        raw = self.raw()
        per = max(1, min(_ROWS_PER_INSERT, raw.getlimit(_VARIABLE_LIMIT) // len(columns)))
        one = "(" + ", ".join("?" * len(columns)) + ")"
        full = len(batch) - len(batch) % per
        cur = raw.cursor()
        try:
            if full:
                sql = f"INSERT INTO {table} ({cols}) VALUES " + ", ".join([one] * per)  # noqa: S608
                cur.executemany(
                    sql,
                    [tuple(chain.from_iterable(batch[i : i + per])) for i in range(0, full, per)],
                )
            if full < len(batch):
                rest = batch[full:]
                sql = f"INSERT INTO {table} ({cols}) VALUES " + ", ".join([one] * len(rest))  # noqa: S608
                cur.execute(sql, tuple(chain.from_iterable(rest)))
        finally:
            cur.close()
        return len(batch)

    def update(
        self,
        table: str,
        columns: Sequence[tuple[str, str]],
        key: tuple[str, str],
        rows: Sequence[Sequence[Any]],
    ) -> None:
        """Set ``columns`` (name, PostgreSQL type) of the rows found by ``key`` (name, type):
        each row holds the new values in ``columns`` order, then the key; one row per key.

        PostgreSQL: one ``UPDATE ... FROM unnest(...)`` with an array per column, so the
        server plans and runs one statement for the whole batch, where an ``executemany``
        ran one per row (a batch's lots, balances and members: ~3.4 rows per purchase).
        SQLite: one prepared ``UPDATE`` per row, which is what SQLite does best."""
        if not rows:
            return
        names = [c for c, _ in columns]
        if not self.pg:
            sets = ", ".join(f"{c} = ?" for c in names)
            self.execute_many(f"UPDATE {table} SET {sets} WHERE {key[0]} = ?", rows)  # noqa: S608
            return
        every = [*columns, key]
        source = "unnest({}) AS v({})".format(
            ", ".join(f"%s::{t}[]" for _, t in every), ", ".join(c for c, _ in every)
        )
        sets = ", ".join(f"{c} = v.{c}" for c in names)
        sql = f"UPDATE {table} AS t SET {sets} FROM {source} WHERE t.{key[0]} = v.{key[0]}"  # noqa: S608
        with self.raw().cursor() as cur:
            cur.execute(sql, [list(col) for col in zip(*rows, strict=True)])

    def execute_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """A statement with ``%s``-style (PostgreSQL) or ``?`` (SQLite) placeholders, per row.

        Write it with ``?``; it is rewritten for psycopg.
        """
        if not rows:
            return
        cur = self.raw().cursor()
        try:
            cur.executemany(sql.replace("?", "%s") if self.pg else sql, rows)
        finally:
            cur.close()


class Streamer:
    """Inserts a batch's rows in chunks while the batch is still being booked.

    On PostgreSQL each chunk is sent by one background thread (one chunk at a time, in
    order, on the batch's own connection and so in its transaction): the server checks
    and indexes the rows on the other core while this process books the next receipts.
    psycopg serialises the connection, so a query the batch needs meanwhile waits for
    the chunk in flight. On SQLite the rows are inserted at once (its work would hold the
    same interpreter). :meth:`abort` must run before the transaction is rolled back.
    """

    def __init__(self, writer: BulkWriter) -> None:
        self.writer = writer
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="kopilka-copy") if writer.pg else None
        self.pending: Future[None] | None = None

    def send(self, chunk: Sequence[tuple[str, Sequence[str], list[tuple[Any, ...]]]]) -> None:
        """Insert the chunk's tables in the order given (parents before children)."""
        self.wait()
        chunk = [part for part in chunk if part[2]]
        if not chunk:
            return
        if self.pool is None:
            self._insert(chunk)
        else:
            self.pending = self.pool.submit(self._insert, chunk)

    def _insert(self, chunk: Sequence[tuple[str, Sequence[str], list[tuple[Any, ...]]]]) -> None:
        for table, columns, rows in chunk:
            self.writer.insert(table, columns, rows)

    def wait(self) -> None:
        """Until the chunk in flight is written; raises what writing it raised."""
        pending, self.pending = self.pending, None
        if pending is not None:
            pending.result()

    def close(self) -> None:
        """Wait for the last chunk and stop the thread."""
        try:
            self.wait()
        finally:
            if self.pool is not None:
                self.pool.shutdown(wait=True)

    def abort(self) -> None:
        """Stop after a failure: wait for the chunk in flight, ignoring how it ended."""
        with contextlib.suppress(Exception):
            self.close()
