"""PostgreSQL plans the idempotency lookup of a purchase as full-key index probes, even
on statistics taken while the table was small (autovacuum off, or lagging on a busy
server) and as the cached generic plan of a prepared statement."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.dialects import postgresql

from kopilka.store.repos import idempotency as repo


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    found = [plan]
    for child in plan.get("Plans", []):
        found += _nodes(child)
    return found


@pytest.mark.xdist_group("postgres_plans")
def test_two_key_lookup_probes_the_primary_key_on_stale_statistics(postgres_url: str) -> None:
    engine = create_engine(postgres_url)
    compiled = repo._GET_TWO.stmt.compile(dialect=postgresql.dialect())
    sql = re.sub(r"%\((\w+)\)s", lambda m: {"p": "$1", "k1": "$2", "k2": "$3"}[m[1]], str(compiled))
    program = 900_001
    try:
        with engine.begin() as conn:
            insert = text(
                "INSERT INTO idempotency_keys (program_id, key, operation, request_hash, "
                "succeeded, response, created_at) SELECT :p, 'k' || g, 'purchase', 'h', true, "
                "'{}', :t FROM generate_series(1, :n) g"
            )
            now = datetime(2026, 1, 1, tzinfo=UTC)
            conn.execute(insert, {"p": program, "t": now, "n": 1})
            conn.execute(text("ANALYZE idempotency_keys"))  # statistics of a tiny table
            conn.execute(text("DELETE FROM idempotency_keys WHERE program_id = :p"), {"p": program})
            conn.execute(insert, {"p": program, "t": now, "n": 4_000})
            conn.execute(text(f"PREPARE two_keys(bigint, varchar, varchar) AS {sql}"))
            conn.execute(text("SET LOCAL plan_cache_mode = force_generic_plan"))
            raw = conn.execute(
                text(f"EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE two_keys({program}, 'k7', 'missing')")
            ).scalar_one()
            conn.execute(text("DEALLOCATE two_keys"))
            conn.execute(text("DELETE FROM idempotency_keys WHERE program_id = :p"), {"p": program})
        plan = (raw if isinstance(raw, list) else json.loads(raw))[0]["Plan"]
        nodes = _nodes(plan)
        scans = [n for n in nodes if "Scan" in n["Node Type"] and "Relation Name" in n]
        assert scans, plan
        for scan in scans:
            assert scan["Relation Name"] == "idempotency_keys"
            assert "key" in scan.get("Index Cond", ""), scan
            assert scan.get("Rows Removed by Filter", 0) == 0, scan
        assert plan["Actual Rows"] == 1
    finally:
        engine.dispose()
