"""Rewards over HTTP: the back office builds the catalog (validated at the edge, RFC 9457
problems, nothing written), a web shop's key shows a member's catalog and redeems under an
Idempotency-Key, support cancels with a refund, images and partner pools, and each role's
scopes."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient

from kopilka.app import Kopilka
from kopilka.domain.program import Program
from tests.e2e.api.conftest import KeyFactory, idem, row_counts

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def _member(client: TestClient, headers: dict[str, str]) -> int:
    body = {"identifiers": {"external": uuid.uuid4().hex}}
    r = client.post("/v1/members", json=body, headers=idem(**headers))
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


GIFT = {
    "code": "mug",
    "kind": "gift",
    "name": {"en": "Mug", "ru": "Кружка"},
    "description": {"en": "A mug", "ru": "Кружка"},
    "points": 300,
    "fulfilment": "pickup",
    "stock": 1,
}
COUPON = {
    "code": "minus100",
    "kind": "coupon",
    "name": {"en": "100 RUB off", "ru": "Скидка 100 ₽"},
    "points": 200,
    "coupon": {"kind": "fixed", "amount": "100.00", "min_basket": "500", "categories": ["dairy"]},
    "validity": {"activation_delay_s": 0, "valid_days": 30},
}


def test_catalog_redeem_and_cancel(
    client: TestClient,
    kopilka: Kopilka,
    program: Program,
    key_for: KeyFactory,
    give_points,
) -> None:
    """A marketer adds a gift and a coupon (money in minor units); the web shop lists the
    member's catalog and redeems (a replay answers the same; the last unit gone is a 409
    ``reward_unavailable``); support cancels with the points back."""
    marketer, shop, support = key_for("marketer"), key_for("ecommerce"), key_for("support")
    gift = client.post("/v1/rewards", json=GIFT, headers=marketer)
    assert gift.status_code == 201, gift.text
    coupon = client.post("/v1/rewards", json=COUPON, headers=marketer)
    assert coupon.status_code == 201, coupon.text
    assert coupon.json()["coupon"] == {
        "kind": "fixed",
        "amount": 10000,
        "min_basket_minor": 50000,
        "categories": ["dairy"],
    }
    m = _member(client, shop)
    give_points(m, 1000)
    listed = client.get(f"/v1/members/{m}/rewards/catalog", headers=shop).json()
    assert {i["code"]: i["available"] for i in listed} == {"minus100": True, "mug": True}

    headers = idem(**shop)
    first = client.post(
        f"/v1/members/{m}/rewards", json={"reward_id": gift.json()["id"]}, headers=headers
    )
    assert first.status_code == 201, first.text
    again = client.post(
        f"/v1/members/{m}/rewards", json={"reward_id": gift.json()["id"]}, headers=headers
    )
    assert again.json() == first.json()
    assert first.json()["balance"]["available"] == 700
    gone = client.post(
        f"/v1/members/{m}/rewards", json={"reward_id": gift.json()["id"]}, headers=idem(**shop)
    )
    assert gone.status_code == 409
    assert gone.json()["code"] == "reward_unavailable"
    assert gone.json()["details"]["reason"] == "out_of_stock"

    issued = first.json()["issued"]
    mine = client.get(f"/v1/members/{m}/rewards", headers=shop).json()
    assert [i["id"] for i in mine] == [issued["id"]]
    found = client.get("/v1/issued-rewards", params={"code": issued["code"][:4]}, headers=support)
    assert issued["id"] in [i["id"] for i in found.json()]

    r = client.post(
        f"/v1/issued-rewards/{issued['id']}/cancel",
        json={"reason": "customer asked"},
        headers=idem(**support),
    )
    assert r.status_code == 200, r.text
    assert r.json()["refunded"] == 300
    assert r.json()["balance"]["available"] == 1000
    detail = client.get(f"/v1/issued-rewards/{issued['id']}", headers=support).json()
    assert [h["status"] for h in detail["history"]] == ["issued", "cancelled"]
    again = client.post(
        f"/v1/issued-rewards/{issued['id']}/cancel",
        json={"reason": "twice"},
        headers=idem(**support),
    )
    assert again.status_code == 409
    assert again.json()["code"] == "issued_reward_not_active"


def test_bad_catalog_input_is_a_problem_and_writes_nothing(
    client: TestClient, kopilka: Kopilka, program: Program, key_for: KeyFactory
) -> None:
    """Each malformed reward is a 422 problem with its field, and nothing is written."""
    marketer = key_for("marketer")
    before = row_counts(kopilka.services.engine)
    bad = [
        {**COUPON, "coupon": {"kind": "percent", "percent": 150}},
        {**COUPON, "coupon": {"kind": "fixed", "percent": 10}},
        {**GIFT, "points": 0},
        {**GIFT, "kind": "coupon"},  # a coupon without its terms
        {**GIFT, "limits": {"per_period": 2}},  # a period limit without its period
        {**GIFT, "starts_at": "2030-01-02T00:00:00Z", "ends_at": "2030-01-01T00:00:00Z"},
        {**GIFT, "tier_points": {"gold": 10}},  # the program has no tiers
        {**GIFT, "name": {"en": "Mug"}},
        {**GIFT, "surprise": 1},
        {**GIFT, "audience": {"segments": [""]}},  # an empty segment
        {**GIFT, "audience": {"segments": ["a\nb"]}},  # a control character
        {**GIFT, "audience": {"segments": ["x" * 65]}},
    ]
    for body in bad:
        r = client.post("/v1/rewards", json=body, headers=marketer)
        assert r.status_code == 422, (body, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["code"] == "validation_error"
    assert row_counts(kopilka.services.engine) == before


def test_audience_by_segment_over_http(
    client: TestClient, program: Program, key_for: KeyFactory, give_points
) -> None:
    """A reward for a segment keeps its segments, is not in the catalog of a member outside
    them, and redeeming it is a 409 ``not_visible``."""
    marketer, shop = key_for("marketer"), key_for("ecommerce")
    body = {**GIFT, "code": "vip-mug", "audience": {"segments": ["vip"]}}
    made = client.post("/v1/rewards", json=body, headers=marketer)
    assert made.status_code == 201, made.text
    assert made.json()["audience"] == {"tiers": [], "members": [], "segments": ["vip"]}
    m = _member(client, shop)
    give_points(m, 1000)
    listed = client.get(f"/v1/members/{m}/rewards/catalog", headers=shop).json()
    assert "vip-mug" not in {i["code"] for i in listed}
    r = client.post(
        f"/v1/members/{m}/rewards", json={"reward_id": made.json()["id"]}, headers=idem(**shop)
    )
    assert r.status_code == 409, r.text
    assert r.json()["details"]["reason"] == "not_visible"


def test_image_pool_and_scopes(
    client: TestClient, kopilka: Kopilka, program: Program, key_for: KeyFactory
) -> None:
    """An image is stored and served when its bytes are PNG, refused when not; a partner
    pool loads; a till may read but not redeem or manage; an analyst may not cancel."""
    marketer, till, analyst = key_for("marketer"), key_for("pos", store="S1"), key_for("analyst")
    reward = client.post(
        "/v1/rewards",
        json={**GIFT, "code": "partner", "kind": "partner", "fulfilment": None},
        headers=marketer,
    ).json()
    url = f"/v1/rewards/{reward['id']}/image"
    ok = client.put(url, content=PNG, headers={**marketer, "Content-Type": "image/png"})
    assert ok.status_code == 200, ok.text
    assert ok.json()["has_image"] is True
    got = client.get(url, headers=till)
    assert got.content == PNG
    assert got.headers["content-type"] == "image/png"
    gif = client.put(
        url, content=b"GIF89a" + b"\x00" * 10, headers={**marketer, "Content-Type": "image/png"}
    )
    assert gif.status_code == 422
    loaded = client.post(
        f"/v1/rewards/{reward['id']}/pool", json={"codes": ["A-1", "A-2", "A-1"]}, headers=marketer
    )
    assert loaded.json() == {"added": 2, "duplicates": 1, "free": 2}
    m = _member(client, till)
    refused = client.post(
        f"/v1/members/{m}/rewards", json={"reward_id": reward["id"]}, headers=idem(**till)
    )
    assert refused.status_code == 403
    assert client.post("/v1/rewards", json={**GIFT, "code": "x"}, headers=till).status_code == 403
    assert client.get("/v1/rewards", headers=analyst).status_code == 200
    cancel = client.post(
        "/v1/issued-rewards/1/cancel", json={"reason": "x"}, headers=idem(**analyst)
    )
    assert cancel.status_code == 403


def test_reward_offer_activated_before_redeeming(
    client: TestClient, kopilka: Kopilka, program: Program, key_for: KeyFactory, give_points
) -> None:
    """A reward created with ``requires_activation`` is an offer ``reward:<id>`` in the
    member's offers (``kind: reward``); redeeming it first is a 409 ``offer_not_activated``
    problem naming the offer, writing nothing but the key's answer; activating (twice: the
    first answer) lets a new request redeem it; the back office counts both."""
    marketer, shop = key_for("marketer"), key_for("ecommerce")
    made = client.post(
        "/v1/rewards",
        json={**GIFT, "code": "offer-mug", "requires_activation": True},
        headers=marketer,
    )
    assert made.status_code == 201, made.text
    assert made.json()["requires_activation"] is True
    reward_id = made.json()["id"]
    offer_id = f"reward:{reward_id}"
    m = _member(client, shop)
    give_points(m, 1000)

    [item] = client.get(f"/v1/members/{m}/rewards/catalog", headers=shop).json()
    assert (item["reason"], item["offer_id"], item["activated"]) == (
        "not_activated",
        offer_id,
        False,
    )
    [offer] = client.get(f"/v1/members/{m}/offers", headers=shop).json()
    assert (offer["kind"], offer["offer_id"], offer["state"]) == ("reward", offer_id, "open")

    before = row_counts(kopilka.services.engine)
    refused = client.post(
        f"/v1/members/{m}/rewards", json={"reward_id": reward_id}, headers=idem(**shop)
    )
    assert refused.status_code == 409, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    problem = refused.json()
    assert problem["code"] == "offer_not_activated"
    assert problem["type"].endswith("/offer_not_activated")
    assert problem["details"]["offer_id"] == offer_id
    after = row_counts(kopilka.services.engine)
    after.pop("idempotency_keys"), before.pop("idempotency_keys")  # the refusal, for replay
    assert after == before

    bad = client.post(f"/v1/members/{m}/offers/reward:x1/activate", headers=shop)
    assert bad.status_code == 422, bad.text
    first = client.post(f"/v1/members/{m}/offers/{offer_id}/activate", headers=shop)
    assert first.status_code == 200, first.text
    assert first.json()["state"] == "active"
    again = client.post(f"/v1/members/{m}/offers/{offer_id}/activate", headers=shop)
    assert again.json()["activated_at"] == first.json()["activated_at"]
    done = client.post(
        f"/v1/members/{m}/rewards", json={"reward_id": reward_id}, headers=idem(**shop)
    )
    assert done.status_code == 201, done.text

    [result] = client.get("/v1/offers/rewards", headers=marketer).json()
    assert (result["offer_id"], result["activations"], result["redeemed"]) == (offer_id, 1, 1)
    plain = client.put(
        f"/v1/rewards/{reward_id}", json={**GIFT, "code": "offer-mug"}, headers=marketer
    )
    assert plain.json()["requires_activation"] is False  # the default, on a change too
