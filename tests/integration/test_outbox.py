"""The transactional outbox on both databases: an event is written iff its change
commits, one per change, numbered in order per member, with a payload of its type's
published shape."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import TypeAdapter

from kopilka.domain.errors import InsufficientPoints
from kopilka.services import jobs, outbox, points, purchases
from kopilka.services import members as member_svc
from kopilka.services.points import Adjust, Capture, PlaceHold, VoidHold
from tests import commands
from tests.integration.purchases.conftest import SIMPLE_RULES, basket


@pytest.fixture
def program(ctx, make_program):
    from kopilka.services import rules

    p = make_program(expiry_kind="days", expiry_n=10)
    rules.publish(ctx, p, SIMPLE_RULES, actor="test")
    return p


def types_of(ctx, program, member_id):
    return [e["type"] for e in outbox.member_events(ctx, program, member_id)]


def adjust(ctx, program, member_id, delta, key):
    return points.adjust(
        ctx, program, Adjust(member_id, delta, key=key, reason="goodwill", actor="agent")
    )


def test_purchase_and_return_write_one_event_each_in_member_order(ctx, program, make_member):
    """Enrolment, an adjustment, a purchase paying with points and its return leave four
    events, numbered 1-4 for the member, with the points earned and redeemed; a replay
    of the purchase writes none."""
    m = make_member(program)
    adjust(ctx, program, m, 500, "o-fund")
    body = basket(m, ("1", "1000", "dairy"), ("2", "2500", "bread"), redeem_points=300)
    booked = purchases.commit(ctx, program, commands.purchase(ctx, program, body))
    purchases.commit(ctx, program, commands.purchase(ctx, program, body))  # a replay
    returned = purchases.process_return(
        ctx, program, commands.return_(body["receipt_id"], {"return_id": "ret-1"})
    )
    events = outbox.member_events(ctx, program, m)
    assert [e["type"] for e in events] == [
        "member.enrolled",
        "points.adjusted",
        "purchase.committed",
        "purchase.returned",
    ]
    assert [e["sequence"] for e in events] == [1, 2, 3, 4]
    assert len({e["id"] for e in events}) == 4
    assert all(e["program"] == program.code and e["schema_version"] == 1 for e in events)
    committed = events[2]["data"]
    assert committed["points_redeemed"] == 300
    assert committed["points_earned"] == booked["points_earned"] > 0
    assert committed["receipt_id"] == body["receipt_id"]
    assert events[3]["data"]["points_clawed_back"] == returned["points_clawed_back"]
    assert events[1]["data"]["delta"] == 500


def test_a_rolled_back_purchase_writes_no_event(ctx, program, make_member, monkeypatch):
    """The event is written inside the purchase's transaction: when the booking fails
    after the event was written, both are rolled back; a refused purchase writes none."""
    m = make_member(program)
    real = outbox.record

    def record_then_fail(*args, **kwargs):
        real(*args, **kwargs)
        raise RuntimeError("the database went away after the event")

    monkeypatch.setattr(outbox, "record", record_then_fail)
    body = basket(m, ("1", "1000", "dairy"))
    with pytest.raises(RuntimeError):
        purchases.commit(ctx, program, commands.purchase(ctx, program, body))
    monkeypatch.undo()
    assert purchases.booked_answer(ctx, program, body["receipt_id"]) is None
    refused = basket(m, ("1", "1000", "dairy"), redeem_points=10)
    with pytest.raises(InsufficientPoints):
        purchases.commit(ctx, program, commands.purchase(ctx, program, refused))
    assert types_of(ctx, program, m) == ["member.enrolled"]


def test_holds_blocks_and_profile_changes_write_their_events(ctx, program, make_member):
    """A capture, a void, a profile change, a block and an unblock each write one event,
    with the hold and the changed fields named."""
    m = make_member(program)
    adjust(ctx, program, m, 100, "o-h-fund")
    h1 = points.hold(ctx, program, PlaceHold(m, 30, key="o-h1"))["hold_id"]
    h2 = points.hold(ctx, program, PlaceHold(m, 20, key="o-h2"))["hold_id"]
    assert h1 is not None
    assert h2 is not None
    points.capture(ctx, program, Capture(h1, key="o-c1", points=25))
    points.void(ctx, program, VoidHold(h2, key="o-v2"))
    member_svc.update_profile(
        ctx,
        program,
        member_svc.UpdateProfile(
            m, member_svc.Profile(first_name="Anna"), frozenset({"first_name"})
        ),
    )
    member_svc.set_blocked(ctx, program, m, True, reason="fraud check")
    member_svc.set_blocked(ctx, program, m, False)
    events = outbox.member_events(ctx, program, m)
    assert [e["type"] for e in events] == [
        "member.enrolled",
        "points.adjusted",
        "hold.placed",
        "hold.placed",
        "hold.captured",
        "hold.voided",
        "member.updated",
        "member.blocked",
        "member.unblocked",
    ]
    assert events[4]["data"]["hold_id"] == h1
    assert events[4]["data"]["points"] == 25
    assert events[5]["data"]["hold_id"] == h2
    assert events[6]["data"]["fields"] == ["first_name"]
    assert [e["sequence"] for e in events] == list(range(1, 10))


def test_sweeps_write_expiry_and_hold_timeout_events(ctx, clock, program, make_member):
    """The sweep's expiry writes one ``points.expired`` per member entry, and its hold
    timeouts one ``hold.timed_out`` per hold, in the sweep's transaction."""
    a, b = make_member(program), make_member(program)
    adjust(ctx, program, a, 70, "o-s-a")
    adjust(ctx, program, b, 40, "o-s-b")
    hold_id = points.hold(ctx, program, PlaceHold(a, 10, key="o-s-h", ttl_seconds=60))["hold_id"]
    clock.advance(timedelta(minutes=5))
    assert jobs.expire_holds(ctx, program) == 1
    clock.advance(timedelta(days=11))
    assert jobs.expire_due(ctx, program) == 2
    assert types_of(ctx, program, a)[-2:] == ["hold.timed_out", "points.expired"]
    assert types_of(ctx, program, b)[-1] == "points.expired"
    timed_out, expired = outbox.member_events(ctx, program, a)[-2:]
    assert timed_out["data"]["hold_id"] == hold_id
    assert timed_out["data"]["points"] == 10
    assert expired["data"]["points"] == 70
    assert outbox.member_events(ctx, program, b)[-1]["data"]["points"] == 40
    jobs.expire_due(ctx, program)  # nothing more is due: no more events
    assert outbox.counts(ctx, program)["points.expired"] == 2


