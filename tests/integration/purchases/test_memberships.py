"""Paid membership through the services on both databases: a sale starts a term at the
plan's tier, a renewal extends it from the current end, a cancel keeps it to the term's
end, a refund ends it at once, the term's end falls back to the earned tier (on read, for
a purchase's earning and in the tiers review), every change in the tier history and the
audit log, and each sale idempotent on its receipt id."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from kopilka.domain.errors import ConflictError, IdempotencyConflict, ValidationError
from kopilka.services import memberships as ms
from kopilka.services import tiers
from kopilka.services.memberships import (
    CancelMembership,
    RefundMembership,
    RenewMembership,
    StartMembership,
)
from kopilka.store.tables import audit_log, membership_sales

from .test_tiers import buy

PAID = """
schema_version: 1
rules:
  - {id: base, kind: rate, rate: {percent: 5}}
  - {id: gold-extra, kind: rate, rate: {percent: 2}, when: {tiers: [gold]}}
tiers:
  levels:
    - {code: basic, name: {ru: Базовый, en: Basic}}
    - code: gold
      name: {ru: Золотой, en: Gold}
      entry: {spend: "15000"}
  paid:
    - code: gold_month
      tier: gold
      price: "299"
      term: {months: 1}
      name: {ru: Золотой на месяц, en: Gold for a month}
    - code: gold_week
      tier: gold
      price: "99"
      term: {days: 7}
      name: {ru: Золотой на неделю, en: Gold for a week}
