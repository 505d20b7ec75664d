"""Engines for SQLite (WAL, one writer) and PostgreSQL (psycopg 3)."""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import orjson
from sqlalchemy import JSON, Connection, Engine, create_engine, event
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.pool import NullPool

log = logging.getLogger("kopilka.store")

READ_ONLY = "kopilka_read_only"


_ORJSON_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME


def dump_json(value: Any) -> str:
    """JSON columns' text: orjson (several times faster than ``json.dumps``, compact),
    falling back to ``json.dumps`` for what orjson refuses (integers beyond 64 bits...),
    so that anything ``json.dumps`` stored is still stored."""
    try:
        return orjson.dumps(value, option=_ORJSON_OPTIONS).decode()
    except TypeError:
        return json.dumps(value)


# a pooled PostgreSQL connection idle longer than this is pinged before it is lent out
PING_AFTER_IDLE_S = 1.0
# how long a new PostgreSQL connection may take (libpq's floor is 2 s): a server that
# does not answer (a host down, packets dropped) makes a request 503 after this instead
# of holding its thread for minutes (psycopg's default is 130 s), while every other
# request queues behind the threads stuck in connect
CONNECT_TIMEOUT_S = 2
# how long a request waits for a pooled connection before it is 503 (SQLAlchemy's
# default is 30 s)
POOL_TIMEOUT_S = 5.0
# SQLSTATE classes and codes that say the server is not there to answer (connection
# exceptions; admin or crash shutdown; cannot connect now, e.g. starting up)
_UNAVAILABLE_STATES = ("08", "57P01", "57P02", "57P03")
_NO_SQLSTATE = object()


