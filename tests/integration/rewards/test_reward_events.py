"""Rewards write their outbox events in the change's own transaction, on both databases:
``reward.issued`` by a redemption (a replay writes none, a refusal none),
``reward.cancelled`` by a cancellation and ``reward.expired`` by the expiry job, each with
the payload of its published shape and the refund the program's settings gave."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import TypeAdapter

from kopilka.domain.errors import IssuedRewardNotActive, RewardUnavailable
from kopilka.domain.rewards import Validity
from kopilka.services import outbox, rewards
from kopilka.services.rewards import CancelIssued, RedeemReward


def reward_events(ctx, program, member_id):
    """The member's reward events, each validated strictly against its published shape."""
    found = []
    for event in outbox.member_events(ctx, program, member_id):
        TypeAdapter(outbox.PAYLOADS[event["type"]]).validate_python(event["data"], strict=True)
        if event["type"].startswith("reward."):
            found.append(event)
    return found


def test_a_redemption_and_its_cancellation_write_their_events(ctx, program, add_reward, member):
    """reward.issued names the issued reward, its price, entry, window and the balance
    after, never the coupon's code; a replay writes none; reward.cancelled carries the
    refund and the reason; a second cancellation (refused) writes none."""
    rewards.set_refund_settings(
        ctx, program, rewards.SetRefundSettings(on_cancel=True, on_expiry=False, actor="t")
    )
    reward = add_reward(points=300, stock=1, validity=Validity(valid_days=30))
    m = member(1000)
    command = RedeemReward(m, reward["id"], key="redeem-1")
    issued = rewards.redeem_reward(ctx, program, command)["issued"]
    rewards.redeem_reward(ctx, program, command)  # a replay
    with pytest.raises(RewardUnavailable):  # out of stock: refused, no event
        rewards.redeem_reward(ctx, program, RedeemReward(m, reward["id"], key="redeem-2"))
    cancel = CancelIssued(issued["id"], key="c1", actor="agent", reason="asked")
    ended = rewards.cancel_issued(ctx, program, cancel)
    with pytest.raises(IssuedRewardNotActive):
        rewards.cancel_issued(
            ctx, program, CancelIssued(issued["id"], key="c2", actor="a", reason="x")
        )
    made, cancelled = reward_events(ctx, program, m)
    assert made["type"] == "reward.issued"
    assert made["data"] == {
        "member_id": m,
        "issued_id": issued["id"],
        "reward_id": reward["id"],
        "reward_code": reward["code"],
        "kind": "gift",
        "points": 300,
        "entry_id": issued["entry_id"],
        "valid_from": issued["valid_from"],
        "expires_at": issued["expires_at"],
        "balance": {"available": 700, "pending": 0, "held": 0},
    }
    assert issued["code"] not in str(made)
    assert cancelled["type"] == "reward.cancelled"
    assert cancelled["data"] == {
        "member_id": m,
        "issued_id": issued["id"],
        "reward_id": reward["id"],
        "points_refunded": 300,
        "refund_entry_id": ended["refund_entry_id"],
        "reason": "asked",
        "balance": {"available": 1000, "pending": 0, "held": 0},
    }
    assert cancelled["sequence"] == made["sequence"] + 1


@pytest.mark.parametrize(("refund", "back"), [(True, 200), (False, 0)], ids=["refund", "keep"])
def test_the_expiry_job_writes_reward_expired(
    ctx, clock, program, add_reward, member, refund, back
):
    """Each reward the job expires writes reward.expired, refunded by the setting; one
    still valid writes nothing."""
    rewards.set_refund_settings(
        ctx, program, rewards.SetRefundSettings(on_cancel=True, on_expiry=refund, actor="t")
    )
    short = add_reward(points=200, validity=Validity(valid_days=1))
    long = add_reward(points=100, validity=Validity(valid_days=30))
    m = member(1000)
    s = rewards.redeem_reward(ctx, program, RedeemReward(m, short["id"], key="s"))["issued"]
    rewards.redeem_reward(ctx, program, RedeemReward(m, long["id"], key="l"))
    clock.advance(timedelta(days=2))
    assert rewards.expire_due(ctx, program) == (1, back)
    types = [e["type"] for e in reward_events(ctx, program, m)]
    assert types == ["reward.issued", "reward.issued", "reward.expired"]
    expired = reward_events(ctx, program, m)[-1]["data"]
    assert (expired["issued_id"], expired["points_refunded"]) == (s["id"], back)
    assert expired["reason"] == "expired"
    assert (expired["refund_entry_id"] is not None) == refund
    assert expired["balance"]["available"] == 700 + back
