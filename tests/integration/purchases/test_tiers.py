"""Tiers through the services on both databases: upgrade on purchase (both options of the
crossing purchase), returns, reviews with each downgrade mode, a manual floor, and a
calendar review across a year end far from UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from kopilka.domain.errors import ValidationError
from kopilka.domain.reasons import Reason, ReasonCode
from kopilka.services import purchases, tiers
from kopilka.services.tiers import SetManualTier
from kopilka.store.tables import audit_log
from tests import commands

from .conftest import basket

# the domain article's example: 5 % of purchases, 7 % once purchases pass 15,000 RUB
FIVE_TO_SEVEN = """
schema_version: 1
rules:
  - {id: base, kind: rate, rate: {percent: 5}}
  - {id: gold-extra, kind: rate, rate: {percent: 2}, when: {tiers: [gold]}}
tiers:
  window: {kind: %(window)s}
  downgrade: %(downgrade)s
  crossing_purchase_earns: %(crossing)s
  levels:
    - {code: basic, name: {ru: Базовый, en: Basic}}
    - code: gold
      name: {ru: Золотой, en: Gold}
      entry: {spend: "15000"}
      keep: {spend: "10000"}
"""


def document(
    crossing: bool = False, downgrade: str = "{mode: at_review}", window: str = "lifetime"
) -> str:
    return FIVE_TO_SEVEN % {
        "crossing": str(crossing).lower(),
        "downgrade": downgrade,
        "window": window,
    }


def buy(ctx, program, member_id, amount, receipt=None):
    body = basket(member_id, ("1", amount, "food"))
    if receipt:
        body["receipt_id"] = receipt
    return purchases.commit(ctx, program, commands.purchase(ctx, program, body))


def quote(ctx, program, member_id, amount):
    body = basket(member_id, ("1", amount, "food"))
    return purchases.quote(ctx, program, commands.quote(ctx, program, body))


@pytest.mark.parametrize(
    ("crossing", "earned_by_crossing"),
    [(False, 300), (True, 420)],
    ids=["crossing-earns-old-rate", "crossing-earns-new-rate"],
)
def test_five_to_seven_percent_past_15000(
    ctx, rules_program, make_member, crossing, earned_by_crossing
):
    """The purchase crossing 15,000 RUB upgrades the member at once; it earns 5 % or 7 %
    by the program's option, the quote predicts it, and the next purchase earns 7 %."""
    program = rules_program(document(crossing=crossing))
    m = make_member(program)
    assert buy(ctx, program, m, "10000")["points_earned"] == 500
    assert tiers.member_tier(ctx, program, m)["tier_code"] == "basic"
    q = quote(ctx, program, m, "6000")
    booked = buy(ctx, program, m, "6000")
    assert q["points_earned"] == booked["points_earned"] == earned_by_crossing
    view = tiers.member_tier(ctx, program, m)
    assert view["tier_code"] == "gold"
    assert buy(ctx, program, m, "1000")["points_earned"] == 70
    latest = view["history"][0]
    assert (latest["from_tier"], latest["to_tier"], latest["reason"]) == (
        "basic",
        "gold",
        "purchase",
    )
    assert latest["metrics"] == {
        "spend": 1600000,
        "points": 500 + earned_by_crossing,
        "purchases": 2,
    }
    assert latest["thresholds"] == {"spend": 1500000}
    assert latest["rule_version"] == 1


def test_progress_says_what_is_missing_and_by_when(ctx, clock, rules_program, make_member):
    """Progress as of now: the money still missing for the next tier by the window's end."""
    program = rules_program(document(window="calendar_year"))
    m = make_member(program)
    buy(ctx, program, m, "11800")
    p = tiers.member_tier(ctx, program, m)["progress"]
    assert p is not None
    assert p["next_tier"] is not None
    assert p["next_tier"]["code"] == "gold"
    assert [(x["metric"], x["missing"]) for x in p["to_next"]] == [("spend", "3200.00")]
    assert p["deadline"] == "2026-12-31"
    buy(ctx, program, m, "4000")
    p = tiers.member_tier(ctx, program, m)["progress"]
    assert p is not None
    assert p["next_tier"] is None
    assert p["keep_met"]


