"""A reward's audience by segment on both databases: a member whose ``attributes.segments``
meet the reward's segments sees and redeems it, any other is refused ``not_visible`` and
does not see it in the catalog; segments, tiers and listed members each admit on their own
(table-driven), and the segments survive a save and a read back."""

from __future__ import annotations

import uuid

import pytest

from kopilka.domain.errors import RewardUnavailable, ValidationError
from kopilka.domain.rewards import Audience
from kopilka.services import rewards
from kopilka.services.rewards import RedeemReward

# (id, audience (tiers, segments, list the member?), member's tier, member's segments,
#  expected refusal or None)
CASES = [
    ("segment in", ((), ("vip",), False), None, ["vip"], None),
    ("one of several", ((), ("vip", "students"), False), None, ["students", "x"], None),
    ("segment out", ((), ("vip",), False), None, ["students"], "not_visible"),
    ("no segments at all", ((), ("vip",), False), None, None, "not_visible"),
    ("case matters", ((), ("vip",), False), None, ["VIP"], "not_visible"),
    ("tier admits without segment", (("gold",), ("vip",), False), "gold", [], None),
    ("segment admits without tier", (("gold",), ("vip",), False), "silver", ["vip"], None),
    ("neither tier nor segment", (("gold",), ("vip",), False), "silver", ["x"], "not_visible"),
    ("listed admits without segment", ((), ("vip",), True), None, [], None),
    ("no audience: everybody", ((), (), False), None, ["x"], None),
]


@pytest.mark.parametrize(
    ("audience", "tier", "segments", "expected"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_visibility_by_segment(
    ctx, program, add_reward, member, make_member, audience, tier, segments, expected
):
    """The member's segments decide visibility in the catalog and at redemption together
    with the tier and member lists: any one admits, none refuses ``not_visible``."""
    from kopilka.services import points
    from kopilka.services.points import Earn

    attrs = {"segments": segments} if segments is not None else None
    m = make_member(program, attributes=attrs)
    points.earn(ctx, program, Earn(m, 1000, key=f"fund-{m}"))
    if tier:
        from kopilka.domain.reasons import Reason, ReasonCode
        from kopilka.services import tiers

        tiers.set_manual_tier(
            ctx,
            program,
            tiers.SetManualTier(m, tier, Reason(ReasonCode.GOODWILL, "test")),
            actor="test",
        )
    tier_list, segment_list, listed = audience
    reward = add_reward(
        points=10,
        audience=Audience(tiers=tier_list, members=(m,) if listed else (), segments=segment_list),
    )
    seen = {i["id"] for i in rewards.visible_catalog(ctx, program, m)}
    cmd = RedeemReward(m, reward["id"], key=f"k-{uuid.uuid4().hex}")
    if expected is None:
        assert reward["id"] in seen
        assert rewards.redeem_reward(ctx, program, cmd)["issued"]["status"] == "issued"
        return
    assert reward["id"] not in seen
    with pytest.raises(RewardUnavailable) as err:
        rewards.redeem_reward(ctx, program, cmd)
    assert err.value.details["reason"] == expected


def test_segments_are_stored_and_read_back(ctx, program, add_reward):
    """The segments of a saved reward come back in its view, in their order."""
    saved = add_reward(audience=Audience(segments=("vip", "students")))
    assert rewards.reward(ctx, program, saved["id"])["audience"] == {
        "tiers": [],
        "members": [],
        "segments": ["vip", "students"],
    }


@pytest.mark.parametrize("segment", ["", "x" * 65, "a\nb"])
def test_a_malformed_segment_is_refused(segment):
    """A segment must be 1 to 64 printable characters: the domain refuses anything else."""
    with pytest.raises(ValidationError) as err:
        Audience(segments=(segment,))
    assert err.value.details["field"] == "audience.segments"
