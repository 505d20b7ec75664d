"""A purchase's two idempotency keys (the caller's header, the receipt's own) stored in the
purchase's own transaction, and the rule set in force read with the member."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from kopilka.app import Kopilka
from kopilka.domain.program import Program
from tests.e2e.api.conftest import idem, row_counts
from tests.e2e.api.factories import RULES, RULES_DOUBLE_BASE, basket, line, publish_rules


def _grown(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {t: n - before[t] for t, n in after.items() if n != before[t]}


def test_a_booked_purchase_stores_both_keys_once(
    client: TestClient, kopilka: Kopilka, admin: dict[str, str], make_member: Any, program: Program
) -> None:
    publish_rules(kopilka.services, program)
    order = basket(line("1", "300.00"), member_id=make_member(program), receipt_id="B-1")
    before = row_counts(kopilka.engine)
    headers = idem(**admin)
    first = client.post("/v1/purchases", json=order, headers=headers)
    assert first.status_code == 201, first.text
    grown = _grown(before, row_counts(kopilka.engine))
    assert grown["idempotency_keys"] == 2
    assert grown["purchases"] == 1
    # the same key replays; so does the receipt under a fresh key (which is recorded)
    assert client.post("/v1/purchases", json=order, headers=headers).json() == first.json()
    fresh = client.post("/v1/purchases", json=order, headers=idem(**admin))
    assert (fresh.status_code, fresh.json()) == (201, first.json())
    assert row_counts(kopilka.engine)["purchases"] == before["purchases"] + 1


def test_a_failed_purchase_stays_failed_under_its_key_only(
    client: TestClient,
    kopilka: Kopilka,
    admin: dict[str, str],
    make_member: Any,
    program: Program,
    give_points: Any,
) -> None:
    """A refusal is replayed under the caller's key, while the receipt itself stays free:
    once the member has the points, the receipt books under another key."""
    publish_rules(kopilka.services, program)
    member_id = make_member(program)
    order = basket(line("1", "300.00"), member_id=member_id, receipt_id="F-1", redeem_points=100)
    headers = idem(**admin)
    refused = client.post("/v1/purchases", json=order, headers=headers)
    assert (refused.status_code, refused.json()["code"]) == (409, "insufficient_points")
    give_points(member_id, 500)
    again = client.post("/v1/purchases", json=order, headers=headers)
    assert (again.status_code, again.json()) == (409, refused.json())
    booked = client.post("/v1/purchases", json=order, headers=idem(**admin))
    assert booked.status_code == 201, booked.text
    assert booked.json()["points_redeemed"] == 100


def test_a_new_rule_version_applies_to_the_next_purchase(
    client: TestClient, kopilka: Kopilka, admin: dict[str, str], make_member: Any, program: Program
) -> None:
    """The parsed rule set is cached per process, but which version is in force is read
    with every purchase: a publication takes effect at once."""
    publish_rules(kopilka.services, program)
    member_id = make_member(program)
    groceries = line("1", "300.00")
    first = client.post(
        "/v1/purchases",
        json=basket(groceries, member_id=member_id, receipt_id="V-1"),
        headers=idem(**admin),
    ).json()
    version = publish_rules(kopilka.services, program, RULES_DOUBLE_BASE)
    second = client.post(
        "/v1/purchases",
        json=basket(groceries, member_id=member_id, receipt_id="V-2"),
        headers=idem(**admin),
    ).json()
    assert (first["points_earned"], second["points_earned"]) == (3, 6)
    assert second["rule_version"] == version == first["rule_version"] + 1
    assert RULES != RULES_DOUBLE_BASE
