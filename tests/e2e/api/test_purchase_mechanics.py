"""The request fields of the earning mechanics over HTTP: promo codes, payments by tender
and the shop's order discount, on quote, commit, return and the stored breakdown."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient

from kopilka.app import Kopilka
from kopilka.domain.program import Program
from tests.e2e.api.conftest import KeyFactory, idem, row_counts
from tests.e2e.api.factories import basket, line, publish_rules

# base: 1 point per full 100 RUB; SPRING doubles the base (once per member, twice in all);
# +5 % on the part paid by SBP; bread earns 3 points a loaf; nothing on the gift-card part
RULES = """\
schema_version: 1
currency: RUB
rules:
  - id: base
    kind: rate
    rate: {points: 1, per: "100"}
    tenders: {not: [gift_card]}
  - id: spring
    kind: multiplier
    factor: 2
    when: {promo_code: SPRING}
  - id: sbp
    kind: rate
    rate: {percent: 5}
    tenders: [sbp]
  - id: loaf
    kind: rate
    rate: {points: 3, per_unit: true}
    scope: {categories: [bread]}
    when: {stores: {not: [S9]}}
promo_codes:
  - {code: SPRING, valid: {from: 2020-01-01, to: 2099-12-31}, per_member: 1, total: 2}
  - {code: OLD, valid: {from: 2020-01-01, to: 2020-12-31}}
redemption:
  point_value: "1.00"
  max_percent: 50
"""
GROCERIES, BREAD = line("1", "1000.00"), line("2", "200.00", category="bread", quantity="2")
WRITES = ("idempotency_keys",)  # a refused request records its refusal under its key only


@pytest.fixture(autouse=True)
def rules(kopilka: Kopilka, program: Program) -> int:
    return publish_rules(kopilka.services, program, RULES)


def _written(before: dict[str, int], after: dict[str, int]) -> set[str]:
    return {t for t in after if after[t] != before[t] and t not in WRITES}


@pytest.mark.parametrize(
    ("codes", "reason"), [(["NOPE"], "unknown"), (["old"], "expired"), (["SPRING", "X"], "unknown")]
)
def test_an_unknown_or_expired_code_is_refused_at_quote_and_commit(
    client: TestClient,
    kopilka: Kopilka,
    program: Program,
    admin: dict[str, str],
    make_member: Any,
    codes: list[str],
    reason: str,
) -> None:
    """422 promo_code_invalid with its reason, for the quote and the commit, and the
    commit writes nothing (but its refusal under its idempotency key)."""
    order = basket(GROCERIES, member_id=make_member(program), promo_codes=codes)
    before = row_counts(kopilka.engine)
    quote = client.post("/v1/purchases/quote", json=order, headers=admin)
    commit = client.post(
        "/v1/purchases", json={**order, "receipt_id": "P-1"}, headers=idem(**admin)
    )
    for r in (quote, commit):
        assert r.status_code == 422, r.text
        assert r.json()["code"] == "promo_code_invalid"
        assert r.json()["details"]["reason"] == reason
    assert _written(before, row_counts(kopilka.engine)) == set()


def test_a_promo_code_unlocks_its_rule_within_its_limits_and_comes_back_on_return(
    client: TestClient, program: Program, admin: dict[str, str], make_member: Any
) -> None:
    """SPRING doubles the base rate; a member uses it once, the program twice; a whole
    return gives the use back, so the code can be used again."""
    first, second, third = (make_member(program) for _ in range(3))
    order = basket(GROCERIES, member_id=first, promo_codes=["spring"])
    quote = client.post("/v1/purchases/quote", json=order, headers=admin).json()
    assert quote["points_earned"] == 20
    booked = client.post(
        "/v1/purchases", json={**order, "receipt_id": "A-1"}, headers=idem(**admin)
    )
    assert booked.status_code == 201, booked.text
    assert booked.json()["points_earned"] == 20
    awards = client.get("/v1/purchases/A-1", headers=admin).json()["lines"][0]["awards"]
    assert {a["rule_id"]: a["points"] for a in awards} == {"base": 10, "spring": 10}
    assert client.get("/v1/purchases/A-1", headers=admin).json()["promo_codes"] == ["SPRING"]

    again = client.post("/v1/purchases", json={**order, "receipt_id": "A-2"}, headers=idem(**admin))
    assert (again.status_code, again.json()["details"]["reason"]) == (422, "used_up")
    other = basket(GROCERIES, member_id=second, promo_codes=["SPRING"], receipt_id="B-1")
    assert client.post("/v1/purchases", json=other, headers=idem(**admin)).status_code == 201
    last = basket(GROCERIES, member_id=third, promo_codes=["SPRING"], receipt_id="C-1")
    ask = {k: v for k, v in last.items() if k != "receipt_id"}
    refused = client.post("/v1/purchases/quote", json=ask, headers=admin)
    assert refused.status_code == 422, refused.text
    assert refused.json()["details"]["reason"] == "used_up"  # the total of 2 is reached

    back = client.post("/v1/purchases/B-1/returns", json={"return_id": "R1"}, headers=idem(**admin))
    assert back.status_code == 201, back.text
    assert client.post("/v1/purchases", json=last, headers=idem(**admin)).status_code == 201


def test_a_partial_return_keeps_the_use(
    client: TestClient, program: Program, admin: dict[str, str], make_member: Any
) -> None:
    """Only a purchase returned whole gives its promo codes' uses back."""
    member = make_member(program)
    order = basket(GROCERIES, BREAD, member_id=member, promo_codes=["SPRING"], receipt_id="P-1")
    assert client.post("/v1/purchases", json=order, headers=idem(**admin)).status_code == 201
    part = {"return_id": "R1", "lines": [{"line_id": "2"}]}
    assert (
        client.post("/v1/purchases/P-1/returns", json=part, headers=idem(**admin)).status_code
        == 201
    )
    retry = basket(GROCERIES, member_id=member, promo_codes=["SPRING"], receipt_id="P-2")
    r = client.post("/v1/purchases", json=retry, headers=idem(**admin))
    assert (r.status_code, r.json()["details"]["reason"]) == (422, "used_up")