def _review_year_end(ctx, clock, program, m, spend_after_new_year=None):
    """Gold in 2026 with 16,000; the review on 1 January 2027 judges 2026 itself."""
    buy(ctx, program, m, "16000")
    clock.set(datetime(2027, 1, 1, tzinfo=UTC))
    return tiers.review_tiers(ctx, program, clock.now())


@pytest.mark.parametrize(
    ("downgrade", "after_first", "after_grace"),
    [
        ("{mode: never}", "gold", "gold"),
        ("{mode: at_review}", "basic", "basic"),
        ("{mode: after_grace, grace_days: 30}", "gold", "basic"),
    ],
    ids=["never", "at-review", "after-grace"],
)
def test_downgrade_modes(
    ctx, clock, rules_program, make_member, downgrade, after_first, after_grace
):
    """A member who earned gold in 2025 and bought nothing in 2026 keeps it (never), loses
    it at the review (at_review), or keeps it through 30 days of grace first."""
    clock.set(datetime(2025, 6, 1, tzinfo=UTC))
    program = rules_program(document(downgrade=downgrade, window="calendar_year"))
    m = make_member(program)
    buy(ctx, program, m, "16000")
    assert tiers.member_tier(ctx, program, m)["tier_code"] == "gold"
    clock.set(datetime(2026, 1, 1, tzinfo=UTC))
    kept = tiers.review_tiers(ctx, program, clock.now())  # judges 2025: kept
    assert kept["downgraded"] == 0
    clock.set(datetime(2027, 1, 1, tzinfo=UTC))
    first = tiers.review_tiers(ctx, program, clock.now())  # judges 2026: nothing bought
    assert tiers.member_tier(ctx, program, m)["tier_code"] == after_first
    if "after_grace" in downgrade:
        assert first["entered_grace"] == 1
        clock.advance(timedelta(days=29))
        tiers.review_tiers(ctx, program, clock.now())
        assert tiers.member_tier(ctx, program, m)["tier_code"] == "gold"
    clock.advance(timedelta(days=1))
    tiers.review_tiers(ctx, program, clock.now())
    view = tiers.member_tier(ctx, program, m)
    assert view["tier_code"] == after_grace
    if after_grace == "basic":
        assert view["history"][0]["reason"] == "review"
        assert view["history"][0]["thresholds"] == {"spend": 1000000}


def test_dry_run_writes_nothing(ctx, clock, rules_program, make_member):
    """A dry-run review reports the downgrade and stores nothing."""
    clock.set(datetime(2025, 6, 1, tzinfo=UTC))
    program = rules_program(document(window="calendar_year"))
    m = make_member(program)
    buy(ctx, program, m, "16000")
    clock.set(datetime(2027, 1, 1, tzinfo=UTC))
    report = tiers.review_tiers(ctx, program, clock.now(), dry_run=True)
    assert report["downgraded"] == 1
    assert report["dry_run"]
    assert report["changes"] == [{"member_id": m, "from_tier": "gold", "to_tier": "basic"}]
    assert tiers.member_tier(ctx, program, m)["tier_code"] == "gold"


def test_calendar_review_across_year_end_in_kamchatka(ctx, clock, rules_program, make_member):
    """In Asia/Kamchatka (UTC+12) a purchase at 23:00 local on 31 December counts for the
    year ending, and the review at local midnight (noon UTC) judges that year."""
    clock.set(datetime(2026, 12, 31, 11, 0, tzinfo=UTC))  # 23:00 on 31 Dec in Kamchatka
    program = rules_program(document(window="calendar_year"), timezone="Asia/Kamchatka")
    m = make_member(program)
    buy(ctx, program, m, "16000")
    late = make_member(program)
    clock.set(datetime(2026, 12, 31, 12, 30, tzinfo=UTC))  # 00:30 on 1 Jan 2027 local
    buy(ctx, program, late, "16000")
    report = tiers.review_tiers(ctx, program, datetime(2026, 12, 31, 12, 0, tzinfo=UTC))
    # m's 2026 spend keeps gold; late's purchase belongs to 2027 and is not judged yet
    assert tiers.member_tier(ctx, program, m)["tier_code"] == "gold"
    assert tiers.member_tier(ctx, program, late)["tier_code"] == "gold"
    assert report["downgraded"] == 0
    # a year later, with nothing bought in 2027, m loses gold; late (2027 buyer) keeps it
    tiers.review_tiers(ctx, program, datetime(2027, 12, 31, 12, 0, tzinfo=UTC))
    assert tiers.member_tier(ctx, program, m)["tier_code"] == "basic"
    assert tiers.member_tier(ctx, program, late)["tier_code"] == "gold"


