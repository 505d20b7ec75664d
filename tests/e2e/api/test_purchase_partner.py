"""A purchase's partner and payment method: they drive the rules, are stored with the
purchase and shown with it, and give the same points whether the purchase comes over the
API or from an import file."""

from __future__ import annotations

import csv
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from kopilka.app import Kopilka
from kopilka.domain.clock import FrozenClock
from kopilka.domain.program import Program
from kopilka.services import rules as rules_svc
from kopilka.services.imports import import_purchases
from tests.e2e.api.conftest import idem

RULES = """\
schema_version: 1
currency: RUB
rules:
  - id: base
    kind: rate
    rate: {points: 1, per: "100"}
  - id: partner-ozon
    kind: bonus
    points: 50
    when: {partners: [ozon]}
  - id: paid-by-sbp
    kind: bonus
    points: 7
    when: {payment_methods: [sbp]}
redemption:
  point_value: "1.00"
"""

# (partner, payment method, points): 250.00 earn 2 by the base rate, plus the bonuses
CASES = [("ozon", "sbp", 59), (None, "card", 2), ("ozon", "card", 52), (None, "sbp", 9)]


@pytest.fixture
def when(kopilka: Kopilka, program: Program, clock: FrozenClock) -> Any:
    """Rules published now; the purchases happen an hour later and the test runs a
    day later (an import books history)."""
    rules_svc.publish(kopilka.services, program, RULES)
    at = clock.now() + timedelta(hours=1)
    clock.set(clock.now() + timedelta(days=1))
    return at


def _rows(member_id: int, at: Any, prefix: str) -> list[dict[str, Any]]:
    return [
        {
            "receipt_id": f"{prefix}-{i}",
            "member_id": str(member_id),
            "occurred_at": at.isoformat(),
            "partner": partner or "",
            "payment_method": method,
            "line_id": "1",
            "sku": "SKU-1",
            "amount": "250.00",
        }
        for i, (partner, method, _) in enumerate(CASES)
    ]


def _csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.DictWriter(f, fieldnames=list(rows[0]))
        out.writeheader()
        out.writerows(rows)
    return path


def _parquet(path: Path, rows: list[dict[str, Any]]) -> Path:
    table = pa.table({c: pa.array([r[c] or None for r in rows], pa.string()) for c in rows[0]})
    pq.write_table(table, path)
    return path


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_rule_on_partner_or_payment_method_gives_the_same_points_by_api_and_import(
    client: TestClient,
    kopilka: Kopilka,
    program: Program,
    admin: dict[str, str],
    make_member: Any,
    when: Any,
    tmp_path: Path,
    fmt: str,
) -> None:
    """Each receipt earns the same points, by the same rules, over the API and from an
    import file with ``partner`` and ``payment_method`` columns; both are stored with the
    purchase and read back with it."""
    by_api, by_file = make_member(program), make_member(program)
    for i, (partner, method, points) in enumerate(CASES):
        body = {
            "receipt_id": f"A-{i}",
            "member_id": by_api,
            "occurred_at": when.isoformat(),
            "payment_method": method,
            "lines": [{"line_id": "1", "sku": "SKU-1", "amount": "250.00"}],
        }
        if partner:
            body["partner"] = partner
        r = client.post("/v1/purchases", json=body, headers=idem(**admin))
        assert (r.status_code, r.json()["points_earned"]) == (201, points), r.text
    write = _csv if fmt == "csv" else _parquet
    path = write(tmp_path / f"p.{fmt}", _rows(by_file, when, "F"))
    report = import_purchases(kopilka.services, program, path)
    assert (report.imported, report.rejected) == (len(CASES), 0)
    for i, (partner, method, points) in enumerate(CASES):
        api = client.get(f"/v1/purchases/A-{i}", headers=admin).json()
        imported = client.get(f"/v1/purchases/F-{i}", headers=admin).json()
        for p in (api, imported):
            assert (p["partner"], p["payment_method"]) == (partner, method)
            assert p["points_earned"] == points
        assert imported["lines"] == api["lines"]  # the same awards, rule by rule
