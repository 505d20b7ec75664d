"""Idempotency-Key on every write: one key, at most one effect."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from kopilka.app import Kopilka
from kopilka.domain.program import Program
from kopilka.services import purchases as purchase_svc
from tests import commands
from tests.e2e.api.conftest import card, idem, row_counts
from tests.e2e.api.factories import RULES, RULES_DOUBLE_BASE, basket, line

Post = Callable[..., Response]


@pytest.fixture
def member(
    client: TestClient, kopilka: Kopilka, program: Program, admin: dict[str, str], give_points: Any
) -> int:
    """A member with 1000 points and a purchase ``R-<member_id>`` of two units to return."""
    r = client.post("/v1/members", json={"identifiers": {"card": card()}}, headers=idem(**admin))
    member_id = int(r.json()["id"])
    give_points(member_id, 1000)
    receipt = basket(line("1", "20.00", quantity="2"), member_id=member_id)
    purchase_svc.commit(
        kopilka.services,
        program,
        commands.purchase(kopilka.services, program, {**receipt, "receipt_id": f"R-{member_id}"}),
    )
    return member_id


def _purchase(m: int, receipt_id: str) -> dict[str, Any]:
    return basket(line("1", "10.00"), member_id=m, receipt_id=receipt_id)


def _return(return_id: str) -> dict[str, Any]:
    return {"return_id": return_id, "lines": [{"line_id": "1", "quantity": "1"}]}


WRITES: dict[str, Callable[[int], tuple[str, str, dict[str, Any], dict[str, Any]]]] = {
    # name: member_id -> (method, url, body, another body)
    "enroll": lambda m: (
        "POST",
        "/v1/members",
        {"identifiers": {"card": card()}},
        {"identifiers": {"card": card()}},
    ),
    "profile": lambda m: ("PATCH", f"/v1/members/{m}", {"first_name": "A"}, {"first_name": "B"}),
    "block": lambda m: ("POST", f"/v1/members/{m}/block", {"reason": "a"}, {"reason": "b"}),
    "earn": lambda m: ("POST", f"/v1/members/{m}/earn", {"points": 5}, {"points": 6}),
    "redeem": lambda m: ("POST", f"/v1/members/{m}/redeem", {"points": 5}, {"points": 6}),
    "hold": lambda m: (
        "POST",
        "/v1/holds",
        {"member_id": m, "points": 5},
        {"member_id": m, "points": 6},
    ),
    "adjust": lambda m: (
        "POST",
        f"/v1/admin/members/{m}/adjustments",
        {"delta": 5, "reason": "fix"},
        {"delta": -5, "reason": "fix"},
    ),
    "job": lambda m: ("POST", "/v1/admin/jobs/expire", {}, {"as_of": "2026-01-01T00:00:00Z"}),
    "purchase": lambda m: ("POST", "/v1/purchases", _purchase(m, "A"), _purchase(m, "B")),
    "return": lambda m: ("POST", f"/v1/purchases/R-{m}/returns", _return("A"), _return("B")),
    "event": lambda m: (
        "POST",
        "/v1/events",
        {"event_id": "A", "type": "review", "member_id": m},
        {"event_id": "B", "type": "review", "member_id": m},
    ),
    "publish": lambda m: (
        "POST",
        "/v1/rules",
        {"document": RULES},
        {"document": RULES_DOUBLE_BASE},
    ),
}


@pytest.mark.parametrize("write", list(WRITES))
def test_same_key_and_body_replay_the_first_response_and_write_once(
    client: TestClient, kopilka: Kopilka, admin: dict[str, str], member: int, write: str
) -> None:
    """Repeating a write with its key returns the identical status and body, and the
    repeat changes no row."""
    method, url, body, _ = WRITES[write](member)
    headers = idem(**admin)
    first = client.request(method, url, json=body, headers=headers)
    assert first.status_code < 300, first.text
    after_first = row_counts(kopilka.engine)
    again = client.request(method, url, json=body, headers=headers)
    assert (again.status_code, again.json()) == (first.status_code, first.json())
    assert row_counts(kopilka.engine) == after_first


@pytest.mark.parametrize("write", list(WRITES))
def test_same_key_with_another_body_is_a_conflict(
    client: TestClient, kopilka: Kopilka, admin: dict[str, str], member: int, write: str
) -> None:
    """The same key with a different body is 409 idempotency_conflict and writes nothing."""
    method, url, body, other = WRITES[write](member)
    headers = idem(**admin)
    assert client.request(method, url, json=body, headers=headers).status_code < 300
    before = row_counts(kopilka.engine)
    conflict = client.request(method, url, json=other, headers=headers)
    assert conflict.status_code == 409, conflict.text
    assert conflict.json()["code"] == "idempotency_conflict"
    assert row_counts(kopilka.engine) == before


def test_one_key_cannot_serve_two_operations(
    client: TestClient, admin: dict[str, str], member: int
) -> None:
    """A key used for an earn cannot then be used for a redeem."""
    headers = idem(**admin)
    client.post(f"/v1/members/{member}/earn", json={"points": 5}, headers=headers)
    r = client.post(f"/v1/members/{member}/redeem", json={"points": 5}, headers=headers)
    assert r.status_code == 409
    assert r.json()["code"] == "idempotency_conflict"


def test_a_failed_request_stays_failed_under_its_key(
    client: TestClient, admin: dict[str, str], member: int, give_points: Any
) -> None:
    """A redeem refused for lack of points is refused again on retry, even after the
    member earned enough: a retry never flips the outcome."""
    headers = idem(**admin)
    body = {"points": 1500}
    first = client.post(f"/v1/members/{member}/redeem", json=body, headers=headers)
    assert first.json()["code"] == "insufficient_points"
    give_points(member, 1000)
    again = client.post(f"/v1/members/{member}/redeem", json=body, headers=headers)
    assert (again.status_code, again.json()) == (first.status_code, first.json())


@pytest.mark.parametrize("write", list(WRITES))
def test_a_write_without_a_key_is_a_validation_problem(
    client: TestClient, kopilka: Kopilka, admin: dict[str, str], member: int, write: str
) -> None:
    """A write without Idempotency-Key is 422 validation_error naming the header, and
    writes nothing."""
    method, url, body, _ = WRITES[write](member)
    before = row_counts(kopilka.engine)
    r = client.request(method, url, json=body, headers=admin)
    assert r.status_code == 422
    problem = r.json()
    assert problem["code"] == "validation_error"
    assert ["header", "Idempotency-Key"] in [e["loc"] for e in problem["errors"]]
    assert row_counts(kopilka.engine) == before


def test_an_audited_write_replayed_is_audited_once(
    client: TestClient, admin: dict[str, str], member: int
) -> None:
    """Replaying an adjustment neither moves points again nor writes a second audit row."""
    headers = idem(**admin)
    body = {"delta": 7, "reason": "late delivery"}
    for _ in range(3):
        client.post(f"/v1/admin/members/{member}/adjustments", json=body, headers=headers)
    audit = client.get("/v1/admin/audit", params={"target": f"member:{member}"}, headers=admin)
    assert [e["action"] for e in audit.json()["items"]] == ["points.adjust"]
    balance = client.get(f"/v1/members/{member}/balance", headers=admin).json()
    assert balance["available"] == 1007