def test_return_takes_spend_out_and_waits_for_the_review(ctx, clock, rules_program, make_member):
    """A return takes its spend and points out of the metrics; the tier stays until the
    review (the default), which then judges the reduced spend."""
    clock.set(datetime(2025, 6, 1, tzinfo=UTC))
    program = rules_program(document(window="calendar_year"))
    m = make_member(program)
    buy(ctx, program, m, "9000")
    buy(ctx, program, m, "7000", receipt="R-big")
    assert tiers.member_tier(ctx, program, m)["tier_code"] == "gold"
    purchases.process_return(ctx, program, commands.return_("R-big", {"return_id": "ret-1"}))
    view = tiers.member_tier(ctx, program, m)
    assert view["tier_code"] == "gold"
    assert view["progress"] is not None
    assert [(x["metric"], x["current"]) for x in view["progress"]["keep"]] == [("spend", "9000.00")]
    clock.set(datetime(2026, 1, 1, tzinfo=UTC))
    tiers.review_tiers(ctx, program, clock.now())
    assert tiers.member_tier(ctx, program, m)["tier_code"] == "basic"


def test_manual_tier_is_a_floor_until_its_date(ctx, clock, rules_program, make_member, backend):
    """Support sets gold until a date: the member is gold whatever they buy, audited with
    the reason; after the date the next review falls back to the earned tier."""
    program = rules_program(document(window="calendar_year"))
    m = make_member(program)
    buy(ctx, program, m, "100")
    until = clock.now() + timedelta(days=60)
    reason = Reason(ReasonCode.GOODWILL, "complaint 42")
    view = tiers.set_manual_tier(
        ctx, program, SetManualTier(m, "gold", reason, until), actor="agent"
    )
    assert view["tier_code"] == "gold"
    assert view["earned_tier"] == "basic"
    assert view["manual"] == {
        "tier_code": "gold",
        "until": until.isoformat(),
        "reason": "goodwill: complaint 42",
    }
    assert buy(ctx, program, m, "1000")["points_earned"] == 70  # rules read the floor
    assert view["history"][0]["reason"] == "manual"
    with ctx.uow(read_only=True) as uow:
        actions = [r.action for r in uow.conn.execute(select(audit_log.c.action))]
    assert "member.tier" in actions
    tiers.review_tiers(ctx, program, clock.now() + timedelta(days=30))
    assert tiers.member_tier(ctx, program, m)["tier_code"] == "gold"
    clock.set(until + timedelta(days=1))
    tiers.review_tiers(ctx, program, clock.now())
    assert tiers.member_tier(ctx, program, m)["tier_code"] == "basic"


def test_manual_tier_checks_its_input(ctx, rules_program, make_member):
    """An unknown tier or a date in the past is refused, and nothing is written."""
    program = rules_program(document())
    m = make_member(program)
    reason = Reason(ReasonCode.CORRECTION)
    with pytest.raises(ValidationError):
        tiers.set_manual_tier(ctx, program, SetManualTier(m, "diamond", reason), actor="a")
    with pytest.raises(ValidationError):
        tiers.set_manual_tier(
            ctx,
            program,
            SetManualTier(m, "gold", reason, datetime(2000, 1, 1, tzinfo=UTC)),
            actor="a",
        )
    assert tiers.member_tier(ctx, program, m)["history"] == []


def test_recompute_raises_to_what_purchases_qualify_for(ctx, rules_program, make_member):
    """After the rules gain tiers, recompute lifts members to what their purchases
    already qualify them for."""
    program = rules_program()  # no tiers yet
    m = make_member(program)
    buy(ctx, program, m, "16000")
    assert tiers.member_tier(ctx, program, m)["tier_code"] is None
    from kopilka.services import rules

    rules.publish(ctx, program, document(), actor="test")
    report = tiers.recompute_tiers(ctx, program)
    assert report["upgraded"] == 1
    assert tiers.member_tier(ctx, program, m)["tier_code"] == "gold"
