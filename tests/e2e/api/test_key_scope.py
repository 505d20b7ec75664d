"""What a store-bound API key may touch (issue 18, item 11).

Store and channel are conditions of rules, so they come from the key: a pos key books
at its own store in the till channel, an ecommerce key in the web channel at its own
store (usually none). A body that names another is 403 outside_key_scope with nothing
written. A bound key reads, returns, captures and voids only its own store's receipts
and holds, and pays only with its own store's holds: anything else is 404, exactly as
if it did not exist. Unbound back-office keys act for the whole program.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from kopilka.api.app import create_app
from kopilka.app import Kopilka
from kopilka.domain.program import Program
from tests.e2e.api.conftest import KeyFactory, idem, row_counts
from tests.e2e.api.factories import basket, line, publish_rules

GROCERIES = line("1", "300.00", quantity="3")


@pytest.fixture(autouse=True)
def rules(kopilka: Kopilka, program: Program) -> int:
    return publish_rules(kopilka.services, program)


@pytest.fixture
def member(make_member: Any, program: Program, give_points: Any) -> int:
    member_id = int(make_member(program))
    give_points(member_id, 1000)
    return member_id


def _book(
    client: TestClient, headers: dict[str, str], member_id: int, receipt: str, **more: Any
) -> dict[str, Any]:
    r = client.post(
        "/v1/purchases",
        json=basket(GROCERIES, member_id=member_id, receipt_id=receipt, **more),
        headers=idem(**headers),
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


def _hold(client: TestClient, headers: dict[str, str], member_id: int, points: int = 50) -> int:
    r = client.post(
        "/v1/holds", json={"member_id": member_id, "points": points}, headers=idem(**headers)
    )
    assert r.status_code == 201, r.text
    return int(r.json()["hold_id"])


REFUSED_BOOKINGS = [
    ("pos", None, {"store": "S2"}),
    ("pos", None, {"channel": "web"}),
    ("pos", None, {"channel": "app"}),
    ("pos", None, {"store": "S2", "channel": "till"}),
    ("ecommerce", None, {"store": "MSK-001"}),
    ("ecommerce", None, {"channel": "till"}),
    ("ecommerce", None, {"channel": "till", "store": "MSK-001"}),
    ("ecommerce", None, {"channel": "app"}),
    ("ecommerce", "ONLINE", {"store": "MSK-001"}),
    ("admin", "S1", {"store": "S2"}),
]


@pytest.mark.parametrize("path", ["/v1/purchases/quote", "/v1/purchases"])
@pytest.mark.parametrize(
    ("role", "store", "claims"), REFUSED_BOOKINGS, ids=lambda v: str(v).replace(" ", "")
)
def test_a_key_cannot_book_at_another_store_or_channel(
    client: TestClient,
    kopilka: Kopilka,
    key_for: KeyFactory,
    member: int,
    path: str,
    role: str,
    store: str | None,
    claims: dict[str, str],
) -> None:
    """A quote or a purchase naming a store or channel other than the key's is 403
    outside_key_scope, naming the field, and writes nothing."""
    headers = key_for(role, store=store)
    body = basket(GROCERIES, member_id=member, **claims)
    if path == "/v1/purchases":
        body["receipt_id"] = "X-1"
    before = row_counts(kopilka.engine)
    r = client.post(path, json=body, headers=idem(**headers))
    assert r.status_code == 403, r.text
    assert r.json()["code"] == "outside_key_scope"
    assert r.json()["details"]["field"] in claims
    assert row_counts(kopilka.engine) == before


ALLOWED_BOOKINGS = [
    ("pos", "S1", {}, ("S1", "till")),
    ("pos", "S1", {"store": "S1", "channel": "till"}, ("S1", "till")),
    ("ecommerce", None, {}, (None, "web")),
    ("ecommerce", None, {"channel": "web"}, (None, "web")),
    ("ecommerce", "ONLINE", {"store": "ONLINE"}, ("ONLINE", "web")),
    ("admin", None, {}, (None, "till")),
    ("admin", None, {"store": "S2", "channel": "app"}, ("S2", "app")),
    ("admin", "S1", {"channel": "web"}, ("S1", "web")),
]


@pytest.mark.parametrize(
    ("role", "store", "claims", "booked"), ALLOWED_BOOKINGS, ids=lambda v: str(v).replace(" ", "")
)
def test_a_key_books_at_its_own_store_and_channel(
    client: TestClient,
    key_for: KeyFactory,
    member: int,
    role: str,
    store: str | None,
    claims: dict[str, str],
    booked: tuple[str | None, str],
) -> None:
    """A selling key's purchase is stored at the key's store and in its role's channel
    (repeating them is fine); an admin key books where the body says (default till)."""
    headers = key_for(role, store=store)
    quote = client.post(
        "/v1/purchases/quote", json=basket(GROCERIES, member_id=member, **claims), headers=headers
    )
    assert quote.status_code == 200, quote.text
    _book(client, headers, member, "OK-1", **claims)
    found = client.get("/v1/purchases/OK-1", headers=key_for("admin")).json()
    assert (found["store"], found["channel"]) == booked


def test_a_bound_key_reads_only_its_own_stores_purchases(
    client: TestClient, key_for: KeyFactory, member: int
) -> None:
    """SPB's and the web shop's receipts are 404 to MSK's till, with the very answer of a
    receipt that does not exist; the till's are 404 to the web shop and to a support key
    bound to another store; unbound support and admin keys read them all."""
    msk, spb = key_for("pos", store="MSK-001"), key_for("pos", store="SPB-001")
    shop = key_for("ecommerce")
    _book(client, msk, member, "MSK-R")
    _book(client, spb, member, "SPB-R")
    _book(client, shop, member, "WEB-R")

    def status(headers: dict[str, str], receipt: str) -> int:
        return client.get(f"/v1/purchases/{receipt}", headers=headers).status_code

    hidden = client.get("/v1/purchases/SPB-R", headers=msk)
    missing = client.get("/v1/purchases/NONE-R", headers=msk)
    assert (hidden.status_code, hidden.json()["code"]) == (404, "not_found")
    assert hidden.json()["title"] == missing.json()["title"]
    assert hidden.json()["detail"] == missing.json()["detail"].replace("NONE-R", "SPB-R")
    assert [status(msk, r) for r in ("MSK-R", "SPB-R", "WEB-R")] == [200, 404, 404]
    assert [status(spb, r) for r in ("MSK-R", "SPB-R", "WEB-R")] == [404, 200, 404]
    assert [status(shop, r) for r in ("MSK-R", "SPB-R", "WEB-R")] == [404, 404, 200]
    spb_support = key_for("support", store="SPB-001")
    assert [status(spb_support, r) for r in ("MSK-R", "SPB-R", "WEB-R")] == [404, 200, 404]
    for unbound in (key_for("support"), key_for("admin"), key_for("analyst")):
        assert [status(unbound, r) for r in ("MSK-R", "SPB-R", "WEB-R")] == [200, 200, 200]


def test_a_bound_key_cannot_return_another_stores_purchase(
    client: TestClient, kopilka: Kopilka, key_for: KeyFactory, member: int
) -> None:
    """MSK's till returning SPB's (or the web shop's) receipt gets 404 and writes nothing,
    not even under the return's idempotency key: SPB may then use the same return id."""
    msk, spb, shop = (
        key_for("pos", store="MSK-001"),
        key_for("pos", store="SPB-001"),
        key_for("ecommerce"),
    )
    _book(client, spb, member, "SPB-R")
    _book(client, shop, member, "WEB-R")
    _book(client, msk, member, "MSK-R")
    before = row_counts(kopilka.engine)
    for receipt, headers in (("SPB-R", msk), ("WEB-R", msk), ("MSK-R", shop)):
        r = client.post(
            f"/v1/purchases/{receipt}/returns", json={"return_id": "RT-1"}, headers=idem(**headers)
        )
        assert (r.status_code, r.json()["code"]) == (404, "not_found"), r.text
    assert row_counts(kopilka.engine) == before

    own = client.post(
        "/v1/purchases/SPB-R/returns", json={"return_id": "RT-1"}, headers=idem(**spb)
    )
    assert own.status_code == 201, own.text
    web = client.post(
        "/v1/purchases/WEB-R/returns", json={"return_id": "RT-1"}, headers=idem(**shop)
    )
    assert web.status_code == 201, web.text
    support = key_for("support")
    back_office = client.post(
        "/v1/purchases/MSK-R/returns", json={"return_id": "RT-9"}, headers=idem(**support)
    )
    assert back_office.status_code == 201, back_office.text


@pytest.mark.parametrize("action", ["read", "capture", "void"])
def test_a_bound_key_cannot_touch_another_stores_or_the_web_shops_hold(
    client: TestClient, kopilka: Kopilka, key_for: KeyFactory, member: int, action: str
) -> None:
    """SPB's hold and the web shop's are 404 to MSK's till (read, capture, void), MSK's is
    404 to the web shop, and nothing is written; each key ends its own hold, and an admin
    key any hold."""
    msk, spb, shop = (
        key_for("pos", store="MSK-001"),
        key_for("pos", store="SPB-001"),
        key_for("ecommerce"),
    )
    holds = {"msk": _hold(client, msk, member), "spb": _hold(client, spb, member)}
    holds["web"] = _hold(client, shop, member)

    def act(headers: dict[str, str], hold_id: int) -> Any:
        if action == "read":
            return client.get(f"/v1/holds/{hold_id}", headers=headers)
        return client.post(f"/v1/holds/{hold_id}/{action}", headers=idem(**headers))

    before = row_counts(kopilka.engine)
    for headers, hold in ((msk, "spb"), (msk, "web"), (shop, "msk"), (spb, "msk")):
        r = act(headers, holds[hold])
        assert (r.status_code, r.json()["code"]) == (404, "not_found"), (hold, r.text)
        assert r.json()["detail"] == f"hold {holds[hold]} not found"
    assert row_counts(kopilka.engine) == before

    assert act(msk, holds["msk"]).status_code == 200
    assert act(shop, holds["web"]).status_code == 200
    assert act(key_for("admin"), holds["spb"]).status_code == 200
    assert client.get(f"/v1/holds/{holds['spb']}", headers=spb).status_code == 200


def test_a_purchase_is_paid_only_with_a_hold_of_its_own_store(
    client: TestClient, kopilka: Kopilka, key_for: KeyFactory, member: int
) -> None:
    """MSK's till paying with SPB's or the web shop's hold, or the web shop with MSK's,
    is 404 and books nothing: no purchase, no capture; MSK's own hold pays."""
    msk, spb, shop = (
        key_for("pos", store="MSK-001"),
        key_for("pos", store="SPB-001"),
        key_for("ecommerce"),
    )
    spb_hold, web_hold, msk_hold = (
        _hold(client, spb, member),
        _hold(client, shop, member),
        _hold(client, msk, member),
    )
    before = row_counts(kopilka.engine)
    for headers, hold_id in ((msk, spb_hold), (msk, web_hold), (shop, msk_hold)):
        r = client.post(
            "/v1/purchases",
            json=basket(GROCERIES, member_id=member, receipt_id="PAY-1", hold_id=hold_id),
            headers=idem(**headers),
        )
        assert (r.status_code, r.json()["code"]) == (404, "not_found"), r.text
    after = row_counts(kopilka.engine)
    # only the failures under the callers' Idempotency-Keys are recorded
    assert {t: after[t] - before[t] for t in after if after[t] != before[t]} == {
        "idempotency_keys": 3
    }
    admin = key_for("admin")
    for hold_id in (spb_hold, web_hold, msk_hold):
        assert client.get(f"/v1/holds/{hold_id}", headers=admin).json()["status"] == "active"

    paid = _book(client, msk, member, "PAY-1", hold_id=msk_hold)
    assert paid["points_redeemed"] == 50


def test_the_refusal_is_documented_in_openapi(kopilka: Kopilka) -> None:
    """The purchase and quote operations document the 403 outside_key_scope problem, and
    enrolment and the profile change the 403 field_not_allowed one."""
    paths = create_app(kopilka).openapi()["paths"]
    for path in ("/v1/purchases", "/v1/purchases/quote"):
        assert (
            "Outside the API key's store or channel"
            in (paths[path]["post"]["responses"]["403"]["description"])
        )
    assert "Field not allowed" in paths["/v1/members"]["post"]["responses"]["403"]["description"]
    patch = paths["/v1/members/{member_id}"]["patch"]["responses"]
    assert "Field not allowed" in patch["403"]["description"]
    assert "Birthday changed too recently" in patch["409"]["description"]
