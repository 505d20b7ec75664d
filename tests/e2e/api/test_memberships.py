"""Paid membership over HTTP: a till sells a plan (201), a retry with the same receipt id
and body answers the same, another body under it is a 409; the member's tier shows the paid
floor; renew, cancel and refund; bad input and roles without the permission are RFC 9457
problems, nothing written."""

from __future__ import annotations

import uuid
from datetime import timedelta

from fastapi.testclient import TestClient

from kopilka.app import Kopilka
from kopilka.domain.program import Program
from tests.e2e.api.conftest import KeyFactory, idem
from tests.e2e.api.factories import publish_rules

PAID = """
schema_version: 1
rules:
  - {id: base, kind: rate, rate: {percent: 5}}
tiers:
  levels:
    - {code: basic, name: {ru: Базовый, en: Basic}}
    - code: gold
      name: {ru: Золотой, en: Gold}
      entry: {spend: "15000"}
  paid:
    - code: gold_month
      tier: gold
      price: "299"
      term: {months: 1}
      name: {ru: Золотой на месяц, en: Gold for a month}
"""


def _member(client: TestClient, headers: dict[str, str]) -> int:
    body = {"identifiers": {"external": uuid.uuid4().hex}}
    r = client.post("/v1/members", json=body, headers=idem(**headers))
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def test_sell_renew_cancel_refund(
    client: TestClient, kopilka: Kopilka, program: Program, key_for: KeyFactory
) -> None:
    """The whole life of a membership through the API, with idempotent sales."""
    publish_rules(kopilka.services, program, PAID)
    till, support = key_for("pos", store="S1"), key_for("support")
    m = _member(client, till)
    sale = {"plan": "gold_month", "receipt_id": "M-1", "amount": "299.00"}
    r = client.post(f"/v1/members/{m}/memberships", json=sale, headers=till)
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["tier_code"], body["status"], body["paid"]) == ("gold", "active", "299.00")
    again = client.post(f"/v1/members/{m}/memberships", json=sale, headers=till)
    assert again.status_code == 201
    assert again.json() == body
    other = client.post(
        f"/v1/members/{m}/memberships", json={**sale, "amount": "1.00"}, headers=till
    )
    assert other.status_code == 409
    assert other.headers["content-type"].startswith("application/problem+json")
    tier = client.get(f"/v1/members/{m}/tier", headers=till).json()
    assert tier["tier_code"] == "gold"
    assert tier["paid"]["tier_code"] == "gold"
    assert tier["history"][0]["reason"] == "paid"

    mid = body["id"]
    renewed = client.post(
        f"/v1/members/{m}/memberships/{mid}/renew", json={"receipt_id": "M-2"}, headers=till
    )
    assert renewed.status_code == 200, renewed.text
    assert renewed.json()["ends_at"] > body["ends_at"]
    cancelled = client.post(f"/v1/members/{m}/memberships/{mid}/cancel", headers=support)
    assert cancelled.status_code == 200, cancelled.text
    assert (cancelled.json()["status"], cancelled.json()["active"]) == ("cancelled", True)
    refunded = client.post(
        f"/v1/members/{m}/memberships/{mid}/refund",
        json={"receipt_id": "M-R1", "amount": "100.00"},
        headers=support,
    )
    assert refunded.status_code == 200, refunded.text
    assert (refunded.json()["status"], refunded.json()["paid"]) == ("refunded", "498.00")
    assert client.get(f"/v1/members/{m}/tier", headers=till).json()["tier_code"] is None
    listed = client.get(f"/v1/members/{m}/memberships", headers=support).json()
    assert [s["kind"] for s in listed[0]["sales"]] == ["start", "renew", "refund"]


def test_term_end_seen_by_the_api(
    client: TestClient, kopilka: Kopilka, program: Program, key_for: KeyFactory
) -> None:
    """When the term ends the member's tier read through the API falls back at once."""
    publish_rules(kopilka.services, program, PAID)
    till = key_for("pos", store="S1")
    m = _member(client, till)
    sale = {"plan": "gold_month", "receipt_id": "M-T"}
    assert client.post(f"/v1/members/{m}/memberships", json=sale, headers=till).status_code == 201
    clock = kopilka.services.clock
    clock.set(clock.now() + timedelta(days=32))  # type: ignore[attr-defined]
    tier = client.get(f"/v1/members/{m}/tier", headers=till).json()
    assert (tier["tier_code"], tier["paid"]) == (None, None)


def test_refusals(
    client: TestClient, kopilka: Kopilka, program: Program, key_for: KeyFactory
) -> None:
    """An unknown plan or a wrong currency is a 422, a marketer may not sell (403), an
    unknown membership is a 404; nothing is written."""
    publish_rules(kopilka.services, program, PAID)
    till, marketer = key_for("pos", store="S1"), key_for("marketer")
    m = _member(client, till)
    url = f"/v1/members/{m}/memberships"
    bad = client.post(url, json={"plan": "platinum", "receipt_id": "X-1"}, headers=till)
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")
    euros = {"plan": "gold_month", "receipt_id": "X-2", "currency": "EUR"}
    assert client.post(url, json=euros, headers=till).status_code == 422
    assert (
        client.post(
            url, json={"plan": "gold_month", "receipt_id": "X-3"}, headers=marketer
        ).status_code
        == 403
    )
    missing = client.post(f"{url}/999999/cancel", headers=till)
    assert missing.status_code == 404
    assert client.get(url, headers=till).json() == []
