"""The welcome bonus of a tier (the ``tier_reached`` event) through the services on both
databases: the purchase that reaches gold credits it through the ledger, its entry
referencing the tier change; once per member and tier (a replayed purchase, a second
rise to gold after a downgrade give nothing); a review's rise gives it too; a rule may
``match`` the reason, so a paid membership gives none."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from kopilka.services import memberships, tiers
from kopilka.services.memberships import StartMembership
from kopilka.store.tables import journal_entries, tier_changes

from .test_tiers import buy

WELCOME = """
schema_version: 1
rules:
  - {id: base, kind: rate, rate: {percent: 5}}
  - {id: welcome-gold, kind: event, event: tier_reached, points: 500, when: {tiers: [gold]},
     description: "Welcome to Gold"%(match)s}
tiers:
  window: {kind: calendar_year}
  levels:
    - {code: basic, name: {ru: Базовый, en: Basic}}
    - {code: gold, name: {ru: Золотой, en: Gold}, entry: {spend: "15000"}, keep: {spend: "10000"}}
  paid:
    - {code: gold_week, tier: gold, price: "99", term: {days: 7}, name: {ru: З, en: G}}
"""


def document(match: str = "") -> str:
    return WELCOME % {"match": match}


def _welcomes(ctx, member_id):
    """The member's earnings of the welcome rule: (points, reference)."""
    j = journal_entries.c
    with ctx.uow(read_only=True) as uow:
        rows = uow.conn.execute(
            select(j.points, j.reference)
            .where(j.member_id == member_id, j.rule_id == "welcome-gold", j.kind == "earn")
            .order_by(j.id)
        )
        return [tuple(r) for r in rows]


def _change_to(ctx, member_id, tier):
    c = tier_changes.c
    with ctx.uow(read_only=True) as uow:
        return uow.conn.execute(
            select(c.id).where(c.member_id == member_id, c.to_tier == tier).order_by(c.id.desc())
        ).scalar()


def test_the_purchase_reaching_gold_credits_the_welcome_once(
    ctx, clock, rules_program, make_member
):
    """Basic gives nothing (the rule is for gold); the purchase crossing 15,000 RUB credits
    500 points referencing its tier change; a replay of it, later purchases, a downgrade
    and a second rise to gold credit nothing more."""
    clock.set(datetime(2026, 3, 1, tzinfo=UTC))
    program = rules_program(document())
    m = make_member(program)
    receipt = "W-1"
    buy(ctx, program, m, "1000")
    assert _welcomes(ctx, m) == []
    booked = buy(ctx, program, m, "15000", receipt=receipt)
    change = _change_to(ctx, m, "gold")
    assert _welcomes(ctx, m) == [(500, f"tier_change:{change}")]
    assert booked["points_earned"] == 750  # the purchase's own; the welcome is its entry
    assert booked["balance"]["available"] + booked["balance"]["pending"] == 50 + 750 + 500
    assert buy(ctx, program, m, "15000", receipt=receipt) == booked  # a replay
    buy(ctx, program, m, "20000")
    assert len(_welcomes(ctx, m)) == 1
    clock.set(datetime(2028, 1, 1, tzinfo=UTC))
    tiers.review_tiers(ctx, program, clock.now())  # 2027: nothing bought, down to basic
    assert tiers.member_tier(ctx, program, m)["tier_code"] == "basic"
    buy(ctx, program, m, "16000")
    assert tiers.member_tier(ctx, program, m)["tier_code"] == "gold"
    assert len(_welcomes(ctx, m)) == 1


def test_a_review_rise_gives_it(ctx, clock, rules_program, make_member):
    """Gold reached by a recompute after the rules changed: the welcome is credited then,
    once."""
    clock.set(datetime(2026, 3, 1, tzinfo=UTC))
    program = rules_program(document().replace('"15000"', '"50000"'))
    m = make_member(program)
    buy(ctx, program, m, "20000")
    assert tiers.member_tier(ctx, program, m)["tier_code"] == "basic"
    from kopilka.services import rules as rules_svc

    rules_svc.publish(ctx, program, document(), actor="test")
    tiers.recompute_tiers(ctx, program)
    tiers.recompute_tiers(ctx, program)
    change = _change_to(ctx, m, "gold")
    assert _welcomes(ctx, m) == [(500, f"tier_change:{change}")]


def test_a_rule_matching_the_reason_skips_paid_tiers(ctx, clock, rules_program, make_member):
    """With ``match: {reason: purchase}`` a paid gold gives nothing and does not use up the
    welcome: the purchase that later earns gold still gets it."""
    clock.set(datetime(2026, 3, 1, tzinfo=UTC))
    program = rules_program(document(", match: {reason: purchase}"))
    m = make_member(program)
    buy(ctx, program, m, "100")
    sale = StartMembership(m, "gold_week", "GW-1")
    memberships.start_membership(ctx, program, sale, actor="till")
    assert tiers.member_tier(ctx, program, m)["tier_code"] == "gold"
    assert _welcomes(ctx, m) == []
    clock.set(datetime(2026, 3, 10, tzinfo=UTC))
    buy(ctx, program, m, "16000")
    assert len(_welcomes(ctx, m)) == 1
