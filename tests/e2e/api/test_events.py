"""Events over HTTP: a member's review or share earns what the rules give, within limits."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from kopilka.app import Kopilka
from kopilka.domain.clock import FrozenClock
from kopilka.domain.program import Program
from tests.e2e.api.conftest import KeyFactory, card, idem
from tests.e2e.api.factories import publish_rules


@pytest.fixture(autouse=True)
def rules(kopilka: Kopilka, program: Program) -> int:
    return publish_rules(kopilka.services, program)


def event(kind: str, **more: Any) -> dict[str, Any]:
    """An event body with a fresh event id."""
    return {"event_id": uuid.uuid4().hex, "type": kind, **more}


def test_reviews_earn_until_the_monthly_limit_then_again_next_month(
    client: TestClient, key_for: KeyFactory, make_member: Any, program: Program, clock: FrozenClock
) -> None:
    """Two reviews a month earn 20 points each, the third earns nothing (and says so with
    no awards), and a review next month earns again."""
    shop = key_for("ecommerce")
    member_id = make_member(program)

    def review() -> dict[str, Any]:
        r = client.post(
            "/v1/events", json=event("review", member_id=member_id), headers=idem(**shop)
        )
        assert r.status_code == 201, r.text
        return dict(r.json())

    first, second, third = review(), review(), review()
    assert [e["points_earned"] for e in (first, second, third)] == [20, 20, 0]
    assert first["awards"][0]["rule_id"] == "review"
    assert (third["awards"], third["balance"]["available"]) == ([], 40)
    clock.advance(timedelta(days=31))
    assert review()["points_earned"] == 20


def test_an_event_names_its_member_by_card_and_an_unknown_action_earns_nothing(
    client: TestClient, key_for: KeyFactory, admin: dict[str, str]
) -> None:
    """A till records an event for the card it scanned; an action no rule names is
    recorded with 0 points."""
    till = key_for("pos")
    number = card()
    enrolled = client.post(
        "/v1/members", json={"identifiers": {"card": number}}, headers=idem(**admin)
    )
    shared = client.post(
        "/v1/events",
        json=event("review", member={"card": number}, attributes={"with_photos": True}),
        headers=idem(**till),
    )
    assert shared.json()["member_id"] == enrolled.json()["id"]
    assert shared.json()["points_earned"] == 20
    unknown = client.post(
        "/v1/events", json=event("social_share", member={"card": number}), headers=idem(**till)
    )
    assert (unknown.status_code, unknown.json()["points_earned"]) == (201, 0)


def test_an_event_id_counts_once_whatever_the_header_key(
    client: TestClient, admin: dict[str, str], make_member: Any, program: Program
) -> None:
    """An event sent again under a fresh Idempotency-Key earns nothing more and answers
    as the first time."""
    body = event("review", member_id=make_member(program))
    first = client.post("/v1/events", json=body, headers=idem(**admin))
    again = client.post("/v1/events", json=body, headers=idem(**admin))
    assert (again.status_code, again.json()) == (201, first.json())
    assert again.json()["balance"]["available"] == 20


def test_an_event_for_a_member_of_another_program_is_not_found(
    client: TestClient, admin: dict[str, str], make_member: Any, make_program: Any
) -> None:
    """A key of one program cannot credit a member of another: 404 not_found."""
    stranger = make_member(make_program())
    r = client.post("/v1/events", json=event("review", member_id=stranger), headers=idem(**admin))
    assert (r.status_code, r.json()["code"]) == (404, "not_found")