"""

START = datetime(2026, 1, 31, 12, tzinfo=UTC)


@pytest.fixture
def paid(ctx, clock, rules_program, make_member):
    clock.set(START)
    program = rules_program(PAID)
    member = make_member(program)
    buy(ctx, program, member, "100")  # earned: basic
    return program, member


def _start(ctx, program, member, receipt="S1", plan="gold_month", **kw):
    return ms.start_membership(
        ctx, program, StartMembership(member, plan, receipt, **kw), actor="till"
    )


def test_start_gives_the_tier_for_the_term(ctx, paid):
    """A sale starts a term of calendar months (31 January + 1 month = 28 February) at the
    plan's tier, recorded with its money (minor units), never as points; the history says
    why; the purchase earns at the paid tier."""
    program, member = paid
    view = _start(ctx, program, member)
    assert (view["status"], view["active"], view["tier_code"]) == ("active", True, "gold")
    assert view["ends_at"] == "2026-02-28T12:00:00+00:00"
    assert view["paid"] == "299.00"
    assert [(s["kind"], s["amount"]) for s in view["sales"]] == [("start", "299.00")]
    t = tiers.member_tier(ctx, program, member)
    assert (t["tier_code"], t["earned_tier"]) == ("gold", "basic")
    assert t["paid"] == {"tier_code": "gold", "until": "2026-02-28T12:00:00+00:00"}
    line = t["history"][0]
    assert (line["from_tier"], line["to_tier"], line["reason"]) == ("basic", "gold", "paid")
    assert buy(ctx, program, member, "1000")["points_earned"] == 70
    with ctx.uow(read_only=True) as uow:
        sales = uow.conn.execute(
            select(membership_sales.c.amount_minor).where(
                membership_sales.c.program_id == program.id
            )
        ).scalars()
        actions = uow.conn.execute(
            select(audit_log.c.action).where(audit_log.c.program_id == program.id)
        ).scalars()
        sales, actions = list(sales), list(actions)
    assert sales == [29900]
    assert "membership.start" in actions


def test_term_end_falls_back_on_read_purchase_and_review(ctx, clock, paid):
    """When the term ends, with nobody writing: the API's read, the purchase's earning
    and the tiers review all see the earned tier; the review records the fall back."""
    program, member = paid
    _start(ctx, program, member, plan="gold_week")
    clock.set(START + timedelta(days=7))
    assert tiers.member_tier(ctx, program, member)["tier_code"] == "basic"
    assert tiers.member_tier(ctx, program, member)["paid"] is None
    assert buy(ctx, program, member, "1000")["points_earned"] == 50
    report = tiers.review_tiers(ctx, program, clock.now())
    assert report["downgraded"] == 1
    line = tiers.member_tier(ctx, program, member)["history"][0]
    assert (line["from_tier"], line["to_tier"], line["reason"]) == ("gold", "basic", "paid")
    assert ms.memberships_of(ctx, program, member)[0]["active"] is False


def test_renew_extends_from_the_current_end(ctx, clock, paid):
    """A renewal during the term runs on from its end (no day lost); after the term has
    ended it starts now."""
    program, member = paid
    started = _start(ctx, program, member, plan="gold_week")
    clock.set(START + timedelta(days=3))
    renewed = ms.renew_membership(
        ctx, program, RenewMembership(member, started["id"], "S2"), actor="till"
    )
    assert renewed["ends_at"] == (START + timedelta(days=14)).isoformat()
    assert [s["kind"] for s in renewed["sales"]] == ["start", "renew"]
    assert renewed["paid"] == "198.00"
    clock.set(START + timedelta(days=20))
    assert tiers.member_tier(ctx, program, member)["tier_code"] == "basic"
    again = ms.renew_membership(
        ctx, program, RenewMembership(member, started["id"], "S3"), actor="till"
    )
    assert again["ends_at"] == (START + timedelta(days=27)).isoformat()
    assert tiers.member_tier(ctx, program, member)["tier_code"] == "gold"


def test_cancel_runs_to_the_end_of_the_term(ctx, clock, paid):
    """A cancel stops renewing and keeps the tier to the term's end; a second cancel
    changes nothing; then the member falls back."""
    program, member = paid
    started = _start(ctx, program, member, plan="gold_week")
    cancel = CancelMembership(member, started["id"])
    view = ms.cancel_membership(ctx, program, cancel, actor="support")
    assert (view["status"], view["active"], view["renews"]) == ("cancelled", True, False)
    assert ms.cancel_membership(ctx, program, cancel, actor="support") == view
    assert tiers.member_tier(ctx, program, member)["tier_code"] == "gold"
    clock.set(START + timedelta(days=7, seconds=1))
    assert tiers.member_tier(ctx, program, member)["tier_code"] == "basic"


def test_refund_ends_at_once(ctx, clock, paid):
    """A refund ends the membership now, gives the money back as a negative sale (at most
    what it took), and the member is at their earned tier at once."""
    program, member = paid
    started = _start(ctx, program, member)
    clock.set(START + timedelta(days=1))
    with pytest.raises(ValidationError):
        ms.refund_membership(
            ctx,
            program,
            RefundMembership(member, started["id"], "RF0", amount_minor=30000),
            actor="support",
        )
    view = ms.refund_membership(
        ctx, program, RefundMembership(member, started["id"], "RF1"), actor="support"
    )
    assert (view["status"], view["active"], view["paid"]) == ("refunded", False, "0.00")
    assert view["ends_at"] == clock.now().isoformat()
    t = tiers.member_tier(ctx, program, member)
    assert t["tier_code"] == "basic"
    assert (t["history"][0]["to_tier"], t["history"][0]["reason"]) == ("basic", "paid")
    assert buy(ctx, program, member, "1000")["points_earned"] == 50
    with pytest.raises(ConflictError):
        ms.renew_membership(ctx, program, RenewMembership(member, started["id"], "S9"), actor="t")


def test_idempotent_on_the_receipt_id(ctx, clock, paid):
    """The same receipt id and body answer the same result (nothing sold twice); another
    body under it is a conflict; a second running membership is refused."""
    program, member = paid
    first = _start(ctx, program, member)
    clock.set(START + timedelta(hours=1))
    assert _start(ctx, program, member) == first
    with pytest.raises(IdempotencyConflict):
        _start(ctx, program, member, plan="gold_week")
    with pytest.raises(ConflictError):
        _start(ctx, program, member, receipt="S2")
    with ctx.uow(read_only=True) as uow:
        sold = select(membership_sales.c.id).where(membership_sales.c.program_id == program.id)
        assert len(uow.conn.execute(sold).all()) == 1


def test_unknown_plan_and_currency_refused(ctx, paid):
    """A plan the rules do not sell, or another currency, is refused and nothing written."""
    program, member = paid
    with pytest.raises(ValidationError) as exc:
        _start(ctx, program, member, plan="platinum")
    assert exc.value.details["field"] == "plan"
    with pytest.raises(ValidationError):
        _start(ctx, program, member, receipt="S5", currency="EUR")
    assert ms.memberships_of(ctx, program, member) == []
