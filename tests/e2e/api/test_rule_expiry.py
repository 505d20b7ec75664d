"""Points of a rule with its own expiry, over HTTP: a purchase earns into one lot per
expiry, returns claw back from the lots the returned lines' rules earned into, an event
earns under its rule's expiry, and ``verify`` stays clean."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from kopilka.app import Kopilka
from kopilka.domain.expiry import local_midnight
from kopilka.domain.program import Program
from kopilka.services import audit
from kopilka.store.tables import lots
from tests.e2e.api.conftest import idem
from tests.e2e.api.factories import basket, line, publish_rules

TZ = "Europe/Moscow"
RULES = """\
currency: RUB
rules:
  - id: base
    kind: rate
    description: "1 point per 100 RUB"
    rate: {points: 1, per: "100"}
  - id: promo
    kind: rate
    description: "Promo shelf: 5 points per 100 RUB, valid to the end of the month"
    rate: {points: 5, per: "100"}
    scope: {categories: [promo]}
    expires: {end_of: month}
  - id: welcome
    kind: event
    event: registration
    points: 50
    expires: {days: 30}
redemption:
  max_percent: 50
"""


@pytest.fixture
def program(make_program: Any) -> Program:
    prog: Program = make_program(timezone=TZ, expiry_kind="months_end", expiry_n=12)
    return prog


@pytest.fixture(autouse=True)
def rules(kopilka: Kopilka, program: Program) -> int:
    return publish_rules(kopilka.services, program, RULES)


def _lots(kopilka: Kopilka, member_id: int) -> list[tuple[int, int, Any]]:
    """The member's lots: (amount, remaining, expires_at), oldest first."""
    query = (
        select(lots.c.amount, lots.c.remaining, lots.c.expires_at)
        .where(lots.c.member_id == member_id, lots.c.source == "earn")
        .order_by(lots.c.id)
    )
    with kopilka.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(query)]


def test_a_purchase_earns_per_expiry_and_returns_claw_back_from_the_right_lots(
    client: TestClient, kopilka: Kopilka, admin: dict[str, str], make_member: Any, program: Program
) -> None:
    """300 RUB of groceries and 2 x 100 RUB from the promo shelf: 5 points in a lot under
    the program's 12 months, 10 in a lot to the end of March (Moscow). Returning one promo
    item takes 1 from the first and 5 from the second; the other one takes the rest."""
    member_id = make_member(program)
    order = basket(
        line("1", "300.00"),
        line("2", "200.00", category="promo", quantity="2"),
        member_id=member_id,
    )
    quote = client.post("/v1/purchases/quote", json=order, headers=admin).json()
    booked = client.post(
        "/v1/purchases", json={**order, "receipt_id": "E-1"}, headers=idem(**admin)
    )
    assert booked.status_code == 201, booked.text
    assert booked.json()["points_earned"] == quote["points_earned"] == 15
    year, month_end = local_midnight(2027, 4, 1, TZ), local_midnight(2026, 4, 1, TZ)
    assert _lots(kopilka, member_id) == [(5, 5, year), (10, 10, month_end)]

    for n, left in (
        (1, [(5, 4, year), (10, 5, month_end)]),
        (2, [(5, 3, year), (10, 0, month_end)]),
    ):
        back = client.post(
            "/v1/purchases/E-1/returns",
            json={"return_id": f"R-{n}", "lines": [{"line_id": "2", "quantity": "1"}]},
            headers=idem(**admin),
        )
        assert back.status_code == 201, back.text
        assert back.json()["points_clawed_back"] == 6
        assert _lots(kopilka, member_id) == left
    assert audit.verify_ledger(kopilka.services, program.id).ok


def test_an_event_earns_under_its_rules_expiry(
    client: TestClient, kopilka: Kopilka, admin: dict[str, str], make_member: Any, program: Program
) -> None:
    """Registration points are valid 30 days, to the end of the day in Moscow."""
    member_id = make_member(program)
    r = client.post(
        "/v1/events",
        json={"event_id": "reg-1", "type": "registration", "member_id": member_id},
        headers=idem(**admin),
    )
    assert r.status_code == 201, r.text
    # earned 14 March 2026, 15:00 in Moscow: valid through 13 April
    assert _lots(kopilka, member_id) == [(50, 50, local_midnight(2026, 4, 14, TZ))]
    assert audit.verify_ledger(kopilka.services, program.id).ok


def test_a_purchase_without_rule_expiries_keeps_one_lot(
    client: TestClient, kopilka: Kopilka, admin: dict[str, str], make_member: Any, program: Program
) -> None:
    """Lines earning under program-expiry rules only make a single lot, as before."""
    member_id = make_member(program)
    order = basket(line("1", "300.00"), member_id=member_id, receipt_id="E-2")
    assert client.post("/v1/purchases", json=order, headers=idem(**admin)).status_code == 201
    assert _lots(kopilka, member_id) == [(3, 3, local_midnight(2027, 4, 1, TZ))]
