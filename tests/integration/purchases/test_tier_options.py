"""The tiers: section's program options through the services, on both databases, as the
issue's golden cases: qualifying points from events and adjustments (counted at once, in a
review and in a recompute), a return downgrading before the review, and anniversary
reviews (the review date, the progress's "by" date)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from kopilka.services import points, purchases, tiers
from kopilka.services.points import Adjust
from kopilka.web.i18n import using
from kopilka.web.tier_pages import member_panel
from tests import commands

from .conftest import basket

POINTS_TIERS = """
schema_version: 1
rules:
  - {id: base, kind: rate, rate: {percent: 5}}
  - {id: review, kind: event, event: review, points: 200}
  - {id: welcome-gold, kind: event, event: tier_reached, points: 1000, when: {tiers: [silver]}}
tiers:
  window: {kind: lifetime}
%(options)s
  levels:
    - {code: basic, name: {ru: Базовый, en: Basic}}
    - {code: silver, name: {ru: Серебро, en: Silver}, entry: {points: 500}}
    - {code: gold, name: {ru: Золото, en: Gold}, entry: {points: 1500}}
"""


def points_program(rules_program, *sources: str):
    options = f"  qualifying_points: {{from: [{', '.join(sources)}]}}" if sources else ""
    return rules_program(POINTS_TIERS % {"options": options})


def buy(ctx, program, member_id, amount, receipt=None):
    body = basket(member_id, ("1", amount, "food"))
    if receipt:
        body["receipt_id"] = receipt
    return purchases.commit(ctx, program, commands.purchase(ctx, program, body))


def event(ctx, program, member_id, event_id):
    body = {"event_id": event_id, "type": "review", "member_id": member_id}
    return purchases_event(ctx, program, body)


def purchases_event(ctx, program, body):
    from kopilka.services import events

    return events.record_event(ctx, program, commands.event(body))


def adjust(ctx, program, member_id, delta, key):
    cmd = Adjust(member_id, delta, key=key, reason="goodwill", actor="agent")
    return points.adjust(ctx, program, cmd)


def tier(ctx, program, member_id):
    return tiers.member_tier(ctx, program, member_id)["tier_code"]


# ---- qualifying points ---------------------------------------------------------------


def test_events_and_adjustments_do_not_qualify_by_default(ctx, rules_program, make_member):
    """Without the option only purchase earnings are qualifying points: 400 from a
    purchase, 200 from an event and 500 from support leave the member short of Silver."""
    program = points_program(rules_program)
    m = make_member(program)
    buy(ctx, program, m, "8000")  # 5 %: 400 points
    event(ctx, program, m, "ev-1")
    adjust(ctx, program, m, 500, "adj-1")
    assert tier(ctx, program, m) == "basic"
    tiers.review_tiers(ctx, program, ctx.now())
    assert tier(ctx, program, m) == "basic"
    p = tiers.member_tier(ctx, program, m)["progress"]
    assert p is not None
    assert [(x["metric"], x["current"]) for x in p["to_next"]] == [("points", "400")]


def test_event_points_qualify_at_once_when_counted(ctx, rules_program, make_member):
    """With ``from: [purchases, events]`` the event's 200 points lift a member with 400
    purchase points to Silver at once; the change says ``event`` with the metrics, the bar
    and the rules version. The tier's own welcome bonus (1,000 points) is not counted:
    reaching Silver does not lift the member to Gold by itself."""
    program = points_program(rules_program, "purchases", "events")
    m = make_member(program)
    buy(ctx, program, m, "8000")
    assert tier(ctx, program, m) == "basic"
    event(ctx, program, m, "ev-1")
    view = tiers.member_tier(ctx, program, m)
    assert view["tier_code"] == "silver"
    latest = view["history"][0]
    assert (latest["reason"], latest["to_tier"]) == ("event", "silver")
    assert latest["metrics"] == {"spend": 800000, "points": 600, "purchases": 1}
    assert latest["thresholds"] == {"points": 500}
    assert latest["rule_version"] == 1
    tiers.review_tiers(ctx, program, ctx.now())
    tiers.recompute_tiers(ctx, program)
    assert tier(ctx, program, m) == "silver"  # 1,600 with the welcome bonus: not Gold


def test_adjustments_qualify_net_when_counted(ctx, rules_program, make_member):
    """With ``from: [purchases, adjustments]`` support's 200 points lift a member at once
    (reason ``adjustment``); a deduction counts against them (net), and events do not."""
    program = points_program(rules_program, "purchases", "adjustments")
    m = make_member(program)
    buy(ctx, program, m, "8000")
    event(ctx, program, m, "ev-1")
    assert tier(ctx, program, m) == "basic"
    adjust(ctx, program, m, 200, "adj-1")
    view = tiers.member_tier(ctx, program, m)
    assert view["tier_code"] == "silver"
    assert view["history"][0]["reason"] == "adjustment"
    assert view["history"][0]["metrics"]["points"] == 600
    adjust(ctx, program, m, -150, "adj-2")
    p = tiers.member_tier(ctx, program, m)["progress"]
    assert p is not None
    assert [(x["metric"], x["current"]) for x in p["to_next"]] == [("points", "450")]


def test_events_only_leave_purchase_points_out(ctx, rules_program, make_member):
    """``from: [events]``: purchase earnings are not counted at all; a recompute after
    the rules change counts the events the member already had."""
    program = points_program(rules_program)
    m = make_member(program)
    buy(ctx, program, m, "20000")  # 1,000 purchase points: Silver under the default
    for n in range(3):
        event(ctx, program, m, f"ev-{n}")  # 600 event points
    assert tier(ctx, program, m) == "silver"
    from kopilka.services import rules

    rules.publish(
        ctx,
        program,
        POINTS_TIERS % {"options": "  qualifying_points: {from: [events]}"},
        actor="test",
    )
    p = tiers.member_tier(ctx, program, m)["progress"]
    assert p is not None
    assert [(x["metric"], x["current"]) for x in p["to_next"]] == [("points", "600")]


def test_a_review_batch_sums_every_source_as_one_member_would(ctx, rules_program, make_member):
    """The set-based review and recompute sum a batch's qualifying points per member in
    the database: for every combination of sources the batch's metrics equal what the
    per-member path (a purchase, the progress) counts, members with only event points,
    only adjustments or nothing at all included."""
    program = points_program(rules_program)
    both, events_only, adjusted, idle = (make_member(program) for _ in range(4))
    buy(ctx, program, both, "8000")
    event(ctx, program, both, "ev-1")
    adjust(ctx, program, both, 300, "adj-1")
    adjust(ctx, program, both, -120, "adj-2")
    for n in range(2):
        event(ctx, program, events_only, f"ev-o-{n}")
    adjust(ctx, program, adjusted, 250, "adj-3")
    ids = sorted((both, events_only, adjusted, idle))
    for sources in ([], ["events"], ["adjustments"], ["purchases", "events", "adjustments"]):
        options = f"  qualifying_points: {{from: [{', '.join(sources)}]}}" if sources else ""
        policy = tiers.draft_tiers(POINTS_TIERS % {"options": options}, "yaml")
        assert policy is not None
        with ctx.uow(read_only=True) as uow:
            repo = tiers.TierRepo(uow.conn)
            batch = tiers._batch_metrics(repo, policy, ids[0], ids[-1], None, None)
            one = {m: tiers._metrics(repo, policy, m, None, None) for m in ids}
        assert {m: batch.get(m, tiers.NO_METRICS) for m in ids} == one, sources


def test_a_recompute_counts_a_member_with_only_event_points(ctx, rules_program, make_member):
    """A member with event points and no purchases at all (absent from the batch's
    purchase sums) reaches Silver at the recompute after the program starts counting
    events; a member with nothing does not."""
    program = points_program(rules_program)
    m, idle = make_member(program), make_member(program)
    for n in range(3):
        event(ctx, program, m, f"ev-{n}")  # 600 event points
    assert tier(ctx, program, m) != "silver"
    from kopilka.services import rules

    rules.publish(
        ctx,
        program,
        POINTS_TIERS % {"options": "  qualifying_points: {from: [events]}"},
        actor="test",
    )
    report = tiers.recompute_tiers(ctx, program)
    assert {"member_id": m, "from_tier": None, "to_tier": "silver"} in report["changes"]
    assert tier(ctx, program, m) == "silver"
    assert tier(ctx, program, idle) != "silver"


# ---- returns ----------------------------------------------------------------------------

SPEND_TIERS = """
schema_version: 1
rules:
  - {id: base, kind: rate, rate: {percent: 5}}
