"""SQLite keeps the hot lookups prepared: binding new values does not make it prepare the
statement again.

SQLite re-prepares a statement at its next step whenever a bound value was used by the
query planner, as when a parameter stands where a partial index's condition has a
constant (``remaining > ?`` against ``WHERE ... remaining > 0``). The purchase's member
read, which carries three EXISTS and a scalar subquery, then cost ~6 times a plain one.
Python's ``sqlite3`` does not show the statement's counters, so this opens the database
with the SQLite library itself (ctypes) and reads ``SQLITE_STMTSTATUS_REPREPARE``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import bindparam, select
from sqlalchemy.dialects import sqlite
from sqlalchemy.sql import ClauseElement

from kopilka.store.repos import ledger, members
from kopilka.store.tables import journal_entries, lots

STMTSTATUS_REPREPARE = 5
ROW, DONE = 100, 101
AT = "2026-01-01 00:00:00.000000"


def _library() -> Any:
    name = ctypes.util.find_library("sqlite3")
    if name is None:
        pytest.skip("the SQLite library is not loadable with ctypes here")
    lib = ctypes.CDLL(name)
    lib.sqlite3_open_v2.argtypes = [
        ctypes.c_char_p,
        ctypes.POINTER(ctypes.c_void_p),
        ctypes.c_int,
        ctypes.c_char_p,
    ]
    lib.sqlite3_prepare_v2.argtypes = [
        ctypes.c_void_p,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.POINTER(ctypes.c_void_p),
        ctypes.c_void_p,
    ]
    lib.sqlite3_bind_int64.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int64]
    lib.sqlite3_bind_text.argtypes = [
        ctypes.c_void_p,
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_void_p,
    ]
    for fn in ("sqlite3_step", "sqlite3_reset", "sqlite3_finalize", "sqlite3_close"):
        getattr(lib, fn).argtypes = [ctypes.c_void_p]
    lib.sqlite3_stmt_status.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
    lib.sqlite3_errmsg.argtypes = [ctypes.c_void_p]
    lib.sqlite3_errmsg.restype = ctypes.c_char_p
    return lib


@contextmanager
def _database(path: str) -> Iterator[tuple[Any, ctypes.c_void_p]]:
    lib = _library()
    db = ctypes.c_void_p()
    assert lib.sqlite3_open_v2(path.encode(), ctypes.byref(db), 0x01, None) == 0  # read-only
    try:
        yield lib, db
    finally:
        lib.sqlite3_close(db)


def reprepares(path: str, stmt: ClauseElement, runs: list[dict[str, Any]]) -> int:
    """How many times SQLite prepared ``stmt`` again over ``runs`` (each its bound values
    by name; the statement's own literals are bound as SQLAlchemy binds them)."""
    compiled: Any = stmt.compile(dialect=sqlite.dialect())
    names = list(compiled.positiontup)
    own = {n: v for n, v in compiled.params.items() if v is not None}
    with _database(path) as (lib, db):
        handle = ctypes.c_void_p()
        sql = compiled.string.encode()
        if lib.sqlite3_prepare_v2(db, sql, len(sql), ctypes.byref(handle), None) != 0:
            raise AssertionError(lib.sqlite3_errmsg(db).decode())
        try:
            for run in runs:
                values = {**own, **run}
                for i, name in enumerate(names, start=1):
                    value = values[name]
                    if isinstance(value, int):
                        lib.sqlite3_bind_int64(handle, i, value)
                    else:
                        text = str(value).encode()
                        lib.sqlite3_bind_text(handle, i, text, len(text), ctypes.c_void_p(-1))
                while (rc := lib.sqlite3_step(handle)) == ROW:
                    pass
                assert rc == DONE, lib.sqlite3_errmsg(db).decode()
                lib.sqlite3_reset(handle)
            return int(lib.sqlite3_stmt_status(handle, STMTSTATUS_REPREPARE, 0))
        finally:
            lib.sqlite3_finalize(handle)


def _runs(**fixed: Any) -> list[dict[str, Any]]:
    return [{"m": m, **fixed} for m in (1, 2, 3, 4)]


def test_the_purchase_reads_of_lots_stay_prepared(sqlite_url):
    path = sqlite_url.removeprefix("sqlite:///")
    at = {"p": 1, "at": AT, "t": AT, "now": AT}
    assert reprepares(path, members._FOR_PURCHASE.stmt, _runs(**at)) == 0
    assert reprepares(path, ledger._SPENDABLE.stmt, _runs(**at)) == 0
    assert reprepares(path, ledger._DUE_KINDS, _runs(**at)) == 0


def test_the_reversal_lookup_stays_prepared(sqlite_url):
    # ix_journal_reverses is partial (IS NOT NULL): an equality implies it for any value
    path = sqlite_url.removeprefix("sqlite:///")
    c = journal_entries.c
    lookup = select(c.id).where(c.reverses_entry_id == bindparam("m"))
    assert reprepares(path, lookup, _runs()) == 0


def test_a_bound_value_in_a_partial_index_condition_is_seen_to_reprepare(sqlite_url):
    """The probe itself: the form the statements used before is counted."""
    path = sqlite_url.removeprefix("sqlite:///")
    bound = select(lots.c.id).where(
        lots.c.member_id == bindparam("m"),
        lots.c.expired_at.is_(None),
        lots.c.remaining > 0,
        lots.c.expires_at <= bindparam("t"),
    )
    assert reprepares(path, bound, _runs(t=AT)) == 4
