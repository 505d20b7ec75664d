"""Analytics through the API, on both databases: guest receipts (validated, scoped to the
key's store, a repeated id records nothing), the KPIs of a range, and the BI exports
streamed as CSV and Parquet with personal data only for the roles that see it."""

from __future__ import annotations

import csv
import io

import pyarrow.parquet as pq

from kopilka.services import analytics, rules
from kopilka.services.exports import DATASETS

from .conftest import card, idem


def _member_buys(client, admin, amount: str, receipt: str) -> None:
    m = client.post(
        "/v1/members",
        json={"identifiers": {"card": card()}, "profile": {"first_name": "Anna"}},
        headers=idem(**admin),
    ).json()
    body = {
        "receipt_id": receipt,
        "member_id": m["id"],
        "lines": [{"line_id": "1", "sku": "A", "quantity": "1", "amount": amount}],
    }
    assert client.post("/v1/purchases", json=body, headers=idem(**admin)).status_code == 201


def test_a_guest_receipt_is_recorded_once_and_checked_at_the_edge(client, key_for, ctx, program):
    """A till records a receipt without a member at its own store; the same id again is
    answered as stored with nothing recorded; a negative or malformed total is a 422,
    another store a 403, and neither writes anything."""
    pos = key_for("pos", store="S1")
    body = {"receipt_id": "G-1", "total": "250.50"}
    first = client.post("/v1/analytics/guest-receipts", json=body, headers=pos)
    assert first.status_code == 201, first.text
    assert first.json()["recorded"] is True
    assert first.json()["total_minor"] == 25050
    again = client.post("/v1/analytics/guest-receipts", json={**body, "total": "1"}, headers=pos)
    assert again.json()["recorded"] is False
    assert again.json()["total_minor"] == 25050
    for bad in (
        {"receipt_id": "G-2", "total": "-1"},
        {"receipt_id": "G-2", "total": "1,5"},
        {"receipt_id": "G-2"},
        {"receipt_id": "G-2", "total": "1", "member_id": 1},
    ):
        r = client.post("/v1/analytics/guest-receipts", json=bad, headers=pos)
        assert r.status_code == 422, bad
    other = client.post(
        "/v1/analytics/guest-receipts",
        json={"receipt_id": "G-3", "total": "1", "store": "S2"},
        headers=pos,
    )
    assert other.status_code == 403
    analytics.refresh(ctx, program)
    figures = analytics.kpis(
        ctx, program, analytics.KpiQuery(analytics.DateRange(ctx.now().date(), ctx.now().date()))
    )["totals"]
    assert figures["guest_receipts"] == 1
    assert figures["average_check_guest_minor"] == 25050


def test_kpis_for_an_analyst_and_not_for_a_till(client, key_for, admin, ctx, program):
    """An analyst reads the KPIs of a range after a refresh; a pos key may not (403); a
    malformed day is a 422 problem naming it."""
    _member_buys(client, admin, "1000", "R-1")
    analytics.refresh(ctx, program)
    analyst = key_for("analyst")
    day = ctx.now().date().isoformat()
    r = client.get(f"/v1/analytics/kpis?from={day}&to={day}&grain=day&by=store", headers=analyst)
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["totals"]["purchases"] == 1
    assert data["totals"]["revenue_minor"] == 100000
    assert data["series"][0]["bucket"] == day
    assert client.get("/v1/analytics/kpis", headers=key_for("pos")).status_code == 403
    bad = client.get("/v1/analytics/kpis?from=2026-13-01", headers=analyst)
    assert bad.status_code == 422
    assert bad.json()["code"] == "validation_error"
    assert "from must be a date written YYYY-MM-DD" in bad.json()["detail"]


