"""PostgreSQL plans the hot lookups as index probes even on statistics taken while the
tables were small (autovacuum off, or lagging on a busy server), as the cached generic
plan of a prepared statement: plans that walked a whole index grew slower with every
purchase."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql import ClauseElement

from kopilka.store.repos import idempotency, ledger

NOW = datetime(2026, 1, 1, tzinfo=UTC)
PROGRAM = 900_001


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    found = [plan]
    for child in plan.get("Plans", []):
        found += _nodes(child)
    return found


def generic_plan(
    conn: Connection, stmt: ClauseElement, params: dict[str, tuple[str, str]]
) -> dict[str, Any]:
    """EXPLAIN ANALYZE of ``stmt`` run as a prepared statement's generic plan; ``params``
    maps each bind name to its SQL type and literal value."""
    sql = str(stmt.compile(dialect=postgresql.dialect()))
    names = list(params)
    sql = re.sub(r"%\((\w+)\)s(::\w+)?", lambda m: f"${names.index(m[1]) + 1}", sql)
    types = ", ".join(t for t, _ in params.values())
    conn.execute(text(f"PREPARE probe({types}) AS {sql}"))
    conn.execute(text("SET LOCAL plan_cache_mode = force_generic_plan"))
    values = ", ".join(v for _, v in params.values())
    raw = conn.execute(text(f"EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE probe({values})")).scalar()
    conn.execute(text("DEALLOCATE probe"))
    return dict((raw if isinstance(raw, list) else json.loads(raw))[0]["Plan"])


def assert_probes(plan: dict[str, Any], table: str, column: str) -> None:
    scans = [n for n in _nodes(plan) if "Relation Name" in n]
    assert scans, plan
    for scan in scans:
        assert scan["Relation Name"] == table
        # an index scan searches by the column, a bitmap scan rechecks what its index found
        assert column in scan.get("Index Cond", scan.get("Recheck Cond", "")), scan
        assert scan.get("Rows Removed by Filter", 0) == 0, scan


@pytest.fixture
def conn(postgres_url: str) -> Iterator[Connection]:
    """A transaction rolled back at the end (ANALYZE included)."""
    engine = create_engine(postgres_url)
    with engine.connect() as c:
        tx = c.begin()
        try:
            yield c
        finally:
            tx.rollback()
    engine.dispose()


def test_purchase_idempotency_lookup(conn: Connection) -> None:
    insert = text(
        "INSERT INTO idempotency_keys (program_id, key, operation, request_hash, succeeded,"
        " response, created_at) SELECT :p, 'k' || g, 'purchase', 'h', true, '{}', :t"
        " FROM generate_series(1, :n) g"
    )
    conn.execute(insert, {"p": PROGRAM, "t": NOW, "n": 1})
    conn.execute(text("ANALYZE idempotency_keys"))  # the statistics of a tiny table
    conn.execute(text("DELETE FROM idempotency_keys WHERE program_id = :p"), {"p": PROGRAM})
    conn.execute(insert, {"p": PROGRAM, "t": NOW, "n": 4_000})
    plan = generic_plan(
        conn,
        idempotency._GET_TWO.stmt,
        {"p": ("bigint", str(PROGRAM)), "k1": ("varchar", "'k7'"), "k2": ("varchar", "'no'")},
    )
    assert_probes(plan, "idempotency_keys", "key")
    assert plan["Actual Rows"] == 1


def test_lot_of_an_entry(conn: Connection) -> None:
    def add(first: int, n: int) -> None:
        conn.execute(
            text(
                "INSERT INTO journal_entries (id, program_id, member_id, kind, points,"
                " occurred_at) SELECT g, :p, 1, 'earn', 5, :t FROM generate_series(:a, :b) g"
            ),
            {"p": PROGRAM, "t": NOW, "a": first, "b": first + n - 1},
        )
        conn.execute(
            text(
                "INSERT INTO lots (program_id, member_id, entry_id, source, amount, remaining,"
                " earned_at, available_at) SELECT :p, 1, g, 'earn', 5, 5, :t, :t"
                " FROM generate_series(:a, :b) g"
            ),
            {"p": PROGRAM, "t": NOW, "a": first, "b": first + n - 1},
        )

    base = 800_000_000
    add(base, 4_000)
    # no statistics on the column yet (a table never analyzed): the planner assumes a
    # handful of lots per entry
    conn.execute(text("DELETE FROM pg_statistic WHERE starelid = 'lots'::regclass"))
    plan = generic_plan(conn, ledger.LOTS_OF_ENTRY, {"e": ("bigint", str(base + 3_999))})
    assert_probes(plan, "lots", "entry_id")
    assert plan["Actual Rows"] == 1