tiers:
  window: {kind: %(window)s}
  downgrade: {mode: at_review%(on_return)s}
%(review)s
  levels:
    - {code: basic, name: {ru: Базовый, en: Basic}}
    - code: gold
      name: {ru: Золотой, en: Gold}
      entry: {spend: "15000"}
      keep: {spend: "10000"}
"""


def spend_document(window="lifetime", on_return=False, review=""):
    return SPEND_TIERS % {
        "window": window,
        "on_return": ", on_return: true" if on_return else "",
        "review": f"  review: {{schedule: {review}}}" if review else "",
    }


def test_a_return_below_the_keep_bar_downgrades_at_once_when_on(ctx, rules_program, make_member):
    """With ``on_return: true`` returning 7,000 of 16,000 (9,000 left, the keep bar
    10,000) takes Gold away at once, stored with reason ``return``, the metrics after the
    return, the bar missed and the rules version; a return that leaves the member above
    the bar changes nothing."""
    program = rules_program(spend_document(on_return=True))
    m = make_member(program)
    buy(ctx, program, m, "9000")
    buy(ctx, program, m, "4000", receipt="R-small")
    buy(ctx, program, m, "3000", receipt="R-big")
    assert tier(ctx, program, m) == "gold"
    purchases.process_return(ctx, program, commands.return_("R-big", {"return_id": "r1"}))
    assert tier(ctx, program, m) == "gold"  # 13,000 left: kept
    purchases.process_return(ctx, program, commands.return_("R-small", {"return_id": "r2"}))
    view = tiers.member_tier(ctx, program, m)
    assert view["tier_code"] == "basic"
    latest = view["history"][0]
    assert (latest["from_tier"], latest["to_tier"], latest["reason"]) == (
        "gold",
        "basic",
        "return",
    )
    assert latest["metrics"] == {"spend": 900000, "points": 450, "purchases": 3}
    assert latest["thresholds"] == {"spend": 1000000}
    assert latest["rule_version"] == 1


def test_a_return_keeps_the_tier_until_the_review_by_default(ctx, rules_program, make_member):
    """Without the option the same return leaves Gold until the review."""
    program = rules_program(spend_document())
    m = make_member(program)
    buy(ctx, program, m, "9000")
    buy(ctx, program, m, "7000", receipt="R-big")
    purchases.process_return(ctx, program, commands.return_("R-big", {"return_id": "r1"}))
    assert tier(ctx, program, m) == "gold"
    tiers.review_tiers(ctx, program, ctx.now())
    assert tier(ctx, program, m) == "basic"


def test_a_return_spares_a_tier_the_judged_year_keeps(ctx, clock, rules_program, make_member):
    """Calendar year: Gold kept on 2026's buying is not taken by returning a 2027
    purchase, though 2027 so far holds nothing."""
    clock.set(datetime(2026, 6, 1, tzinfo=UTC))
    program = rules_program(spend_document(window="calendar_year", on_return=True))
    m = make_member(program)
    buy(ctx, program, m, "16000")
    clock.set(datetime(2027, 2, 1, tzinfo=UTC))
    tiers.review_tiers(ctx, program, datetime(2027, 1, 1, tzinfo=UTC))
    buy(ctx, program, m, "500", receipt="R-2027")
    purchases.process_return(ctx, program, commands.return_("R-2027", {"return_id": "r1"}))
    assert tier(ctx, program, m) == "gold"


# ---- anniversary reviews ------------------------------------------------------------------


def test_anniversary_review_judges_each_member_on_their_date(
    ctx, clock, rules_program, make_member
):
    """Rolling 12 months, reviewed on the anniversary of reaching the tier: Gold reached
    on 1 February 2026 survives a review on 20 January 2027 that a rolling review would
    lose it at; the member's progress says what keeps it by 31 January; on 1 February
    2027 the review judges the twelve months then and takes it away; a member who bought
    enough keeps it, with the next review a year on."""
    clock.set(datetime(2026, 1, 10, 9, tzinfo=UTC))
    program = rules_program(spend_document(window="rolling, months: 12", review="anniversary"))
    lost, kept = make_member(program), make_member(program)
    for m in (lost, kept):
        buy(ctx, program, m, "9000")
    clock.set(datetime(2026, 2, 1, 9, tzinfo=UTC))
    for m in (lost, kept):
        buy(ctx, program, m, "7000")
        assert tier(ctx, program, m) == "gold"
    clock.set(datetime(2027, 1, 20, 3, 30, tzinfo=UTC))
    # the window ending now holds 7,000 (below the keep bar): not their review yet
    report = tiers.review_tiers(ctx, program, clock.now())
    assert report["downgraded"] == 0
    assert tier(ctx, program, lost) == "gold"
    p = tiers.member_tier(ctx, program, lost)["progress"]
    assert p is not None
    assert p["review"] == "anniversary"
    assert p["deadline"] is None  # reaching a tier has no date in a rolling window
    assert p["keep_deadline"] == "2027-01-31"
    assert [(x["metric"], x["missing"]) for x in p["keep"]] == [("spend", "3000.00")]
    with using("en"):
        panel = member_panel(ctx, program, lost)
        assert panel is not None
        assert panel["to_keep"] == ["Spend RUB\xa03,000.00 by 2027-01-31 to keep Gold"]
    with using("ru"):
        panel = member_panel(ctx, program, lost)
        assert panel is not None
        assert panel["to_keep"] == [
            "Потратьте 3\xa0000,00\xa0₽ до 31.01.2027, чтобы сохранить уровень «Золотой»"
        ]
    buy(ctx, program, kept, "3000")
    clock.set(datetime(2027, 2, 1, 3, 30, tzinfo=UTC))
    report = tiers.review_tiers(ctx, program, clock.now())
    assert report["downgraded"] == 1
    assert tier(ctx, program, lost) == "basic"
    assert tier(ctx, program, kept) == "gold"
    assert tiers.member_tier(ctx, program, lost)["history"][0]["reason"] == "review"
    p = tiers.member_tier(ctx, program, kept)["progress"]
    assert p is not None
    assert p["keep_deadline"] == "2028-01-31"


def test_anniversary_review_catches_up_after_a_missed_day(ctx, clock, rules_program, make_member):
    """A review run late (the worker was down on the anniversary) still reviews a member
    whose date has passed, and only once."""
    clock.set(datetime(2026, 2, 1, 9, tzinfo=UTC))
    program = rules_program(spend_document(review="anniversary"))
    m = make_member(program)
    buy(ctx, program, m, "16000", receipt="R-1")
    purchases.process_return(ctx, program, commands.return_("R-1", {"return_id": "r1"}))
    assert tier(ctx, program, m) == "gold"  # lifetime: the return waits for the review
    tiers.review_tiers(ctx, program, datetime(2026, 12, 1, tzinfo=UTC))
    assert tier(ctx, program, m) == "gold"
    late = datetime(2027, 2, 5, tzinfo=UTC)
    assert tiers.review_tiers(ctx, program, late)["downgraded"] == 1
    assert tier(ctx, program, m) == "basic"
    assert tiers.review_tiers(ctx, program, late + timedelta(days=1))["downgraded"] == 0


def test_anniversary_review_with_grace(ctx, clock, rules_program, make_member):
    """``after_grace`` with anniversary reviews: the anniversary that finds the keep bar
    missed starts 30 days of grace; the daily reviews in between judge the member again
    without moving their next anniversary; the one after the grace takes the tier, and the
    lower tier's year starts then."""
    clock.set(datetime(2026, 1, 10, 9, tzinfo=UTC))
    document = spend_document(window="rolling, months: 12", review="anniversary").replace(
        "{mode: at_review}", "{mode: after_grace, grace_days: 30}"
    )
    program = rules_program(document)
    m = make_member(program)
    buy(ctx, program, m, "9000")
    clock.set(datetime(2026, 2, 1, 9, tzinfo=UTC))
    buy(ctx, program, m, "7000")  # gold; on 1 February 2027 only these 7,000 count
    first = tiers.review_tiers(ctx, program, datetime(2027, 2, 1, 3, 30, tzinfo=UTC))
    assert first["entered_grace"] == 1
    for day in (2, 20):
        tiers.review_tiers(ctx, program, datetime(2027, 2, day, 3, 30, tzinfo=UTC))
        assert tier(ctx, program, m) == "gold"
    clock.set(datetime(2027, 2, 20, 9, tzinfo=UTC))
    p = tiers.member_tier(ctx, program, m)["progress"]
    assert p is not None
    assert p["keep_deadline"] == "2028-01-31"
    tiers.review_tiers(ctx, program, datetime(2027, 3, 3, 3, 30, tzinfo=UTC))
    assert tier(ctx, program, m) == "basic"
    clock.set(datetime(2027, 3, 4, tzinfo=UTC))
    p = tiers.member_tier(ctx, program, m)["progress"]
    assert p is not None
    assert p["keep_deadline"] == "2028-03-02"