def test_every_payload_has_its_published_shape(ctx, program, make_member):
    """Each event's payload validates against its type's published model, and the JSON
    Schema names every type."""
    m = make_member(program)
    adjust(ctx, program, m, 100, "o-p-fund")
    body = basket(m, ("1", "1000", "dairy"))
    purchases.commit(ctx, program, commands.purchase(ctx, program, body))
    schemas = outbox.json_schemas()
    published = {t for s in schemas.values() for t in s.get("x-event-types", [])}
    assert published == set(outbox.PAYLOADS)
    for e in outbox.member_events(ctx, program, m):
        TypeAdapter(outbox.PAYLOADS[e["type"]]).validate_python(e["data"], strict=True)
        TypeAdapter(outbox.EventEnvelope).validate_python(e, strict=True)


TIERED_RULES = """
schema_version: 1
rules:
  - {id: base, kind: rate, rate: {percent: 5}}
tiers:
  window: {kind: lifetime}
  downgrade: {mode: at_review}
  levels:
    - {code: basic, name: {ru: Базовый, en: Basic}}
    - code: gold
      name: {ru: Золотой, en: Gold}
      entry: {spend: "15000"}
      keep: {spend: "10000"}
"""


@pytest.fixture
def tiered(ctx, make_program):
    from kopilka.services import rules

    p = make_program()
    rules.publish(ctx, p, TIERED_RULES, actor="test")
    return p


def events_after(ctx, program, member_id, sequence):
    return [e for e in outbox.member_events(ctx, program, member_id) if e["sequence"] > sequence]


def last_sequence(ctx, program, member_id):
    return max(e["sequence"] for e in outbox.member_events(ctx, program, member_id))