def test_concurrent_uses_never_exceed_the_total(
    client: TestClient, program: Program, admin: dict[str, str], make_member: Any
) -> None:
    """Six members book SPRING at once; the total of 2 is taken exactly twice."""
    members = [make_member(program) for _ in range(6)]

    def book(n: int) -> int:
        order = basket(GROCERIES, member_id=members[n], promo_codes=["SPRING"], receipt_id=f"X{n}")
        return client.post("/v1/purchases", json=order, headers=idem(**admin)).status_code

    with ThreadPoolExecutor(6) as pool:
        codes = sorted(pool.map(book, range(6)))
    assert codes == [201, 201, 422, 422, 422, 422]


def test_payments_earn_by_tender_and_must_pay_what_is_due(
    client: TestClient,
    program: Program,
    admin: dict[str, str],
    key_for: KeyFactory,
    make_member: Any,
) -> None:
    """1000 RUB paid 400 by SBP, 400 by card and 200 by gift card: the base earns on 800
    (8 points), SBP adds 5 % of 400 (20); the purchase's payment method is the main
    tender. Payments that do not add up are refused."""
    member = make_member(program)
    paid = [
        {"tender": "sbp", "amount": "400.00"},
        {"tender": "card", "amount": "400"},
        {"tender": "gift_card", "amount": "200.00"},
    ]
    order = basket(GROCERIES, member_id=member, payments=paid)
    quote = client.post("/v1/purchases/quote", json=order, headers=admin)
    assert quote.status_code == 200, quote.text
    assert quote.json()["points_earned"] == 28
    booked = client.post(
        "/v1/purchases", json={**order, "receipt_id": "T-1"}, headers=idem(**admin)
    )
    assert booked.json()["points_earned"] == 28
    stored = client.get("/v1/purchases/T-1", headers=admin).json()
    assert stored["payment_method"] == "sbp"
    assert stored["payments"] == [
        {"tender": "sbp", "amount": "400.00"},
        {"tender": "card", "amount": "400.00"},
        {"tender": "gift_card", "amount": "200.00"},
    ]
    assert {a["rule_id"]: a["points"] for a in stored["lines"][0]["awards"]} == {
        "base": 8,
        "sbp": 20,
    }

    short = basket(GROCERIES, member_id=member, payments=paid[:2])
    r = client.post("/v1/purchases/quote", json=short, headers=admin)
    assert (r.status_code, r.json()["code"]) == (422, "validation_error")
    assert "add up to 800.00" in r.json()["detail"]
    bad = basket(GROCERIES, member_id=member, payments=[{"tender": "cheque", "amount": "1000"}])
    assert client.post("/v1/purchases/quote", json=bad, headers=admin).status_code == 422


