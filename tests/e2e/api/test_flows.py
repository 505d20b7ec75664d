"""The integration flows over HTTP: a till and a web shop."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from kopilka.domain.clock import FrozenClock
from tests.e2e.api.conftest import KeyFactory, card, idem


def _enroll(client: TestClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    r = client.post("/v1/members", json=body, headers=idem(**headers))
    assert r.status_code == 201, r.text
    return dict(r.json())


def test_till_flow_identify_balance_hold_capture_history(
    client: TestClient, key_for: KeyFactory, admin: dict[str, str], give_points: Any
) -> None:
    """A till finds a member by card or phone, reserves points, captures part, and the
    history explains every movement."""
    till = key_for("pos", store="S1")
    number = card()
    member = _enroll(
        client,
        till,
        identifiers={"card": number, "phone": "+7 (912) 345-67-89"},
        profile={"first_name": "Anna"},
        consents=[{"purpose": "marketing_sms", "granted": True}],
    )
    give_points(member["id"], 500)

    by_card = client.get(
        "/v1/members/lookup", params={"kind": "card", "value": number}, headers=till
    )
    by_phone = client.get(
        "/v1/members/lookup", params={"kind": "phone", "value": "89123456789"}, headers=till
    )
    assert by_card.json()["id"] == by_phone.json()["id"] == member["id"]

    balance = client.get(f"/v1/members/{member['id']}/balance", headers=till).json()
    assert (balance["available"], balance["pending"], balance["held"]) == (500, 0, 0)

    hold = client.post(
        "/v1/holds",
        json={"member_id": member["id"], "points": 300, "reference": "R-1"},
        headers=idem(**till),
    )
    assert hold.status_code == 201, hold.text
    assert hold.json()["balance"] == {"available": 200, "pending": 0, "held": 300}
    hold_id = hold.json()["hold_id"]

    captured = client.post(
        f"/v1/holds/{hold_id}/capture", json={"points": 120}, headers=idem(**till)
    )
    assert captured.status_code == 200, captured.text
    assert captured.json()["balance"] == {"available": 380, "pending": 0, "held": 0}
    assert client.get(f"/v1/holds/{hold_id}", headers=till).json()["status"] == "captured"

    history = client.get(f"/v1/members/{member['id']}/history", headers=till).json()
    kinds = [item["kind"] for item in history["items"]]
    assert kinds == ["capture", "hold", "earn"]
    assert all(item["why"] for item in history["items"])
    assert "paid 120 points" in history["items"][0]["why"]


def test_history_pages_with_a_cursor(
    client: TestClient, admin: dict[str, str], give_points: Any
) -> None:
    """History pages go newest first and the cursor leads to the next older page."""
    member = _enroll(client, admin, identifiers={"card": card()})
    for _ in range(5):
        give_points(member["id"], 10)
    first = client.get(f"/v1/members/{member['id']}/history?limit=2", headers=admin).json()
    second = client.get(
        f"/v1/members/{member['id']}/history",
        params={"limit": 2, "before": first["next_cursor"]},
        headers=admin,
    ).json()
    ids = [i["entry_id"] for i in first["items"] + second["items"]]
    assert ids == sorted(ids, reverse=True)
    assert len(set(ids)) == 4


def test_web_shop_earns_and_redeems(client: TestClient, key_for: KeyFactory) -> None:
    """A web shop enrolls by email, earns and redeems; spending more than available is a
    409 insufficient_points problem."""
    shop = key_for("ecommerce")
    member = _enroll(client, shop, identifiers={"email": "Anna@Example.COM "})
    found = client.get(
        "/v1/members/lookup", params={"kind": "email", "value": "anna@example.com"}, headers=shop
    )
    assert found.json()["id"] == member["id"]
    earned = client.post(
        f"/v1/members/{member['id']}/earn",
        json={"points": 250, "reason": "order 17", "reference": "O-17"},
        headers=idem(**shop),
    )
    assert earned.status_code == 201, earned.text
    redeemed = client.post(
        f"/v1/members/{member['id']}/redeem", json={"points": 100}, headers=idem(**shop)
    )
    assert redeemed.json()["balance"]["available"] == 150
    too_much = client.post(
        f"/v1/members/{member['id']}/redeem", json={"points": 151}, headers=idem(**shop)
    )
    assert too_much.status_code == 409
    assert too_much.json()["code"] == "insufficient_points"


def test_unresolved_hold_expires_by_server_time(
    client: TestClient,
    key_for: KeyFactory,
    admin: dict[str, str],
    give_points: Any,
    clock: FrozenClock,
) -> None:
    """A hold nobody resolves cannot be captured after its time; the sweep ends it and
    the points come back."""
    till = key_for("pos")
    member = _enroll(client, till, identifiers={"card": card()})
    give_points(member["id"], 100)
    hold = client.post(
        "/v1/holds",
        json={"member_id": member["id"], "points": 60, "ttl_seconds": 60},
        headers=idem(**till),
    ).json()
    clock.advance(timedelta(seconds=61))
    late = client.post(f"/v1/holds/{hold['hold_id']}/capture", headers=idem(**till))
    assert late.status_code == 409
    assert late.json()["code"] == "hold_expired"
    swept = client.post("/v1/admin/jobs/expire-holds", headers=idem(**admin))
    assert swept.status_code == 200, swept.text
    assert swept.json()["handled"] == 1
    balance = client.get(f"/v1/members/{member['id']}/balance", headers=till).json()
    assert (balance["available"], balance["held"]) == (100, 0)
    assert client.get(f"/v1/holds/{hold['hold_id']}", headers=till).json()["status"] == "expired"
