"""Purchases over HTTP: a till and a web shop quote, commit, return and read back why."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from kopilka.app import Kopilka
from kopilka.domain.program import Program
from tests.e2e.api.conftest import KeyFactory, card, idem, row_counts
from tests.e2e.api.factories import basket, line, publish_rules


@pytest.fixture(autouse=True)
def rules(kopilka: Kopilka, program: Program) -> int:
    return publish_rules(kopilka.services, program)


def _enroll(client: TestClient, headers: dict[str, str], **identifiers: str) -> int:
    r = client.post("/v1/members", json={"identifiers": identifiers}, headers=idem(**headers))
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def _balance(client: TestClient, headers: dict[str, str], member_id: int) -> dict[str, int]:
    b = client.get(f"/v1/members/{member_id}/balance", headers=headers).json()
    return {k: b[k] for k in ("available", "pending", "held")}


# paid in money: 250.00 of groceries earn 2 points (base), 200.00 of fruit 10 (fruit, exclusive);
# points pay for at most half, and what they pay for earns nothing
GROCERIES, FRUIT = line("1", "250.00"), line("2", "200.00", category="fruit", quantity="2")


def test_till_flow_card_quote_hold_commit_breakdown_partial_return_history(
    client: TestClient, key_for: KeyFactory, give_points: Any
) -> None:
    """A till identifies by card, quotes, holds points, commits capturing part of the hold,
    reads the points by line and rule, returns one fruit, and the history says why."""
    till = key_for("pos", store="S1")
    number = card()
    member_id = _enroll(client, till, card=number)
    give_points(member_id, 500)
    found = client.get("/v1/members/lookup", params={"kind": "card", "value": number}, headers=till)
    assert found.json()["id"] == member_id

    quote = client.post(
        "/v1/purchases/quote", json=basket(GROCERIES, FRUIT, member={"card": number}), headers=till
    )
    assert quote.status_code == 200, quote.text
    assert (quote.json()["points_earned"], quote.json()["max_redeemable"]) == (12, 225)
    assert [ln["points_earned"] for ln in quote.json()["lines"]] == [2, 10]

    hold = client.post(
        "/v1/holds", json={"member_id": member_id, "points": 200}, headers=idem(**till)
    ).json()
    committed = client.post(
        "/v1/purchases",
        json=basket(
            GROCERIES,
            FRUIT,
            member={"card": number},
            receipt_id="T-1",
            hold_id=hold["hold_id"],
            redeem_points=120,
        ),
        headers=idem(**till),
    )
    assert committed.status_code == 201, committed.text
    booked = committed.json()
    assert (booked["points_redeemed"], booked["to_pay"]) == (120, "330.00")
    assert booked["points_earned"] == 6  # on the 330.00 paid in money: 1 (base) + 5 (fruit)
    assert _balance(client, till, member_id) == {"available": 386, "pending": 0, "held": 0}

    purchase = client.get("/v1/purchases/T-1", headers=till).json()
    assert (purchase["store"], purchase["channel"]) == ("S1", "till")
    awards = {ln["line_id"]: ln["awards"] for ln in purchase["lines"]}
    assert awards == {
        "1": [{"rule_id": "base", "rule_version": 1, "points": 1}],
        "2": [{"rule_id": "fruit", "rule_version": 1, "points": 5}],
    }
    fruit = purchase["lines"][1]

    returned = client.post(
        "/v1/purchases/T-1/returns",
        json={"return_id": "RT-1", "lines": [{"line_id": "2", "quantity": "1"}]},
        headers=idem(**till),
    )
    assert returned.status_code == 201, returned.text
    back = returned.json()
    # half of the fruit line: half its points (floored), half the points spent on it
    assert back["points_clawed_back"] == fruit["points_earned"] // 2
    assert back["points_restored"] == fruit["points_redeemed"] // 2
    assert client.get("/v1/purchases/T-1", headers=till).json()["returns"][0]["return_id"] == "RT-1"

    history = client.get(f"/v1/members/{member_id}/history", headers=till).json()["items"]
    assert all(item["why"] for item in history)
    earn = next(i for i in history if i["kind"] == "earn" and i["reference"] == "T-1")
    assert earn["rule_version"] == 1
    assert {i["reference"] for i in history[:2]} == {"T-1/RT-1"}


def test_web_shop_flow_quote_redeem_full_return_restores_balances(
    client: TestClient, key_for: KeyFactory, give_points: Any
) -> None:
    """A web shop quotes, commits paying with points, returns everything, and the member's
    balances are back where they were."""
    shop = key_for("ecommerce")
    member_id = _enroll(client, shop, email="buyer@example.com")
    give_points(member_id, 300)
    before = _balance(client, shop, member_id)
    order = basket(GROCERIES, FRUIT, member={"email": "Buyer@Example.com"}, redeem_points=150)

    quote = client.post("/v1/purchases/quote", json=order, headers=shop).json()
    assert (quote["discount"], quote["points_earned"]) == ("150.00", 6)
    committed = client.post(
        "/v1/purchases", json={**order, "receipt_id": "W-1"}, headers=idem(**shop)
    )
    assert committed.status_code == 201, committed.text
    assert committed.json()["balance"]["available"] == 300 - 150 + 6
    assert client.get("/v1/purchases/W-1", headers=shop).json()["channel"] == "web"

    returned = client.post(
        "/v1/purchases/W-1/returns", json={"return_id": "all"}, headers=idem(**shop)
    )
    assert returned.status_code == 201, returned.text
    assert (returned.json()["points_clawed_back"], returned.json()["points_restored"]) == (6, 150)
    assert returned.json()["refund"] == "300.00"
    assert _balance(client, shop, member_id) == before
    again = client.post(
        "/v1/purchases/W-1/returns", json={"return_id": "again"}, headers=idem(**shop)
    )
    # returning more than was bought is the documented 409 reversal_exceeded
    assert (again.status_code, again.json()["code"]) == (409, "reversal_exceeded")


def test_paying_more_than_the_rules_allow_is_refused(
    client: TestClient, admin: dict[str, str], make_member: Any, program: Program, give_points: Any
) -> None:
    """Points over the rules' ceiling (half the basket) are 409 redemption_not_allowed,
    with the ceiling in the details, and nothing is booked."""
    member_id = make_member(program)
    give_points(member_id, 1000)
    order = basket(GROCERIES, member_id=member_id, receipt_id="X-1", redeem_points=126)
    r = client.post("/v1/purchases", json=order, headers=idem(**admin))
    assert (r.status_code, r.json()["code"]) == (409, "redemption_not_allowed")
    assert r.json()["details"]["max_redeemable"] == 125
    assert client.get("/v1/purchases/X-1", headers=admin).status_code == 404


def test_a_pos_key_books_only_at_its_own_store(
    client: TestClient, kopilka: Kopilka, key_for: KeyFactory, make_member: Any, program: Program
) -> None:
    """A pos key's purchases default to its store; naming another store is 403
    outside_key_scope for a quote and a commit, and nothing is written."""
    till = key_for("pos", store="S1")
    member_id = make_member(program)
    elsewhere = basket(GROCERIES, member_id=member_id, store="S2")
    before = row_counts(kopilka.engine)
    quote = client.post("/v1/purchases/quote", json=elsewhere, headers=till)
    commit = client.post(
        "/v1/purchases", json={**elsewhere, "receipt_id": "P-2"}, headers=idem(**till)
    )
    assert [quote.status_code, commit.status_code] == [403, 403]
    assert [quote.json()["code"], commit.json()["code"]] == ["outside_key_scope"] * 2
    assert row_counts(kopilka.engine) == before

    here = basket(GROCERIES, member_id=member_id, receipt_id="P-1")
    assert client.post("/v1/purchases", json=here, headers=idem(**till)).status_code == 201
    assert client.get("/v1/purchases/P-1", headers=till).json()["store"] == "S1"
    own = client.post(
        "/v1/purchases", json={**here, "receipt_id": "P-3", "store": "S1"}, headers=idem(**till)
    )
    assert own.status_code == 201, own.text


def test_a_receipt_is_booked_once_whatever_the_header_key(
    client: TestClient, kopilka: Kopilka, admin: dict[str, str], make_member: Any, program: Program
) -> None:
    """A till retrying a receipt under a fresh Idempotency-Key gets the first answer and
    books nothing again; the receipt with other lines is 409 idempotency_conflict."""
    order = basket(GROCERIES, member_id=make_member(program), receipt_id="R-1")
    first = client.post("/v1/purchases", json=order, headers=idem(**admin))
    after_first = row_counts(kopilka.engine)
    retry = client.post("/v1/purchases", json=order, headers=idem(**admin))
    assert (retry.status_code, retry.json()) == (201, first.json())
    other = client.post("/v1/purchases", json={**order, "lines": [FRUIT]}, headers=idem(**admin))
    assert (other.status_code, other.json()["code"]) == (409, "idempotency_conflict")
    # each header key is recorded; nothing else is written
    grown = {
        t: n - after_first[t] for t, n in row_counts(kopilka.engine).items() if n != after_first[t]
    }
    assert grown == {"idempotency_keys": 2}


def test_a_header_key_equal_to_the_receipts_own_key_works(
    client: TestClient, admin: dict[str, str], make_member: Any, program: Program
) -> None:
    """An Idempotency-Key that happens to be the key the receipt is booked under
    (``purchase:<receipt_id>``) books and replays like any other."""
    order = basket(GROCERIES, member_id=make_member(program), receipt_id="K-1")
    headers = {**admin, "Idempotency-Key": "purchase:K-1"}
    first = client.post("/v1/purchases", json=order, headers=headers)
    assert first.status_code == 201, first.text
    again = client.post("/v1/purchases", json=order, headers=headers)
    assert (again.status_code, again.json()) == (201, first.json())