def test_an_upgrade_by_purchase_writes_one_tier_changed_event(ctx, tiered, make_member):
    """The purchase crossing gold's bar leaves exactly two events, one tier.changed (basic
    -> gold, reason purchase, the rules version) and purchase.committed, in the member's
    order (the upgrade is stored before the purchase's answer is); a replay of it writes
    none, and a purchase that changes no tier writes none."""
    m = make_member(tiered)
    buy = basket(m, ("1", "10000", "food"))
    purchases.commit(ctx, tiered, commands.purchase(ctx, tiered, buy))
    before = last_sequence(ctx, tiered, m)
    crossing = basket(m, ("1", "6000", "food"))
    purchases.commit(ctx, tiered, commands.purchase(ctx, tiered, crossing))
    purchases.commit(ctx, tiered, commands.purchase(ctx, tiered, crossing))  # a replay
    events = events_after(ctx, tiered, m, before)
    assert [e["type"] for e in events] == ["tier.changed", "purchase.committed"]
    assert [e["sequence"] for e in events] == [before + 1, before + 2]
    data = events[0]["data"]
    assert (data["member_id"], data["from_tier"], data["to_tier"]) == (m, "basic", "gold")
    assert data["reason"] == "purchase"
    assert data["rule_version"] == 1
    assert data["at"] == events[0]["created_at"]
    TypeAdapter(outbox.TierChanged).validate_python(data, strict=True)
    after_upgrade = last_sequence(ctx, tiered, m)
    purchases.commit(ctx, tiered, commands.purchase(ctx, tiered, basket(m, ("1", "100", "food"))))
    assert types_of(ctx, tiered, m)[after_upgrade:] == ["purchase.committed"]


def test_a_manual_set_and_lift_write_one_tier_changed_event_each(ctx, tiered, make_member):
    """Support setting gold writes one tier.changed (reason manual); lifting it writes one
    back down; a refused set (unknown tier) writes nothing."""
    from kopilka.domain.errors import ValidationError
    from kopilka.domain.reasons import Reason, ReasonCode
    from kopilka.services import tiers
    from kopilka.services.tiers import SetManualTier

    m = make_member(tiered)
    purchases.commit(ctx, tiered, commands.purchase(ctx, tiered, basket(m, ("1", "100", "food"))))
    before = last_sequence(ctx, tiered, m)
    reason = Reason(ReasonCode.GOODWILL, "complaint 42")
    tiers.set_manual_tier(ctx, tiered, SetManualTier(m, "gold", reason), actor="agent")
    (event,) = events_after(ctx, tiered, m, before)
    assert event["type"] == "tier.changed"
    assert (event["data"]["from_tier"], event["data"]["to_tier"]) == ("basic", "gold")
    assert event["data"]["reason"] == "manual"
    with pytest.raises(ValidationError):
        tiers.set_manual_tier(ctx, tiered, SetManualTier(m, "platinum", reason), actor="agent")
    tiers.set_manual_tier(ctx, tiered, SetManualTier(m, None, reason), actor="agent")
    lifted = events_after(ctx, tiered, m, before)
    assert [(e["data"]["from_tier"], e["data"]["to_tier"]) for e in lifted] == [
        ("basic", "gold"),
        ("gold", "basic"),
    ]


def test_a_review_writes_tier_changed_and_a_dry_run_writes_none(
    ctx, clock, make_program, make_member
):
    """A review lowering a member writes one tier.changed (gold -> basic, reason review) in
    the review's batch; the same review as a dry run first writes no event."""
    from datetime import UTC, datetime

    from kopilka.services import rules, tiers

    clock.set(datetime(2025, 6, 1, tzinfo=UTC))
    program = make_program()
    rules.publish(ctx, program, TIERED_RULES.replace("lifetime", "calendar_year"), actor="test")
    m = make_member(program)
    purchases.commit(
        ctx, program, commands.purchase(ctx, program, basket(m, ("1", "16000", "food")))
    )
    assert "tier.changed" in types_of(ctx, program, m)
    before = last_sequence(ctx, program, m)
    clock.set(datetime(2027, 1, 1, tzinfo=UTC))  # judges 2026: nothing bought
    assert tiers.review_tiers(ctx, program, clock.now(), dry_run=True)["downgraded"] == 1
    assert events_after(ctx, program, m, before) == []
    assert tiers.review_tiers(ctx, program, clock.now())["downgraded"] == 1
    (event,) = events_after(ctx, program, m, before)
    assert event["type"] == "tier.changed"
    data = event["data"]
    assert (data["from_tier"], data["to_tier"], data["reason"]) == ("gold", "basic", "review")
    assert data["at"] == "2027-01-01T00:00:00+00:00"
