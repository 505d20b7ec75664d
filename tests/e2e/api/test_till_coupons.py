"""Coupons at the till over HTTP: a till's purchase carrying a member's coupon shows its
discount by line and uses it; the same coupon again is 422 coupon_invalid (problem JSON)
with nothing booked; the return setting is read and set by the back office."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient

from kopilka.app import Kopilka
from kopilka.domain.program import Program
from kopilka.domain.rewards import CouponKind, CouponTerms, Reward, RewardKind, Text
from kopilka.services import points, rewards
from kopilka.services.points import Earn
from kopilka.services.rewards import RedeemReward, SaveReward
from tests.e2e.api.conftest import KeyFactory, idem
from tests.e2e.api.factories import basket, line, publish_rules


def _coupon_of(kopilka: Kopilka, program: Program, member_id: int) -> str:
    ctx = kopilka.services
    terms = CouponTerms(CouponKind.FIXED, 5_000, 30_000)  # 50.00 off from 300.00
    reward = Reward(
        id=0,
        program_id=0,
        code=f"C{uuid.uuid4().hex[:6]}",
        kind=RewardKind.COUPON,
        name=Text("50 off", "50 ₽"),
        description=Text("", ""),
        points=10,
        coupon=terms,
    )
    saved = rewards.save_reward(ctx, program, SaveReward(reward, "test"))
    points.earn(ctx, program, Earn(member_id, 100, key=f"fund-{member_id}"))
    issued = rewards.redeem_reward(
        ctx, program, RedeemReward(member_id, saved["id"], key=f"redeem-{member_id}")
    )
    return issued["issued"]["display_code"]


def test_till_uses_a_coupon_once(
    client: TestClient, kopilka: Kopilka, program: Program, key_for: KeyFactory
) -> None:
    """Quote and purchase show 50.00 over the two lines; a second receipt with the same
    coupon is refused 422 coupon_invalid (reason used) and not booked."""
    publish_rules(kopilka.services, program)
    till, admin = key_for("pos", store="S1"), key_for("admin")
    r = client.post(
        "/v1/members", json={"identifiers": {"external": uuid.uuid4().hex}}, headers=idem(**till)
    )
    m = int(r.json()["id"])
    code = _coupon_of(kopilka, program, m)
    body = basket(line("1", "200.00"), line("2", "100.00"), member_id=m, coupons=[code])
    quoted = client.post("/v1/purchases/quote", json=body, headers=till)
    assert quoted.status_code == 200, quoted.text
    assert quoted.json()["coupons"][0]["lines"] == {"1": "33.33", "2": "16.67"}
    booked = client.post("/v1/purchases", json={**body, "receipt_id": "TC-1"}, headers=idem(**till))
    assert booked.status_code == 201, booked.text
    assert booked.json()["coupons"][0]["discount"] == "50.00"
    assert booked.json()["total"] == "250.00"
    again = client.post("/v1/purchases", json={**body, "receipt_id": "TC-2"}, headers=idem(**till))
    assert again.status_code == 422
    assert again.headers["content-type"].startswith("application/problem+json")
    assert again.json()["code"] == "coupon_invalid"
    assert again.json()["details"]["reason"] == "used"
    assert client.get("/v1/purchases/TC-2", headers=till).status_code == 404

    assert client.get("/v1/rewards/coupon-return", headers=admin).json() == {
        "give_back_on_return": False
    }
    put = client.put("/v1/rewards/coupon-return", json={"give_back_on_return": True}, headers=admin)
    assert put.status_code == 200
    returned = client.post(
        "/v1/purchases/TC-1/returns", json={"return_id": "all"}, headers=idem(**till)
    )
    assert returned.status_code == 201, returned.text
    assert returned.json()["refund"] == "250.00"
    assert returned.json()["coupons_given_back"] == [code]  # as the till sent it