def test_points_paid_are_a_tender_that_never_earns(
    client: TestClient, program: Program, admin: dict[str, str], make_member: Any, give_points: Any
) -> None:
    """Paying 300 of 1000 RUB with points: the money tenders pay 700, a points payment (if
    listed) must be the 300 the points pay; the base earns on 700 only."""
    member = make_member(program)
    give_points(member, 500)
    order = basket(
        GROCERIES,
        member_id=member,
        redeem_points=300,
        payments=[{"tender": "card", "amount": "700"}, {"tender": "points", "amount": "300"}],
    )
    quote = client.post("/v1/purchases/quote", json=order, headers=admin)
    assert quote.status_code == 200, quote.text
    assert quote.json()["points_earned"] == 7
    wrong = {
        **order,
        "payments": [{"tender": "card", "amount": "800"}, {"tender": "points", "amount": "200"}],
    }
    r = client.post("/v1/purchases/quote", json=wrong, headers=admin)
    assert r.status_code == 422
    assert "points payment" in r.json()["detail"]
    booked = client.post(
        "/v1/purchases", json={**order, "receipt_id": "T-2"}, headers=idem(**admin)
    )
    assert (booked.status_code, booked.json()["points_earned"]) == (201, 7)


def test_order_discount_is_spread_and_earns_on_what_was_paid(
    client: TestClient, program: Program, admin: dict[str, str], make_member: Any
) -> None:
    """A 120 RUB order discount on 1000 + 200 RUB is spread 100 + 20: the lines earn on 900
    and 180 (10 points spread 8 + 2, and the bread 3 a loaf); a full return refunds what
    was paid."""
    member = make_member(program)
    order = basket(GROCERIES, BREAD, member_id=member, order_discount="120.00")
    quote = client.post("/v1/purchases/quote", json=order, headers=admin).json()
    assert [ln["amount"] for ln in quote["lines"]] == ["900.00", "180.00"]
    assert [ln["points_earned"] for ln in quote["lines"]] == [8, 8]
    booked = client.post(
        "/v1/purchases", json={**order, "receipt_id": "D-1"}, headers=idem(**admin)
    )
    assert booked.status_code == 201, booked.text
    assert (booked.json()["total"], booked.json()["points_earned"]) == ("1080.00", 16)
    stored = client.get("/v1/purchases/D-1", headers=admin).json()
    assert (stored["order_discount"], stored["promo_codes"]) == ("120.00", [])
    assert [ln["amount"] for ln in stored["lines"]] == ["900.00", "180.00"]
    back = client.post("/v1/purchases/D-1/returns", json={"return_id": "R"}, headers=idem(**admin))
    assert (back.json()["refund"], back.json()["points_clawed_back"]) == ("1080.00", 16)
    too_much = {**order, "order_discount": "1200.01"}
    r = client.post("/v1/purchases/quote", json=too_much, headers=admin)
    assert (r.status_code, r.json()["code"]) == (422, "validation_error")


def test_openapi_describes_the_new_fields(client: TestClient) -> None:
    """The quote and purchase bodies document promo codes, payments and the order discount."""
    spec = client.get("/openapi.json").json()
    fields = spec["components"]["schemas"]["PurchaseCreate"]["properties"]
    for name in ("promo_codes", "payments", "order_discount"):
        assert fields[name]["description"], name
    assert "PaymentIn" in spec["components"]["schemas"]
