"""Paying an amount of money with points, and the minimum balance, over HTTP."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from kopilka.app import Kopilka
from kopilka.domain.program import Program
from tests.e2e.api.conftest import idem, row_counts
from tests.e2e.api.factories import RULES, basket, line, publish_rules

STEPPED = RULES.replace(
    "  max_percent: 50\n", "  max_percent: 50\n  step: 10\n  min_balance: 100\n"
)
ORDER = line("1", "300.00")


@pytest.fixture(autouse=True)
def rules(kopilka: Kopilka, program: Program) -> int:
    return publish_rules(kopilka.services, program, STEPPED)


def test_quote_commit_and_return_agree_on_an_amount_paid_with_points(
    client: TestClient, admin: dict[str, str], make_member: Any, program: Program, give_points: Any
) -> None:
    """55 RUB asked is 60 points (step 10, rounded up): the quote and the commit answer the
    same points and discount, and a full return restores exactly those points."""
    member_id = make_member(program)
    give_points(member_id, 500)
    body = basket(ORDER, member_id=member_id, redeem_amount="55")
    quote = client.post("/v1/purchases/quote", json=body, headers=admin)
    assert quote.status_code == 200, quote.text
    assert (quote.json()["redeem_points"], quote.json()["discount"]) == (60, "60.00")
    booked = client.post("/v1/purchases", json={**body, "receipt_id": "A-1"}, headers=idem(**admin))
    assert booked.status_code == 201, booked.text
    got = booked.json()
    assert (got["points_redeemed"], got["discount"], got["to_pay"]) == (60, "60.00", "240.00")
    assert got["points_earned"] == quote.json()["points_earned"] == 2  # on 240.00 paid
    back = client.post(
        "/v1/purchases/A-1/returns", json={"return_id": "R-1"}, headers=idem(**admin)
    )
    assert back.status_code == 201, back.text
    assert (back.json()["points_restored"], back.json()["points_clawed_back"]) == (60, 2)
    assert back.json()["balance"]["available"] == 500


def test_an_amount_over_the_limits_is_capped(
    client: TestClient, admin: dict[str, str], make_member: Any, program: Program, give_points: Any
) -> None:
    """Asking more than half the basket pays the most the rules allow (150 points)."""
    member_id = make_member(program)
    give_points(member_id, 1000)
    body = basket(ORDER, member_id=member_id, redeem_amount="290.50", receipt_id="A-2")
    booked = client.post("/v1/purchases", json=body, headers=idem(**admin))
    assert booked.status_code == 201, booked.text
    assert (booked.json()["points_redeemed"], booked.json()["discount"]) == (150, "150.00")


@pytest.mark.parametrize(
    ("extra", "status", "code", "fragment"),
    [
        pytest.param(
            {"redeem_amount": "50", "redeem_points": 50},
            422,
            "validation_error",
            "not both",
            id="both",
        ),
        pytest.param({"redeem_amount": "0"}, 409, "redemption_not_allowed", "positive", id="zero"),
        pytest.param(
            {"redeem_amount": "1.005"}, 422, "validation_error", "decimal", id="too-many-decimals"
        ),
        pytest.param({"redeem_amount": None}, 422, "validation_error", "null", id="null"),
    ],
)
def test_an_amount_not_payable_is_refused(
    client: TestClient,
    kopilka: Kopilka,
    admin: dict[str, str],
    make_member: Any,
    program: Program,
    give_points: Any,
    extra: dict[str, Any],
    status: int,
    code: str,
    fragment: str,
) -> None:
    """Both fields, a zero amount, a bad amount: a clear error, and nothing is booked."""
    member_id = make_member(program)
    give_points(member_id, 500)
    before = row_counts(kopilka.engine)["purchases"]
    body = basket(ORDER, member_id=member_id, receipt_id="A-3", **extra)
    r = client.post("/v1/purchases", json=body, headers=idem(**admin))
    assert (r.status_code, r.json()["code"]) == (status, code), r.text
    assert fragment in r.text
    assert row_counts(kopilka.engine)["purchases"] == before
    assert client.get("/v1/purchases/A-3", headers=admin).status_code == 404


def test_below_the_minimum_balance_points_cannot_pay(
    client: TestClient, admin: dict[str, str], make_member: Any, program: Program, give_points: Any
) -> None:
    """With 90 points (minimum balance 100) the quote offers nothing payable, and paying
    by points or by amount is 409 redemption_not_allowed naming the minimum."""
    member_id = make_member(program)
    give_points(member_id, 90)
    quote = client.post(
        "/v1/purchases/quote", json=basket(ORDER, member_id=member_id), headers=admin
    )
    assert quote.json()["max_redeemable"] == 0
    for extra in ({"redeem_points": 50}, {"redeem_amount": "50"}):
        body = basket(ORDER, member_id=member_id, receipt_id="B-1", **extra)
        r = client.post("/v1/purchases", json=body, headers=idem(**admin))
        assert (r.status_code, r.json()["code"]) == (409, "redemption_not_allowed"), r.text
        assert r.json()["details"]["min_balance"] == 100
        assert "at least 100 points" in r.json()["detail"]


def test_the_openapi_document_describes_the_new_fields(client: TestClient) -> None:
    """redeem_amount is in the quote and purchase bodies (with what the server does with
    it), and a program's expiry_from is in its settings."""
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    for body in ("QuoteRequest", "PurchaseCreate"):
        field = schemas[body]["properties"]["redeem_amount"]
        assert "rounded up" in field["description"]
        assert "not both" in field["description"]
    assert "redeem_amount" in schemas["QuotePublic"]["properties"]["redeem_points"]["description"]
    assert "activation" in schemas["ProgramPublic"]["properties"]["expiry_from"]["description"]