def is_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` means the database cannot be reached right now (a refused or timed
    out connection, a server shutting down or starting up, a connection lost under the
    statement, no pooled connection in time): a failure to retry, not a bug.

    A connection refused at connect time is not a ``connection_invalidated`` error (no
    connection existed to invalidate), so the driver's error is read as well: psycopg
    names no SQLSTATE for a connection that failed on the client side."""
    if isinstance(exc, PoolTimeout):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    state = getattr(exc.orig, "sqlstate", _NO_SQLSTATE)
    if state is _NO_SQLSTATE:
        return False  # SQLite: a locked or missing file is not an outage to wait out
    if state is None:  # psycopg, failed on the client side: refused, timed out, closed
        return any(c.__name__ == "OperationalError" for c in type(exc.orig).__mro__)
    return isinstance(state, str) and state.startswith(_UNAVAILABLE_STATES)


def make_engine(
    url: str,
    *,
    pool_size: int = 10,
    sqlite_synchronous: str = "FULL",
    sqlite_autocheckpoint: bool = True,
    ping_after_idle_s: float = PING_AFTER_IDLE_S,
) -> Engine:
    """Build the engine for ``url``; SQLite files get WAL mode and immediate write locks.

    ``sqlite_autocheckpoint=False``: no commit checkpoints the write-ahead log; the
    caller runs a :class:`kopilka.store.checkpoint.WalCheckpointer` instead."""
    if url.startswith("sqlite"):
        return _sqlite_engine(url, sqlite_synchronous, sqlite_autocheckpoint)
    engine = create_engine(
        url,
        json_serializer=dump_json,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_timeout=POOL_TIMEOUT_S,
        isolation_level="READ COMMITTED",
        # a database error's text does not quote the statement's values (cards, phones,
        # e-mails): it is logged with the traceback of a 500
        hide_parameters=True,
        connect_args={"connect_timeout": CONNECT_TIMEOUT_S},
    )
    _ping_when_idle(engine, ping_after_idle_s)
    return engine


def _ping_when_idle(engine: Engine, idle_s: float) -> None:
    """Pessimistic disconnect handling without a round trip per unit of work.

    ``pool_pre_ping`` would ping on every checkout: one more round trip for each request.
    A connection that was just returned is as good as the statement it last ran, so only
    one that sat idle in the pool for ``idle_s`` or more (where restarts, failovers and
    idle timeouts strike) is pinged; a failed ping makes the pool replace it. A server
    that goes away under load fails the statements in flight instead, and SQLAlchemy
    then recycles the whole pool (clients retry with their Idempotency-Key)."""

    @event.listens_for(engine, "checkin")
    def _returned(_dbapi_conn: Any, record: Any) -> None:
        if record is not None:
            record.info["kopilka_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _lent(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("kopilka_idle_since")
        if since is None or time.monotonic() - since < idle_s:
            return  # brand new, or back from work a moment ago
        try:
            cursor = dbapi_conn.cursor()
            try:
                cursor.execute("SELECT 1")
            finally:
                cursor.close()
            dbapi_conn.rollback()  # leave no transaction open behind the ping
        except engine.dialect.loaded_dbapi.Error as e:
            raise DisconnectionError(f"pooled connection failed its ping: {e}") from e


# the SQL name of a lower() that folds every alphabet on SQLite (PostgreSQL's lower() does)
UNICODE_LOWER = "kp_lower"


def _unicode_lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def _sqlite_engine(url: str, synchronous: str, autocheckpoint: bool) -> Engine:
    path = url.split("///", 1)[1] if "///" in url else ""
    memory = path in ("", ":memory:")
    if not memory:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    kwargs: dict[str, Any] = {
        "connect_args": {"check_same_thread": False, "timeout": 30},
        "json_serializer": dump_json,
        "hide_parameters": True,  # as for PostgreSQL: no values in an error's text
    }
    if memory:
        kwargs["poolclass"] = NullPool
    else:
        # the connection given back last is lent first: its page cache is still valid
        # unless another connection wrote since (tests/integration/test_sqlite_pool.py)
        kwargs["pool_use_lifo"] = True
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
        if not autocheckpoint:
            cur.execute("PRAGMA wal_autocheckpoint=0")
        cur.close()
        # SQLite's lower() folds ASCII letters only; searches typed in Cyrillic call this
        dbapi_conn.create_function(UNICODE_LOWER, 1, _unicode_lower, deterministic=True)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # one writer: a write transaction takes the lock up front so that it never fails
        # half-way on a lock upgrade; read transactions stay deferred
        # straight on the driver: this runs for every unit of work
        begin = "BEGIN" if conn.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE"
        conn.connection.dbapi_connection.execute(begin)  # type: ignore[union-attr]

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
        # work for the next holder to do before it gives the lock back, once: the log's
        # checkpointer asks for a checkpoint between two writers (kopilka.store.checkpoint)
        self.before_release: Callable[[], None] | None = None

    @contextmanager
    def hold(self) -> Iterator[None]:
        """The lock, waited for as long as it takes."""
        held = self.try_hold(None)
        assert held is not None  # no timeout
        with held:
            yield

    def try_hold(self, timeout_s: float | None = 0.0) -> AbstractContextManager[None] | None:
        """The lock, if this thread can have it within ``timeout_s`` (by default this
        instant, without waiting; None: however long it takes); else None.

        The lock is taken here and given back when the returned context is left, in
        whichever thread enters it: a thread may wait for it on behalf of another."""
        if getattr(self._local, "depth", 0):
            return contextmanager(self._again)()
        wait = -1 if timeout_s is None else timeout_s
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        if not self._threads.acquire(timeout=wait):
            return None
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except BaseException:
            self._threads.release()
            raise
        try:
            if deadline is None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            else:
                while True:  # flock has no timeout: poll it until the deadline
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        if time.monotonic() >= deadline:
                            os.close(fd)
                            self._threads.release()
                            return None
                        time.sleep(0.001)
        except BaseException:
            os.close(fd)
            self._threads.release()
            raise
        return contextmanager(self._taken)(fd)

    def _again(self) -> Iterator[None]:
        self._local.depth += 1
        try:
            yield
        finally:
            self._local.depth -= 1

    def _taken(self, fd: int) -> Iterator[None]:
        self._local.depth = 1
        try:
            yield
        finally:
            try:
                self._release_work()
            finally:
                self._local.depth = 0
                os.close(fd)
                self._threads.release()

    def _release_work(self) -> None:
        work, self.before_release = self.before_release, None
        if work is None:
            return
        try:
            work()
        except Exception as e:  # the holder's own write has succeeded: never fail it
            log.warning("work before giving the writer lock back failed: %s", type(e).__name__)


_WRITER_LOCKS: dict[str, SqliteWriterLock] = {}
_WRITER_LOCKS_GUARD = threading.Lock()


def sqlite_file(engine: Engine) -> str | None:
    """The database file of a SQLite file engine; None for PostgreSQL or in-memory SQLite."""
    if engine.dialect.name != "sqlite":
        return None
    database = engine.url.database
    if not database or database == ":memory:":
        return None
    return database


def writer_lock(engine: Engine) -> SqliteWriterLock | None:
    """The writer queue of a SQLite file engine; None for PostgreSQL or in-memory SQLite."""
    database = sqlite_file(engine)
    if database is None:
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


# the largest row count sent as one multi-row INSERT (one cached SQL text per count)
MULTI_ROW_MAX = 32


class Unnest(NamedTuple):
    """An INSERT of any number of rows as one array per column (PostgreSQL)."""

    sql: str  # INSERT INTO t (a, b) SELECT * FROM unnest(%s::T[], %s::U[])
    keys: list[str]
    processors: list[Any]
    table: str  # its parts, quoted, for statements built around them (FastFamily)
    columns: list[str]
    arrays: list[str]


class FastStatement:
    """A statement of the hot path, compiled once per dialect and run on the DBAPI cursor.

    ``Connection.execute`` costs tens of microseconds of Python per call (cache-key
    generation, parameter construction, result set-up), about a third of a purchase's
    CPU. For plain INSERT/UPDATE statements whose parameters are all bound by name and
    whose only result is a ``RETURNING`` of ints, this runs the compiled SQL with the
    same bind processors SQLAlchemy applies (UTC datetimes, JSON), inside the
    connection's transaction. DBAPI errors are raised as SQLAlchemy's own exceptions.
    Kept inside the repositories; tests/integration/test_fast_statements.py compares the
    rows it writes with the ones ``Connection.execute`` writes, on both databases.
    """

    __slots__ = ("_literals", "_multi", "_plans", "_results", "_unnest", "keys", "stmt")

    def __init__(self, stmt: Any, keys: tuple[str, ...] | None = None) -> None:
        """``keys``: for an INSERT without ``values()``, the columns it is given."""
        self.stmt = stmt
        self.keys = keys
        # (SQL, positional, parameter names, their bind processors) by dialect name; set
        # last, so that a thread that finds a plan finds the rest of it too
        self._plans: dict[str, tuple[str, bool, list[str], list[Any]]] = {}
        # a query's column names and result processors (dates, UTC datetimes, JSON on SQLite)
        self._results: dict[str, tuple[list[str], list[Any]]] = {}
        # values the statement binds itself (literals in comparisons, LIMIT), by dialect:
        # each dialect names and renders them its own way
        self._literals: dict[str, dict[str, Any]] = {}
        # PostgreSQL, tables with JSON columns: the multi-row form of an INSERT by row count
        # (psycopg's executemany goes through pipeline mode, which costs more than the rows
        # for 2-10 of them)
        self._multi: dict[int, tuple[str, list[str], list[Any]]] = {}
        # PostgreSQL: the INSERT of any number of rows as one array per column (``False``:
        # a column type arrays can't carry, such as JSON)
        self._unnest: Unnest | bool | None = None

    def _plan(self, conn: Connection) -> tuple[str, bool, list[str], list[Any]]:
        dialect = conn.dialect
        plan = self._plans.get(dialect.name)
        if plan is None:
            kw: dict[str, Any] = {}
            if self.keys is not None:
                kw["column_keys"] = list(self.keys)
                # no implicit RETURNING of the primary key unless asked for
                kw["for_executemany"] = not getattr(self.stmt, "_returning", ())
            compiled: Any = self.stmt.compile(dialect=dialect, **kw)
            if compiled.positional:
                names = list(compiled.positiontup)
            else:
                names = list(dict.fromkeys(compiled.bind_names.values()))
            processors = compiled._bind_processors
            plan = (compiled.string, compiled.positional, names, [processors.get(n) for n in names])
            self._literals[dialect.name] = {
                name: bind.effective_value
                for bind, name in compiled.bind_names.items()
                if not bind.required
            }
            self._results[dialect.name] = (
                [c.keyname for c in compiled._result_columns],
                [c.type._cached_result_processor(dialect, None) for c in compiled._result_columns],
            )
            self._plans[dialect.name] = plan
        return plan

    @staticmethod
    def _args(
        plan: tuple[str, bool, list[str], list[Any]],
        row: dict[str, Any],
        literals: dict[str, Any] | None = None,
    ) -> Any:
        _sql, positional, names, processors = plan
        if literals:
            row = {**literals, **row}
        values = [
            row[n] if p is None else p(row[n]) for n, p in zip(names, processors, strict=True)
        ]
        return tuple(values) if positional else dict(zip(names, values, strict=True))

    def _multi_row(self, plan: tuple[str, bool, list[str], list[Any]], n: int) -> Any:
        """``INSERT ... VALUES (...), (...)`` for ``n`` rows, positional (None: no such form)."""
        found = self._multi.get(n)
        if found is None:
            head, _, values = plan[0].partition(" VALUES ")
            if not (values.startswith("(") and values.endswith(")")) or " RETURNING " in values:
                return None
            order = re.findall(r"%\((\w+)\)s", values)
            processors = dict(zip(plan[2], plan[3], strict=True))
            # without SQLAlchemy's casts (the columns type the values of an INSERT): psycopg
            # re-parses every query text longer than 4 kB on each call
            one = re.sub(r"%\((\w+)\)s(::[A-Z][A-Z ]*[A-Z])?", "%s", values)
            sql = head + " VALUES " + ", ".join([one] * n)
            found = (sql, order, [processors[k] for k in order])
            self._multi[n] = found
        return found

    def _unnest_plan(self, conn: Connection) -> Unnest | None:
        """PostgreSQL: ``INSERT INTO t (a, b) SELECT * FROM unnest(%s::T[], %s::U[])``.

        One SQL text for every row count, with one parameter per column: psycopg converts
        it once and prepares it, where a multi-row ``VALUES`` is re-parsed on every call
        past 50 parameters and planned again for each row count. ``None`` when a column's
        type has no array form here (JSON) or the statement returns rows."""
        found = self._unnest
        if found is None:
            found = False
            table = getattr(self.stmt, "table", None)
            keys = list(self.keys or ())
            if (
                self.stmt.is_insert
                and not getattr(self.stmt, "_returning", ())
                and table is not None
                and keys
            ):
                types = [table.c[k].type for k in keys]
                if not any(isinstance(t.dialect_impl(conn.dialect), JSON) for t in types):
                    plan = self._plan(conn)
                    processors = dict(zip(plan[2], plan[3], strict=True))
                    # without lengths: an explicit cast to VARCHAR(n) or NUMERIC(p, s) would
                    # cut or round a value silently, where the INSERT's own assignment to
                    # the column refuses a value too long, as a multi-row VALUES does
                    casts = [
                        re.sub(r"\(\d+(, *\d+)?\)", "", t.compile(dialect=conn.dialect))
                        for t in types
                    ]
                    quote = conn.dialect.identifier_preparer
                    name = quote.format_table(table)
                    columns = [quote.quote(k) for k in keys]
                    arrays = [f"%s::{c}[]" for c in casts]
                    sql = (
                        f"INSERT INTO {name} ({', '.join(columns)}) "  # noqa: S608 - ours
                        f"SELECT * FROM unnest({', '.join(arrays)})"
                    )
                    found = Unnest(sql, keys, [processors[k] for k in keys], name, columns, arrays)
            self._unnest = found
        return found if isinstance(found, Unnest) else None

    def _run(self, conn: Connection, rows: list[dict[str, Any]], many: bool) -> Any:
        plan = self._plan(conn)
        literals = self._literals[conn.dialect.name]
        cursor = conn.connection.cursor()
        multi = unnest = None
        if many and len(rows) > 1 and self.keys is not None:
            if conn.dialect.name == "postgresql":
                unnest = self._unnest_plan(conn)
            if unnest is None and len(rows) <= MULTI_ROW_MAX and not plan[1]:
                multi = self._multi_row(plan, len(rows))
        try:
            if unnest is not None:
                sql, keys, processors = unnest.sql, unnest.keys, unnest.processors
                cursor.execute(
                    sql,
                    [
                        [r[k] for r in rows] if p is None else [p(r[k]) for r in rows]
                        for k, p in zip(keys, processors, strict=True)
                    ],
                )
            elif multi is not None:
                sql, order, processors = multi
                cursor.execute(
                    sql,
                    [
                        r[k] if p is None else p(r[k])
                        for r in rows
                        for k, p in zip(order, processors, strict=True)
                    ],
                )
            elif many and len(rows) > 1:
                cursor.executemany(plan[0], [self._args(plan, r, literals) for r in rows])
            else:
                cursor.execute(plan[0], self._args(plan, rows[0], literals))
        except conn.dialect.loaded_dbapi.Error as e:
            cursor.close()
            raise DBAPIError.instance(
                plan[0], rows, e, conn.dialect.loaded_dbapi.Error, dialect=conn.dialect
            ) from e
        return cursor

    def execute(self, conn: Connection, row: dict[str, Any]) -> None:
        self._run(conn, [row], many=False).close()

    def executemany(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        if rows:
            self._run(conn, rows, many=True).close()

    def returning_int(self, conn: Connection, row: dict[str, Any]) -> int:
        """Execute and return the first column of the single row the statement returns."""
        cursor = self._run(conn, [row], many=False)
        try:
            found = cursor.fetchone()
        finally:
            cursor.close()
        return int(found[0])

    def rows(self, conn: Connection, params: dict[str, Any]) -> list[Any]:
        """Execute a query whose columns need no result processing (integers, text) and
        return its rows as the driver gives them."""
        cursor = self._run(conn, [params], many=False)
        try:
            return list(cursor.fetchall())
        finally:
            cursor.close()

    def tuples(self, conn: Connection, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        """Execute a query and return its rows as tuples in column order, each value
        passed through the result processor SQLAlchemy would apply."""
        cursor = self._run(conn, [params], many=False)
        try:
            found = cursor.fetchall()
        finally:
            cursor.close()
        processors = self._results[conn.dialect.name][1]
        return [
            tuple(v if p is None else p(v) for p, v in zip(processors, row, strict=True))
            for row in found
        ]

    def mappings(self, conn: Connection, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Execute a query and return its rows as dicts by column name, each value passed
        through the result processor SQLAlchemy would apply."""
        found = self.tuples(conn, params)
        names = self._results[conn.dialect.name][0]
        return [dict(zip(names, row, strict=True)) for row in found]

    def returned_count(self, conn: Connection, row: dict[str, Any]) -> int:
        """Execute and count the rows the statement's ``RETURNING`` gives."""
        cursor = self._run(conn, [row], many=False)
        try:
            return len(cursor.fetchall())
        finally:
            cursor.close()


class FastFamily:
    """A parent row and its children's rows in one statement on PostgreSQL.

    ``WITH parent AS (INSERT ... RETURNING id), c0 AS (INSERT INTO child SELECT parent.id,
    u.* FROM parent, unnest(...) AS u), ... SELECT id FROM parent``: one round trip (and one
    statement for the server to run) where the parent and N child tables take 1 + N.
    Data-modifying CTEs always run to completion, and the children's foreign keys are
    checked at the end of the statement, when the parent row is there. Elsewhere (SQLite)
    the statements run one after the other. ``parent`` is an INSERT ... RETURNING its id;
    each child an INSERT given its keys, ``link`` (the parent's id) among them. ``attached``
    statements (an UPDATE of another table, say) need nothing of the parent: they run in
    the same statement on PostgreSQL, after the family elsewhere, each with its own row.
    """

    __slots__ = ("_pg", "_reads", "attached", "children", "link", "parent")

    def __init__(
        self,
        parent: FastStatement,
        link: str,
        children: Sequence[FastStatement],
        attached: Sequence[FastStatement] = (),
    ) -> None:
        self.parent = parent
        self.link = link
        self.children = tuple(children)
        self.attached = tuple(attached)
        self._pg: _FamilyPlan | None = None
        # :meth:`insert_and_read`'s statements by the query read with the family
        self._reads: dict[str, tuple[str, list[str]]] = {}

    def insert(
        self,
        conn: Connection,
        row: dict[str, Any],
        families: Sequence[list[dict[str, Any]]],
        attached: Sequence[dict[str, Any]] = (),
    ) -> int:
        """Insert ``row`` and each child table's rows (without ``link``), and run each
        attached statement with its row; the parent's id."""
        if conn.dialect.name != "postgresql":
            pid = self.parent.returning_int(conn, row)
            for child, rows in zip(self.children, families, strict=True):
                for r in rows:
                    r[self.link] = pid
                child.executemany(conn, rows)
            for stmt, values in zip(self.attached, attached, strict=True):
                stmt.execute(conn, values)
            return pid
        sql, params = self._pg_params(conn, row, families, attached)
        found = self._fetch(conn, sql, params)
        return int(found[0])

    def insert_and_read(
        self,
        conn: Connection,
        row: dict[str, Any],
        families: Sequence[list[dict[str, Any]]],
        attached: Sequence[dict[str, Any]],
        query: str,
        values: dict[str, Any],
    ) -> tuple[Any, ...]:
        """PostgreSQL only: :meth:`insert`, and in the same statement the one row of
        ``query`` (a SELECT in PostgreSQL's SQL, parameters ``%(name)s`` taken from
        ``values``, passed as they are); the parent's id followed by that row's columns,
        as the driver gives them. The query sees the database as it was before the
        statement (all of a statement's parts share one snapshot): none of the rows this
        family writes."""
        sql, params = self._pg_params(conn, row, families, attached)
        read = self._reads.get(query)
        if read is None:
            # our own SQL; the query's parameters after the family's
            head = sql.removesuffix(" SELECT id FROM parent")
            text = re.sub(r"%\((\w+)\)s", "%s", query)
            read = (
                f"{head} SELECT parent.id, q.* FROM parent, ({text}) AS q",  # noqa: S608 - ours
                re.findall(r"%\((\w+)\)s", query),
            )
            self._reads[query] = read
        return tuple(self._fetch(conn, read[0], params + [values[k] for k in read[1]]))

    def _pg_params(
        self,
        conn: Connection,
        row: dict[str, Any],
        families: Sequence[list[dict[str, Any]]],
        attached: Sequence[dict[str, Any]],
    ) -> tuple[str, list[Any]]:
        """The family's one statement on PostgreSQL and its parameters."""
        sql, order, processors, kids, extra = self._pg or self._build(conn)
        params = [
            row[k] if p is None else p(row[k]) for k, p in zip(order, processors, strict=True)
        ]
        for (keys, procs), rows in zip(kids, families, strict=True):
            params += [
                [r[k] for r in rows] if p is None else [p(r[k]) for r in rows]
                for k, p in zip(keys, procs, strict=True)
            ]
        for (keys, procs), values in zip(extra, attached, strict=True):
            params += [
                values[k] if p is None else p(values[k]) for k, p in zip(keys, procs, strict=True)
            ]
        return sql, params

    @staticmethod
    def _fetch(conn: Connection, sql: str, params: list[Any]) -> Any:
        cursor = conn.connection.cursor()
        try:
            cursor.execute(sql, params)
            found = cursor.fetchone()
        except conn.dialect.loaded_dbapi.Error as e:
            raise DBAPIError.instance(
                sql, params, e, conn.dialect.loaded_dbapi.Error, dialect=conn.dialect
            ) from e
        finally:
            cursor.close()
        assert found is not None  # the parent's INSERT returns its row
        return found

    def _build(self, conn: Connection) -> _FamilyPlan:
        order, processors, positional = _positional(self.parent, conn)
        ctes = [f"parent AS ({positional})"]
        kids: list[tuple[list[str], list[Any]]] = []
        for n, child in enumerate(self.children):
            plan = child._unnest_plan(conn)
            if plan is None:
                raise ValueError(f"{child.stmt} has no unnest form")
            at = plan.keys.index(self.link)
            keep = [i for i in range(len(plan.keys)) if i != at]
            listed = ", ".join([plan.columns[at], *(plan.columns[i] for i in keep)])
            arrays = ", ".join(plan.arrays[i] for i in keep)
            # our own table, column and type names, as FastStatement renders them
            ctes.append(
                f"c{n} AS (INSERT INTO {plan.table} ({listed}) "  # noqa: S608
                f"SELECT parent.id, u.* FROM parent, unnest({arrays}) AS u)"
            )
            kids.append(([plan.keys[i] for i in keep], [plan.processors[i] for i in keep]))
        extra: list[tuple[list[str], list[Any]]] = []
        for n, stmt in enumerate(self.attached):
            keys, procs, text = _positional(stmt, conn)
            ctes.append(f"a{n} AS ({text})")
            extra.append((keys, procs))
        built = (
            "WITH " + ", ".join(ctes) + " SELECT id FROM parent",  # noqa: S608 - ours
            order,
            processors,
            kids,
            extra,
        )
        self._pg = built
        return built


# a family's one statement on PostgreSQL: its SQL, the parent's keys and bind processors,
# each child's (keys, processors) and each attached statement's (keys, processors)
_FamilyPlan = tuple[
    str,
    list[str],
    list[Any],
    list[tuple[list[str], list[Any]]],
    list[tuple[list[str], list[Any]]],
]


def _positional(stmt: FastStatement, conn: Connection) -> tuple[list[str], list[Any], str]:
    """A statement's keys in the order its ``%(name)s`` placeholders appear, their bind
    processors, and its SQL with ``%s`` placeholders, to be spliced into a larger one."""
    text, _positional_plan, names, procs = stmt._plan(conn)
    by_name = dict(zip(names, procs, strict=True))
    order = re.findall(r"%\((\w+)\)s", text)
    literals = stmt._literals.get(conn.dialect.name) or {}
    if any(k in literals for k in order):
        raise ValueError(f"{stmt.stmt} binds values of its own; not spliced into a family")
    return order, [by_name[k] for k in order], re.sub(r"%\((\w+)\)s", "%s", text)
