"""The edges of API input: one id grammar in bodies and paths, amounts in ASCII digits
within their bounds, whole-number floats, and the status each refusal has."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from kopilka.domain.program import Program
from kopilka.services.context import ServiceContext
from tests.e2e.api.conftest import idem, row_counts
from tests.e2e.api.factories import basket, line, publish_rules


@pytest.fixture
def member(kopilka: Any, program: Program, make_member: Any) -> int:
    publish_rules(kopilka.services, program)
    member_id: int = make_member(program)
    return member_id


def _refused(
    client: TestClient, engine: Engine, admin: dict[str, str], path: str, body: Any
) -> dict[str, Any]:
    """POST ``body`` and return its 422 problem, checking that nothing was written."""
    before = row_counts(engine)
    r = client.post(path, json=body, headers=idem(**admin))
    assert (r.status_code, r.json()["code"]) == (422, "validation_error"), r.text
    assert row_counts(engine) == before
    return dict(r.json())


@pytest.mark.parametrize("receipt_id", ["R/1", "R 1", "-R1", "R1?", "R#1", "Ж-1", "R" * 65])
def test_an_id_outside_the_grammar_is_refused_and_nothing_is_booked(
    client: TestClient, ctx: ServiceContext, admin: dict[str, str], member: int, receipt_id: str
) -> None:
    """A receipt id the path could not address ("R/1" was booked, then neither readable
    nor returnable) is refused by the body, with nothing written."""
    body = basket(line("1", "10.00"), member_id=member, receipt_id=receipt_id)
    problem = _refused(client, ctx.engine, admin, "/v1/purchases", body)
    assert problem["errors"][0]["loc"] == ["body", "receipt_id"]


def test_every_id_the_body_takes_can_be_read_and_returned_by_its_path(
    client: TestClient, admin: dict[str, str], member: int
) -> None:
    """An id using every character of the grammar is booked, read and returned by it."""
    receipt_id = "R_1.a-B-" + "9" * 56  # 64 characters
    line_id = "L_1.a-b-2"
    body = basket(line(line_id, "10.00"), member_id=member, receipt_id=receipt_id)
    assert client.post("/v1/purchases", json=body, headers=idem(**admin)).status_code == 201
    read = client.get(f"/v1/purchases/{receipt_id}", headers=admin)
    assert (read.status_code, read.json()["lines"][0]["line_id"]) == (200, line_id)
    back = client.post(
        f"/v1/purchases/{receipt_id}/returns",
        json={"return_id": "RET_1.a-b-c", "lines": [{"line_id": line_id}]},
        headers=idem(**admin),
    )
    assert back.status_code == 201, back.text


@pytest.mark.parametrize(
    ("amount", "quantity", "field"),
    [
        ("١٢٣", "1", "amount"),  # Arabic-Indic digits were booked as 123
        ("１２３", "1", "amount"),  # fullwidth digits
        ("123", "٢", "quantity"),
        ("1e3", "1", "amount"),
        ("1_000", "1", "amount"),
        ("999999999999.99", "1", "amount"),  # earned 10,000,000,049 points
        ("10000000", "1", "amount"),  # a line is below 10^7
        ("12.345", "1", "amount"),  # at most 2 decimals
        (1.5, "1", "amount"),  # a JSON number must be whole
        ("10", "1000000", "quantity"),  # a quantity is below 10^6
        ("10", "0", "quantity"),
        ("10", "0.0001", "quantity"),
    ],
)
def test_amounts_and_quantities_outside_their_grammar_are_refused(
    client: TestClient,
    ctx: ServiceContext,
    admin: dict[str, str],
    member: int,
    amount: Any,
    quantity: str,
    field: str,
) -> None:
    """Amounts and quantities are ASCII decimals within their bounds; anything else is a
    422 naming the field, with nothing written."""
    body = basket(line("1", amount, quantity=quantity), member_id=member, receipt_id="A-1")
    problem = _refused(client, ctx.engine, admin, "/v1/purchases", body)
    assert problem["errors"][0]["loc"][:4] == ["body", "lines", 0, field]


def test_a_receipt_totalling_its_maximum_is_refused(
    client: TestClient, ctx: ServiceContext, admin: dict[str, str], member: int
) -> None:
    """Lines each within their bound that total 10^8 or more are refused as a whole."""
    lines = [line(str(i), "9999999.99") for i in range(11)]
    body = basket(*lines, member_id=member, receipt_id="BIG-1")
    problem = _refused(client, ctx.engine, admin, "/v1/purchases", body)
    assert problem["details"]["field"] == "lines"
    ten = basket(*lines[:10], member_id=member, receipt_id="BIG-2")
    assert client.post("/v1/purchases", json=ten, headers=idem(**admin)).status_code == 201


def test_the_largest_purchase_mints_far_fewer_points_than_the_maximum(
    client: TestClient, admin: dict[str, str], member: int
) -> None:
    """At the bounds, a purchase earns under the documented 10^9 points a movement may
    have (1 point per 100 RUB here: below 10^6)."""
    lines = [line(str(i), "9999999.99") for i in range(10)]
    r = client.post(
        "/v1/purchases",
        json=basket(*lines, member_id=member, receipt_id="MAX-1"),
        headers=idem(**admin),
    )
    assert r.status_code == 201, r.text
    assert 0 < r.json()["points_earned"] < 10**6


def test_a_whole_number_written_as_a_float_is_that_number(
    client: TestClient, ctx: ServiceContext, admin: dict[str, str], member: int
) -> None:
    """JSON Schema counts 2029.0 as an integer, so the server takes it; 20.5 stays a 422."""
    r = client.post(f"/v1/members/{member}/earn", json={"points": 2029.0}, headers=idem(**admin))
    assert (r.status_code, r.json()["points"]) == (201, 2029)
    _refused(client, ctx.engine, admin, f"/v1/members/{member}/earn", {"points": 20.5})
    _refused(client, ctx.engine, admin, f"/v1/members/{member}/earn", {"points": "20"})


def test_paying_more_points_than_the_member_has_is_409_everywhere(
    client: TestClient, admin: dict[str, str], member: int, give_points: Any
) -> None:
    """A purchase paid with more points than the member has is refused as /redeem and
    holds refuse it: 409 insufficient_points (it was a 422 on purchases)."""
    give_points(member, 50)
    order = basket(line("1", "300.00"), member_id=member, receipt_id="P-1", redeem_points=100)
    for path, body in (
        ("/v1/purchases", order),
        ("/v1/purchases/quote", {k: v for k, v in order.items() if k != "receipt_id"}),
        (f"/v1/members/{member}/redeem", {"points": 100}),
        ("/v1/holds", {"member_id": member, "points": 100}),
    ):
        r = client.post(path, json=body, headers=idem(**admin))
        assert (r.status_code, r.json()["code"]) == (409, "insufficient_points"), path


def test_returning_more_than_was_bought_is_409_reversal_exceeded(
    client: TestClient, admin: dict[str, str], member: int
) -> None:
    """Over-returning answers as the document says (it was a 422 validation_error), and a
    line id that is no line of the purchase is 404."""
    order = basket(line("1", "300.00", quantity="2"), member_id=member, receipt_id="RX-1")
    assert client.post("/v1/purchases", json=order, headers=idem(**admin)).status_code == 201
    too_many = {"return_id": "r1", "lines": [{"line_id": "1", "quantity": "3"}]}
    r = client.post("/v1/purchases/RX-1/returns", json=too_many, headers=idem(**admin))
    assert (r.status_code, r.json()["code"]) == (409, "reversal_exceeded")
    nowhere = {"return_id": "r2", "lines": [{"line_id": "9"}]}
    r = client.post("/v1/purchases/RX-1/returns", json=nowhere, headers=idem(**admin))
    assert (r.status_code, r.json()["code"]) == (404, "not_found")
    documented = client.get("/openapi.json").json()["paths"]["/v1/purchases/{receipt_id}/returns"]
    assert {"404", "409"} <= set(documented["post"]["responses"])


def test_name_exactly_one_member_as_the_schema_says(
    client: TestClient, ctx: ServiceContext, admin: dict[str, str], member: int
) -> None:
    """Neither, both, or a null member is refused, and the schema states it with oneOf."""
    lines = [line("1", "10.00")]
    for who in ({}, {"member_id": member, "member": {"card": "C1234"}}, {"member_id": None}):
        _refused(client, ctx.engine, admin, "/v1/purchases/quote", basket(*lines, **who))
    schema = client.get("/openapi.json").json()["components"]["schemas"]["QuoteRequest"]
    assert schema["oneOf"] == [{"required": ["member_id"]}, {"required": ["member"]}]


def test_the_longest_ids_book_and_return_on_every_database(
    client: TestClient, admin: dict[str, str], member: int
) -> None:
    """A 64-character receipt id returned under a 64-character return id fits every column
    (the return's journal reference, "<receipt>/<return>", would be 129 characters)."""
    receipt_id, return_id = "R" * 64, "T" * 64
    body = basket(line("1", "300.00"), member_id=member, receipt_id=receipt_id)
    assert client.post("/v1/purchases", json=body, headers=idem(**admin)).status_code == 201
    back = client.post(
        f"/v1/purchases/{receipt_id}/returns", json={"return_id": return_id}, headers=idem(**admin)
    )
    assert back.status_code == 201, back.text
    read = client.get(f"/v1/purchases/{receipt_id}", headers=admin).json()
    assert read["returns"][0]["return_id"] == return_id
