"""Replacing a lost card over HTTP (``POST /v1/members/{id}/card-replacement``), and an
adjustment's reason code and member text."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.e2e.api.conftest import KeyFactory, card, idem, row_counts


def _enroll(client: TestClient, headers: dict[str, str], *cards: str) -> int:
    body = {"identifiers": {"card": cards[0]}}
    r = client.post("/v1/members", json=body, headers=idem(**headers))
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def _lookup(client: TestClient, headers: dict[str, str], number: str) -> Any:
    return client.get(
        "/v1/members/lookup", params={"kind": "card", "value": number}, headers=headers
    )


def test_a_replaced_card_finds_nobody_and_the_new_one_finds_the_member(
    client: TestClient, key_for: KeyFactory, give_points: Any
) -> None:
    """After the replacement the old number is 404 for lookups and purchases, the new one
    finds the member with their balance and history; the audit row masks both numbers and
    keeps the reason."""
    support, admin = key_for("support"), key_for("admin")
    old, new = card(), card()
    member = _enroll(client, admin, old)
    give_points(member, 70)
    r = client.post(
        f"/v1/members/{member}/card-replacement",
        json={"new_card": new.lower(), "reason_code": "lost_card", "reason_note": "stolen bag"},
        headers=idem(**support),
    )
    assert r.status_code == 200, r.text
    assert r.json() == {
        "member_id": member,
        "old_card": "*" * (len(old) - 4) + old[-4:],
        "new_card": "*" * (len(new) - 4) + new[-4:],
    }
    missing = _lookup(client, support, old)
    assert missing.status_code == 404
    assert missing.json()["code"] == "not_found"
    assert missing.headers["content-type"].startswith("application/problem+json")
    found = _lookup(client, support, new)
    assert found.json()["id"] == member
    assert client.get(f"/v1/members/{member}/balance", headers=support).json()["available"] == 70
    history = client.get(f"/v1/members/{member}/history", headers=support).json()
    assert len(history["items"]) == 1
    till = client.post(
        "/v1/purchases",
        json={
            "receipt_id": f"R-{old}",
            "member": {"card": old},
            "lines": [{"line_id": "1", "sku": "A", "amount": "100.00"}],
        },
        headers=idem(**key_for("pos")),
    )
    assert till.status_code == 404, till.text
    rows = client.get(
        "/v1/admin/audit", params={"target": f"member:{member}"}, headers=support
    ).json()["items"]
    assert [r["action"] for r in rows] == ["member.card_replaced"]
    assert rows[0]["before"] == {"card": ["*" * (len(old) - 4) + old[-4:]]}
    assert rows[0]["after"]["card"] == ["*" * (len(new) - 4) + new[-4:]]
    assert rows[0]["after"]["reason"] == "lost_card: stolen bag"
    assert old not in str(rows)
    assert new not in str(rows)


def test_the_same_key_replaces_once_and_another_request_under_it_conflicts(
    client: TestClient, key_for: KeyFactory
) -> None:
    """The replacement is idempotent: a retry replays the answer; the key with another
    body is 409 idempotency_conflict."""
    support = key_for("support")
    member = _enroll(client, key_for("admin"), card())
    headers = idem(**support)
    body = {"new_card": card()}
    first = client.post(f"/v1/members/{member}/card-replacement", json=body, headers=headers)
    again = client.post(f"/v1/members/{member}/card-replacement", json=body, headers=headers)
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    other = client.post(
        f"/v1/members/{member}/card-replacement", json={"new_card": card()}, headers=headers
    )
    assert other.status_code == 409
    assert other.json()["code"] == "idempotency_conflict"


def test_refusals_write_nothing(client: TestClient, key_for: KeyFactory, kopilka: Any) -> None:
    """Another member's card is 409 duplicate_identifier, the member's own 409 conflict;
    "other" without a note, a malformed number or an unknown reason is 422; a marketer is
    403; nothing changes."""
    support, admin = key_for("support"), key_for("admin")
    mine, theirs = card(), card()
    member = _enroll(client, admin, mine)
    _enroll(client, admin, theirs)
    url = f"/v1/members/{member}/card-replacement"
    before = row_counts(kopilka.engine)
    dup = client.post(url, json={"new_card": theirs}, headers=idem(**support))
    assert dup.status_code == 409
    assert dup.json()["code"] == "duplicate_identifier"
    for body in (
        {"new_card": card(), "reason_code": "other"},
        {"new_card": "no"},
        {"new_card": card(), "reason_code": "whim"},
        {},
    ):
        bad = client.post(url, json=body, headers=idem(**support))
        assert bad.status_code == 422, (body, bad.text)
        assert bad.json()["code"] == "validation_error"
    same = client.post(url, json={"new_card": mine}, headers=idem(**support))
    assert same.status_code == 409
    assert same.json()["code"] == "conflict"
    refused = client.post(url, json={"new_card": card()}, headers=idem(**key_for("marketer")))
    assert refused.status_code == 403
    assert _lookup(client, support, mine).json()["id"] == member
    after = row_counts(kopilka.engine)
    assert after["member_identifiers"] == before["member_identifiers"]
    assert after["audit_log"] == before["audit_log"]


def test_an_adjustment_keeps_its_reason_code_and_member_text(
    client: TestClient, key_for: KeyFactory, give_points: Any
) -> None:
    """``reason_code`` and ``member_text`` go to the entry's meta (the history shows
    them to support); ``reason`` stays the internal reason, as before."""
    support = key_for("support")
    member = _enroll(client, key_for("admin"), card())
    r = client.post(
        f"/v1/admin/members/{member}/adjustments",
        json={
            "delta": 15,
            "reason": "late order #77",
            "reason_code": "goodwill",
            "member_text": "Sorry for the wait",
        },
        headers=idem(**support),
    )
    assert r.status_code == 201, r.text
    item = client.get(f"/v1/members/{member}/history", headers=support).json()["items"][0]
    assert item["reason"] == "late order #77"
    assert item["meta"] == {
        "reason_code": "goodwill",
        "member_text": "Sorry for the wait",
        "delta": 15,
    }
    bad = client.post(
        f"/v1/admin/members/{member}/adjustments",
        json={"delta": 15, "reason": "x", "reason_code": "whim"},
        headers=idem(**support),
    )
    assert bad.status_code == 422


def test_support_voids_a_hold_but_neither_makes_nor_captures_one(
    client: TestClient, key_for: KeyFactory, give_points: Any
) -> None:
    """``holds:void`` lets support cancel a hold a till left; making or capturing one
    stays refused (403)."""
    support = key_for("support")
    member = _enroll(client, key_for("admin"), card())
    give_points(member, 50)
    made = client.post(
        "/v1/holds", json={"member_id": member, "points": 20}, headers=idem(**key_for("admin"))
    )
    hold = made.json()["hold_id"]
    refused = client.post(
        "/v1/holds", json={"member_id": member, "points": 5}, headers=idem(**support)
    )
    assert refused.status_code == 403
    assert (
        client.post(f"/v1/holds/{hold}/capture", json={}, headers=idem(**support)).status_code
        == 403
    )
    voided = client.post(f"/v1/holds/{hold}/void", headers=idem(**support))
    assert voided.status_code == 200, voided.text
    assert voided.json()["balance"]["available"] == 50