def test_exports_stream_csv_and_parquet_in_the_documented_layout(client, key_for, admin, ctx):
    """Purchases export as CSV and Parquet with the documented columns in order and the
    rows of the range; members' names come only with personal data, which an analyst may
    not ask for (403) and an admin may."""
    _member_buys(client, admin, "120.00", "R-9")
    day = ctx.now().date().isoformat()
    analyst = key_for("analyst")
    r = client.get(f"/v1/analytics/exports/purchases?from={day}&to={day}", headers=analyst)
    assert r.status_code == 200
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0] == [c.name for c in DATASETS["purchases"]]
    assert [row[1] for row in rows[1:]] == ["R-9"]
    assert rows[1][6] == "12000"
    r = client.get(
        f"/v1/analytics/exports/lines?from={day}&to={day}&format=parquet", headers=analyst
    )
    table = pq.read_table(io.BytesIO(r.content))
    assert table.column_names == [c.name for c in DATASETS["lines"]]
    assert table.column("amount_minor").to_pylist() == [12000]
    members = client.get(f"/v1/analytics/exports/members?from={day}&to={day}", headers=analyst)
    assert "first_name" not in members.text.splitlines()[0]
    refused = client.get("/v1/analytics/exports/members?personal_data=true", headers=analyst)
    assert refused.status_code == 403
    full = client.get(
        f"/v1/analytics/exports/members?from={day}&to={day}&personal_data=true", headers=admin
    )
    assert "first_name" in full.text.splitlines()[0]
    assert "Anna" in full.text
    assert client.get("/v1/analytics/exports/secrets", headers=analyst).status_code == 422


PILOT_RULES = """
schema_version: 1
rules:
  - {id: base, kind: rate, rate: {points: 1, per: "100"}}
  - {id: trial, kind: rate, rate: {percent: 5}, pilot: {share_percent: 50}}
"""


def test_pilots_returns_for_an_analyst(client, key_for, admin, ctx, program):
    """An analyst reads each pilot's return over a range, in the documented shape: the
    rule, both groups with the members who bought, the points' cost; a pos key may not
    (403); a malformed day is a 422."""
    rules.publish(ctx, program, PILOT_RULES, actor="test")
    for i in range(4):
        _member_buys(client, admin, "1000", f"R-{i}")
    analytics.refresh(ctx, program)
    analyst = key_for("analyst")
    day = ctx.now().date().isoformat()
    r = client.get(f"/v1/analytics/pilots?from={day}&to={day}", headers=analyst)
    assert r.status_code == 200, r.text
    (pilot,) = r.json()["pilots"]
    assert pilot["rule_id"] == "trial"
    assert pilot["share_percent"] == 50.0
    groups = pilot["pilot"], pilot["control"]
    assert sum(g["revenue_minor"] for g in groups) == 4 * 100000
    assert pilot["cost_minor"] == pilot["points"] * program.point_value_minor
    assert pilot["reliable"] is False  # four members are too few for the interval
    assert client.get("/v1/analytics/pilots", headers=key_for("pos")).status_code == 403
    assert client.get("/v1/analytics/pilots?to=2026-02-30", headers=analyst).status_code == 422


def test_campaigns_costs_for_an_analyst(client, key_for, admin, ctx, program):
    """Rules sharing a ``campaign:`` code are read back as one campaign with their points
    and cost; a pos key may not read it (403)."""
    rules.publish(
        ctx,
        program,
        PILOT_RULES.replace("rate: {percent: 5}, pilot: {share_percent: 50}", "rate: {percent: 5}")
        .replace('per: "100"}}', 'per: "100"}, campaign: launch}')
        .replace("{percent: 5}}", "{percent: 5}, campaign: launch}"),
        actor="test",
    )
    _member_buys(client, admin, "1000", "R-C1")
    analytics.refresh(ctx, program)
    day = ctx.now().date().isoformat()
    r = client.get(f"/v1/analytics/campaigns?from={day}&to={day}", headers=key_for("analyst"))
    assert r.status_code == 200, r.text
    (launch,) = r.json()["campaigns"]
    assert launch["campaign"] == "launch"
    assert launch["rules"] == ["base", "trial"]
    assert launch["points"] == 10 + 50  # 1 per 100 RUB, and 5 % of 1,000 RUB
    assert launch["cost_minor"] == launch["points"] * program.point_value_minor
    assert client.get("/v1/analytics/campaigns", headers=key_for("pos")).status_code == 403
