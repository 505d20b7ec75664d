"""A caller's Idempotency-Key is its own: it never takes the key a receipt, a return or an
event is booked under, it is scoped to the caller's API key, and it is sent once."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from kopilka.app import Kopilka
from kopilka.domain.program import Program
from kopilka.services import purchases as purchase_svc
from tests import commands
from tests.e2e.api.conftest import KeyFactory, idem, row_counts
from tests.e2e.api.factories import basket, line, publish_rules


@pytest.fixture
def member(kopilka: Kopilka, program: Program, make_member: Any, give_points: Any) -> int:
    """A member with 100 points, under the published rules."""
    publish_rules(kopilka.services, program)
    member_id = int(make_member(program))
    give_points(member_id, 100)
    return member_id


def _earn_under(client: TestClient, auth: dict[str, str], member_id: int, key: str) -> None:
    r = client.post(
        f"/v1/members/{member_id}/earn",
        json={"points": 5},
        headers={**auth, "Idempotency-Key": key},
    )
    assert r.status_code == 201, r.text


def test_a_callers_key_shaped_as_a_receipts_key_does_not_block_the_receipt(
    client: TestClient, admin: dict[str, str], member: int
) -> None:
    """An earn sent with ``Idempotency-Key: purchase:R-1001`` leaves receipt R-1001
    bookable (it was 409 idempotency_conflict for good), and the receipt then replays."""
    _earn_under(client, admin, member, "purchase:R-1001")
    order = basket(line("1", "300.00"), member_id=member, receipt_id="R-1001")
    booked = client.post("/v1/purchases", json=order, headers=idem(**admin))
    assert booked.status_code == 201, booked.text
    assert (booked.json()["receipt_id"], booked.json()["points_earned"]) == ("R-1001", 3)
    again = client.post("/v1/purchases", json=order, headers=idem(**admin))
    assert (again.status_code, again.json()) == (201, booked.json())


def test_a_callers_key_shaped_as_an_events_key_does_not_block_the_event(
    client: TestClient, admin: dict[str, str], member: int
) -> None:
    """An earn under ``event:E-1`` leaves event E-1 to be recorded, once."""
    _earn_under(client, admin, member, "event:E-1")
    body = {"event_id": "E-1", "type": "review", "member_id": member}
    first = client.post("/v1/events", json=body, headers=idem(**admin))
    assert first.status_code == 201, first.text
    assert first.json()["points_earned"] == 20
    again = client.post("/v1/events", json=body, headers=idem(**admin))
    assert (again.status_code, again.json()) == (201, first.json())


def test_a_callers_key_shaped_as_a_returns_key_does_not_block_the_return(
    client: TestClient, kopilka: Kopilka, program: Program, admin: dict[str, str], member: int
) -> None:
    """An earn under ``return:R-7:X-1`` leaves return X-1 of receipt R-7 to be made, once."""
    receipt = basket(line("1", "20.00", quantity="2"), member_id=member, receipt_id="R-7")
    purchase_svc.commit(
        kopilka.services, program, commands.purchase(kopilka.services, program, receipt)
    )
    _earn_under(client, admin, member, "return:R-7:X-1")
    body = {"return_id": "X-1", "lines": [{"line_id": "1", "quantity": "1"}]}
    first = client.post("/v1/purchases/R-7/returns", json=body, headers=idem(**admin))
    assert first.status_code == 201, first.text
    again = client.post("/v1/purchases/R-7/returns", json=body, headers=idem(**admin))
    assert (again.status_code, again.json()) == (201, first.json())


def test_a_receipt_booked_under_its_own_key_as_the_header_replays(
    client: TestClient, admin: dict[str, str], member: int
) -> None:
    """A till that sends the receipt's own key as its Idempotency-Key, or a fresh one,
    gets the booking's answer on a retry: its key and the receipt's never clash."""
    order = basket(line("1", "300.00"), member_id=member, receipt_id="K-2")
    headers = {**admin, "Idempotency-Key": "purchase:K-2"}
    first = client.post("/v1/purchases", json=order, headers=headers)
    assert first.status_code == 201, first.text
    for retry in (headers, idem(**admin)):
        again = client.post("/v1/purchases", json=order, headers=retry)
        assert (again.status_code, again.json()) == (201, first.json())


def test_the_same_key_from_another_api_key_gets_its_own_outcome(
    client: TestClient, key_for: KeyFactory, member: int
) -> None:
    """Two API keys of one program sending the same Idempotency-Key and body each get an
    effect of their own (not the first caller's stored answer); each caller replaying
    gets its own stored answer, and another body from the other caller is no conflict."""
    first_caller, second_caller = key_for("admin"), key_for("admin")
    url, body = f"/v1/members/{member}/earn", {"points": 5}
    shared = {"Idempotency-Key": "order-77"}
    mine = client.post(url, json=body, headers={**first_caller, **shared})
    theirs = client.post(url, json=body, headers={**second_caller, **shared})
    assert (mine.status_code, theirs.status_code) == (201, 201), theirs.text
    assert theirs.json()["entry_id"] != mine.json()["entry_id"]
    assert theirs.json()["balance"]["available"] == mine.json()["balance"]["available"] + 5
    for caller, answer in ((first_caller, mine), (second_caller, theirs)):
        again = client.post(url, json=body, headers={**caller, **shared})
        assert (again.status_code, again.json()) == (201, answer.json())
    other = client.post(
        f"/v1/members/{member}/redeem", json=body, headers={**key_for("admin"), **shared}
    )
    assert other.status_code == 201, other.text


def test_a_failure_is_replayed_to_its_caller_only(
    client: TestClient, key_for: KeyFactory, member: int
) -> None:
    """A refusal stored under one caller's key is not another caller's answer."""
    first_caller, second_caller = key_for("admin"), key_for("admin")
    url, shared = f"/v1/members/{member}/redeem", {"Idempotency-Key": "pay-1"}
    refused = client.post(url, json={"points": 150}, headers={**first_caller, **shared})
    assert (refused.status_code, refused.json()["code"]) == (409, "insufficient_points")
    paid = client.post(url, json={"points": 50}, headers={**second_caller, **shared})
    assert paid.status_code == 201, paid.text


@pytest.mark.parametrize("values", [("a-1", "a-2"), ("a-1", "a-1")])
@pytest.mark.parametrize(
    "write",
    ["earn", "purchase", "event"],
)
def test_two_idempotency_key_headers_are_refused(
    client: TestClient,
    kopilka: Kopilka,
    admin: dict[str, str],
    member: int,
    write: str,
    values: tuple[str, str],
) -> None:
    """Two Idempotency-Key headers (different or equal) are 400
    duplicate_idempotency_key as problem+json, and nothing is written: neither key is
    taken, so the write then goes through under either."""
    url, body = {
        "earn": (f"/v1/members/{member}/earn", {"points": 5}),
        "purchase": (
            "/v1/purchases",
            basket(line("1", "300.00"), member_id=member, receipt_id="D-1"),
        ),
        "event": ("/v1/events", {"event_id": "E-2", "type": "review", "member_id": member}),
    }[write]
    headers = [*admin.items(), *(("Idempotency-Key", v) for v in values)]
    before = row_counts(kopilka.engine)
    r = client.post(url, json=body, headers=headers)
    assert r.status_code == 400, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert (problem["code"], problem["status"]) == ("duplicate_idempotency_key", 400)
    assert row_counts(kopilka.engine) == before
    one = client.post(url, json=body, headers={**admin, "Idempotency-Key": values[1]})
    assert one.status_code == 201, one.text


def test_the_duplicate_header_problem_is_documented_on_writes(client: TestClient) -> None:
    """Every write documents its 400 duplicate_idempotency_key; a read does not."""
    paths = client.get("/openapi.json").json()["paths"]
    assert "400" in paths["/v1/purchases"]["post"]["responses"]
    assert "400" in paths["/v1/members/{member_id}/earn"]["post"]["responses"]
    assert "400" not in paths["/v1/members/{member_id}"]["get"]["responses"]
