"""Personal offers and favourite categories over HTTP: the back office uploads an offer's
list and reads its results, the app lists and activates a member's offers and chooses
favourite categories, a till's purchase then earns them; refusals are problems with
stable codes."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient

from kopilka.app import Kopilka
from kopilka.domain.program import Program
from tests.e2e.api.conftest import KeyFactory, idem
from tests.e2e.api.factories import basket, line, publish_rules

# the tests' clock: 2026-03-14 (Moscow)
OFFERS = """
schema_version: 1
rules:
  - {id: base, kind: rate, rate: {points: 1, per: "100"}}
  - id: coffee-x3
    kind: multiplier
    factor: 3
    description: "x3 on coffee"
    scope: {categories: [coffee]}
    offer:
      audience: {listed: true}
      requires_activation: true
      window: {from: 2026-03-09, to: 2026-03-15}
  - id: fav
    kind: favourite_categories
    choose: 1
    from: [dairy, fruit]
    factor: 2
"""


def _member(client: TestClient, headers: dict[str, str]) -> tuple[int, str]:
    card = uuid.uuid4().hex[:12].upper()
    r = client.post("/v1/members", json={"identifiers": {"card": card}}, headers=idem(**headers))
    assert r.status_code == 201, r.text
    return int(r.json()["id"]), card


def _earned(client: TestClient, till: dict[str, str], member_id: int, receipt: str) -> dict:
    body = basket(
        line("1", "1000.00", category="coffee"),
        line("2", "500.00", category="dairy"),
        member_id=member_id,
        receipt_id=receipt,
    )
    r = client.post("/v1/purchases", json=body, headers=idem(**till))
    assert r.status_code == 201, r.text
    by_rule: dict[str, int] = {}
    for ln in r.json()["lines"]:
        for award in ln["awards"]:
            by_rule[award["rule_id"]] = by_rule.get(award["rule_id"], 0) + award["points"]
    return by_rule


def test_offer_upload_activate_earn_and_results(
    client: TestClient, kopilka: Kopilka, program: Program, key_for: KeyFactory
) -> None:
    """Marketer uploads the list by card; the app sees the offer open and activates it; the
    till's purchase earns x3; the results show the activation and the use."""
    publish_rules(kopilka.services, program, OFFERS)
    till, app, marketer = key_for("pos", store="S1"), key_for("ecommerce"), key_for("marketer")
    m, card = _member(client, till)
    assert client.get(f"/v1/members/{m}/offers", headers=app).json() == []
    refused = client.post("/v1/offers/coffee-x3/audience", json={"cards": [card]}, headers=till)
    assert refused.status_code == 403
    up = client.post("/v1/offers/coffee-x3/audience", json={"cards": [card]}, headers=marketer)
    assert up.status_code == 200, up.text
    assert up.json()["listed_members"] == 1
    bad = client.post(
        "/v1/offers/coffee-x3/audience", json={"member_ids": [10**9]}, headers=marketer
    )
    assert bad.status_code == 422, bad.text
    assert bad.json()["details"]["first_unknown"] == 0, bad.text
    missing = client.post("/v1/offers/nope/audience", json={"cards": [card]}, headers=marketer)
    assert missing.status_code == 404

    [offer] = client.get(f"/v1/members/{m}/offers", headers=app).json()
    assert (offer["offer_id"], offer["state"]) == ("coffee-x3", "open")
    assert _earned(client, till, m, "O-1") == {"base": 15}
    done = client.post(f"/v1/members/{m}/offers/coffee-x3/activate", headers=app)
    assert done.status_code == 200, done.text
    assert done.json()["state"] == "active"
    assert _earned(client, till, m, "O-2") == {"base": 15, "coffee-x3": 20}

    other, _ = _member(client, till)
    nope = client.post(f"/v1/members/{other}/offers/coffee-x3/activate", headers=app)
    assert nope.status_code == 409
    assert nope.json()["code"] == "offer_not_available"

    [result] = client.get("/v1/offers", headers=marketer).json()
    assert result["activations"] == 1
    assert (result["purchases"], result["points"], result["listed_members"]) == (1, 20, 1)


def test_favourites_choose_once_and_earn(
    client: TestClient, kopilka: Kopilka, program: Program, key_for: KeyFactory
) -> None:
    """The app chooses a favourite category; a bad choice is 422, a second choice this
    month 409 with the next change's date; the till's purchase doubles the chosen line."""
    publish_rules(kopilka.services, program, OFFERS)
    till, app = key_for("pos", store="S1"), key_for("ecommerce")
    m, _ = _member(client, till)
    [fav] = client.get(f"/v1/members/{m}/favourites", headers=app).json()
    assert (fav["choose"], fav["allowed"], fav["can_choose"]) == (1, ["dairy", "fruit"], True)
    wrong = client.put(
        f"/v1/members/{m}/favourites/fav", json={"categories": ["meat"]}, headers=app
    )
    assert wrong.status_code == 422
    ok = client.put(f"/v1/members/{m}/favourites/fav", json={"categories": ["dairy"]}, headers=app)
    assert ok.status_code == 200, ok.text
    assert ok.json()["chosen"] == ["dairy"]
    again = client.put(
        f"/v1/members/{m}/favourites/fav", json={"categories": ["fruit"]}, headers=app
    )
    assert again.status_code == 409
    assert again.json()["code"] == "favourites_already_chosen"
    assert again.json()["details"]["next_change"] == "2026-04-01"
    assert (
        client.put(
            f"/v1/members/{m}/favourites/fav", json={"categories": ["dairy"]}, headers=till
        ).status_code
        == 403
    )
    assert _earned(client, till, m, "F-1") == {"base": 15, "fav": 5}
