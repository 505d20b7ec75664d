"""Rewards offered as personal offers (``requires_activation``) on both databases: the
member they are visible to sees them as offers to activate, redeeming is refused
``offer_not_activated`` until then with nothing written (no entry, no issue, no stock
taken), activating twice answers the first activation, a reward not visible to the member
is neither listed nor activatable, and the back office's figures count activations and
redemptions."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from kopilka.domain.errors import (
    NotFoundError,
    OfferNotActivated,
    OfferNotAvailable,
    RewardUnavailable,
)
from kopilka.domain.rewards import Audience, reward_of_offer, reward_offer_id
from kopilka.services import offers, rewards
from kopilka.services.balance_view import balance_view
from kopilka.services.offers import ActivateOffer
from kopilka.services.rewards import RedeemReward
from kopilka.store.tables import issued_rewards, journal_entries
from tests.conftest import START


def _redeem(ctx, program, member_id, reward_id):
    cmd = RedeemReward(member_id, reward_id, key=f"r-{uuid.uuid4().hex}")
    return rewards.redeem_reward(ctx, program, cmd)


def _activate(ctx, program, member_id, offer_id):
    return offers.activate_offer(ctx, program, ActivateOffer(member_id, offer_id, "app"))


def _written(ctx, program) -> tuple[int, int]:
    """Journal entries and issued rewards of the program: what a refusal must not add."""
    with ctx.uow(read_only=True) as uow:
        entries = uow.conn.execute(
            select(func.count()).where(journal_entries.c.program_id == program.id)
        ).scalar_one()
        issued = uow.conn.execute(
            select(func.count()).where(issued_rewards.c.program_id == program.id)
        ).scalar_one()
    return int(entries), int(issued)


def test_activate_first_then_redeem(ctx, program, add_reward, member):
    """Before activation the catalog shows the offer ``not_activated`` and the member's
    offers list it ``open``; redeeming is refused ``offer_not_activated`` naming the offer,
    and the ledger, the issued rewards and the stock are untouched. After activating, the
    offer is ``active`` and the reward is redeemed as any other."""
    reward = add_reward(points=300, stock=5, requires_activation=True)
    offer_id = reward_offer_id(reward["id"])
    m = member(1000)

    (item,) = rewards.visible_catalog(ctx, program, m)
    assert (item["available"], item["reason"]) == (False, "not_activated")
    assert (item["requires_activation"], item["offer_id"], item["activated"]) == (
        True,
        offer_id,
        False,
    )
    (offer,) = offers.member_offers(ctx, program, m)
    assert offer["kind"] == "reward"
    assert (offer["offer_id"], offer["reward_id"], offer["state"]) == (
        offer_id,
        reward["id"],
        "open",
    )
    assert offer["name"] == {"en": "Mug", "ru": "Кружка"}

    before = _written(ctx, program)
    with pytest.raises(OfferNotActivated) as refused:
        _redeem(ctx, program, m, reward["id"])
    assert refused.value.code == "offer_not_activated"
    assert refused.value.details["offer_id"] == offer_id
    assert refused.value.details["reason"] == "not_activated"
    assert _written(ctx, program) == before
    assert balance_view(ctx, program, m).available == 1000
    assert rewards.reward(ctx, program, reward["id"])["stock"] == 5

    done = _activate(ctx, program, m, offer_id)
    assert done["state"] == "active"
    (item,) = rewards.visible_catalog(ctx, program, m)
    assert (item["available"], item["reason"], item["activated"]) == (True, None, True)
    issued = _redeem(ctx, program, m, reward["id"])
    assert issued["issued"]["status"] == "issued"
    assert balance_view(ctx, program, m).available == 700


def test_activating_again_answers_the_first(ctx, program, add_reward, member, clock):
    """A second activation, later, changes nothing: the first moment is answered, and the
    back office counts one activation."""
    reward = add_reward(requires_activation=True)
    offer_id = reward_offer_id(reward["id"])
    m = member(1000)
    first = _activate(ctx, program, m, offer_id)
    clock.advance(timedelta(hours=1))
    again = _activate(ctx, program, m, offer_id)
    assert again["activated_at"] == first["activated_at"]
    _redeem(ctx, program, m, reward["id"])
    (result,) = offers.reward_offer_results(ctx, program)
    assert (result["offer_id"], result["activations"], result["redeemed"], result["used"]) == (
        offer_id,
        1,
        1,
        0,
    )


def test_not_visible_is_not_available(ctx, program, add_reward, member, make_member):
    """A reward offer for a segment is neither listed nor activatable for a member outside
    it (``offer_not_available``), and redeeming it stays ``not_visible``."""
    reward = add_reward(requires_activation=True, audience=Audience(segments=("vip",)))
    offer_id = reward_offer_id(reward["id"])
    m = member(1000)
    assert offers.member_offers(ctx, program, m) == []
    assert rewards.visible_catalog(ctx, program, m) == []
    with pytest.raises(OfferNotAvailable):
        _activate(ctx, program, m, offer_id)
    with pytest.raises(RewardUnavailable) as refused:
        _redeem(ctx, program, m, reward["id"])
    assert refused.value.details["reason"] == "not_visible"
    vip = make_member(program, attributes={"segments": ["vip"]})
    assert [o["offer_id"] for o in offers.member_offers(ctx, program, vip)] == [offer_id]


def test_ended_withdrawn_and_plain_rewards(ctx, program, add_reward, member):
    """An ended or withdrawn reward offer cannot be activated (and is not listed); a reward
    that needs no activation, or none at all, is no offer (404)."""
    m = member(1000)
    ended = add_reward(requires_activation=True, ends_at=START - timedelta(days=1))
    withdrawn = add_reward(requires_activation=True, active=False)
    plain = add_reward()
    assert offers.member_offers(ctx, program, m) == []
    for r in (ended, withdrawn):
        with pytest.raises(OfferNotAvailable):
            _activate(ctx, program, m, reward_offer_id(r["id"]))
    for offer_id in (reward_offer_id(plain["id"]), "reward:999999999"):
        with pytest.raises(NotFoundError):
            _activate(ctx, program, m, offer_id)


def test_activated_before_it_opens(ctx, program, add_reward, member):
    """A reward offer that opens later may be activated now (``upcoming``, with its first
    day); redeeming waits for its window (``not_yet_available``)."""
    reward = add_reward(requires_activation=True, starts_at=START + timedelta(days=2))
    offer_id = reward_offer_id(reward["id"])
    m = member(1000)
    (offer,) = offers.member_offers(ctx, program, m)
    assert offer["state"] == "open"
    assert (offer["first_day"], offer["last_day"]) == ("2026-03-16", None)  # no end
    assert _activate(ctx, program, m, offer_id)["state"] == "upcoming"
    with pytest.raises(RewardUnavailable) as refused:
        _redeem(ctx, program, m, reward["id"])
    assert refused.value.details["reason"] == "not_yet_available"


@pytest.mark.parametrize(
    ("offer_id", "reward_id"),
    [("reward:7", 7), ("reward:07", None), ("reward:", None), ("coffee-x3", None)],
)
def test_offer_ids(offer_id, reward_id):
    """``reward:<id>`` names a reward offer; anything else is a rule's offer id."""
    assert reward_of_offer(offer_id) == reward_id
