"""A member's tier over HTTP: read with progress and history, support sets a manual tier
(audited), other roles may not, and bad input is an RFC 9457 problem."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient

from kopilka.app import Kopilka
from kopilka.domain.program import Program
from tests.e2e.api.conftest import KeyFactory, idem
from tests.e2e.api.factories import basket, line, publish_rules

TIERED = """
schema_version: 1
rules:
  - {id: base, kind: rate, rate: {percent: 5}}
  - {id: gold-extra, kind: rate, rate: {percent: 2}, when: {tiers: [gold]}}
tiers:
  window: {kind: calendar_year}
  levels:
    - {code: basic, name: {ru: Базовый, en: Basic}}
    - code: gold
      name: {ru: Золотой, en: Gold}
      benefits: {ru: "7 % баллами", en: "7 % back in points"}
      entry: {spend: "15000"}
      keep: {spend: "10000"}
"""


def _member(client: TestClient, headers: dict[str, str]) -> int:
    body = {"identifiers": {"external": uuid.uuid4().hex}}
    r = client.post("/v1/members", json=body, headers=idem(**headers))
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def test_tier_progress_history_and_manual_floor(
    client: TestClient,
    kopilka: Kopilka,
    program: Program,
    key_for: KeyFactory,
    admin: dict[str, str],
) -> None:
    """A purchase past 15,000 RUB makes the member gold (history says why); progress names
    what is missing; support sets and lifts a manual tier, audited as member.tier."""
    publish_rules(kopilka.services, program, TIERED)
    till, support = key_for("pos", store="S1"), key_for("support")
    m = _member(client, till)
    r = client.post(
        "/v1/purchases",
        json=basket(line("1", "11800.00"), member_id=m, receipt_id="T-1"),
        headers=idem(**till),
    )
    assert r.status_code == 201, r.text
    tier = client.get(f"/v1/members/{m}/tier", headers=till).json()
    assert tier["tier_code"] == "basic"
    assert tier["progress"]["to_next"][0]["missing"] == "3200.00"
    assert tier["progress"]["next_tier"]["name_en"] == "Gold"
    client.post(
        "/v1/purchases",
        json=basket(line("1", "4000.00"), member_id=m, receipt_id="T-2"),
        headers=idem(**till),
    )
    tier = client.get(f"/v1/members/{m}/tier", headers=till).json()
    assert tier["tier_code"] == "gold"
    assert tier["history"][0]["reason"] == "purchase"
    assert tier["history"][0]["thresholds"] == {"spend": 1500000}

    other = _member(client, till)
    set_gold = {"tier_code": "gold", "reason_code": "goodwill", "reason_note": "complaint"}
    refused = client.post(f"/v1/members/{other}/tier", json=set_gold, headers=till)
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith("application/problem+json")
    done = client.post(f"/v1/members/{other}/tier", json=set_gold, headers=support)
    assert done.status_code == 200, done.text
    assert done.json()["tier_code"] == "gold"
    assert done.json()["manual"]["reason"] == "goodwill: complaint"
    lifted = client.post(
        f"/v1/members/{other}/tier",
        json={"tier_code": None, "reason_code": "correction"},
        headers=support,
    )
    assert lifted.json()["tier_code"] is None
    assert lifted.json()["manual"] is None
    audit = client.get("/v1/admin/audit", params={"target": f"member:{other}"}, headers=admin)
    assert [e["action"] for e in audit.json()["items"]] == ["member.tier", "member.tier"]


def test_bad_manual_tier_is_a_problem_and_writes_nothing(
    client: TestClient, kopilka: Kopilka, program: Program, key_for: KeyFactory
) -> None:
    """An unknown tier, a missing reason, or 'other' without a note are 422 problems."""
    publish_rules(kopilka.services, program, TIERED)
    support = key_for("support")
    m = _member(client, key_for("pos", store="S1"))
    for body in (
        {"tier_code": "diamond", "reason_code": "goodwill"},
        {"tier_code": "gold"},
        {"tier_code": "gold", "reason_code": "other"},
    ):
        r = client.post(f"/v1/members/{m}/tier", json=body, headers=support)
        assert r.status_code == 422, (body, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    assert client.get(f"/v1/members/{m}/tier", headers=support).json()["history"] == []


def test_tier_routes_are_documented(client: TestClient) -> None:
    """Both routes are in the OpenAPI document with their problem answers."""
    spec = client.get("/openapi.json").json()
    path = spec["paths"]["/v1/members/{member_id}/tier"]
    assert {"get", "post"} <= set(path)
    assert "403" in path["post"]["responses"]


def test_tier_changes_appear_in_the_member_history(
    client: TestClient, kopilka: Kopilka, program: Program, key_for: KeyFactory
) -> None:
    """The member's history names each tier change (from, to, reason, a sentence) in the
    span of time of its page: every change on exactly one page, newest first."""
    publish_rules(kopilka.services, program, TIERED)
    till, support = key_for("pos", store="S1"), key_for("support")
    m = _member(client, till)
    for n, amount in enumerate(("11800.00", "4000.00", "100.00")):
        r = client.post(
            "/v1/purchases",
            json=basket(line("1", amount), member_id=m, receipt_id=f"H-{n}"),
            headers=idem(**till),
        )
        assert r.status_code == 201, r.text
    page = client.get(f"/v1/members/{m}/history", headers=support).json()
    assert [(c["from_tier"], c["to_tier"], c["reason"]) for c in page["tier_changes"]] == [
        ("basic", "gold", "purchase"),
        (None, "basic", "purchase"),
    ]
    assert page["tier_changes"][0]["why"] == "tier basic -> gold, by purchases"
    seen = []
    before = None
    while True:
        params = {"limit": 1} | ({"before": before} if before else {})
        page = client.get(f"/v1/members/{m}/history", params=params, headers=support).json()
        seen += [c["to_tier"] for c in page["tier_changes"]]
        before = page["next_cursor"]
        if before is None:
            break
    assert sorted(seen) == ["basic", "gold"]
