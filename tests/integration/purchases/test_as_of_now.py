"""What a till, a rules author and an auditor read is the balance as of now (review issue 18,
item 13): points that expired since the member's last operation are not offered by a quote
or a rules preview, and an audited adjustment's "before" is not the stale stored row. The
reads settle nothing: the stored balance moves only with the next real operation."""

from __future__ import annotations

from datetime import timedelta

import pytest

from kopilka.domain.errors import InsufficientPoints
from kopilka.services import audit, back_office, purchases, rules
from kopilka.services.audit_log import audit_page
from kopilka.services.points import Adjust, Earn
from tests import commands

from .conftest import basket

DAY = timedelta(days=1)


def stored(ctx, member_id):
    with ctx.uow(read_only=True) as uow:
        bal = uow.members.balance(member_id)
    return bal.available, bal.pending, bal.held


@pytest.fixture
def expired(ctx, clock, rules_program, make_member, funded):
    """A member whose 100 points expired yesterday, not yet booked as expired."""
    program = rules_program(expiry_kind="days", expiry_n=30)
    m = make_member(program)
    funded(program, m, 100)
    clock.advance(31 * DAY)
    assert stored(ctx, m) == (100, 0, 0)
    return program, m


def test_the_quote_does_not_offer_points_that_expired(ctx, expired):
    """100 points that expired yesterday: the quote offers none (it used to offer all
    100, which the commit then refused), refuses to spend them as the commit does, and
    books nothing."""
    program, m = expired
    body = basket(m, ("1", "1000", "bread"))
    totals = audit.verify_ledger(ctx, program.id).totals
    q = purchases.quote(ctx, program, commands.quote(ctx, program, body))
    assert (q["available"], q["max_redeemable"]) == (0, 0)
    assert q["points_earned"] == 10
    with pytest.raises(InsufficientPoints):
        purchases.quote(ctx, program, commands.quote(ctx, program, {**body, "redeem_points": 100}))
    with pytest.raises(InsufficientPoints):
        purchases.commit(
            ctx, program, commands.purchase(ctx, program, {**body, "redeem_points": 100})
        )
    assert stored(ctx, m) == (100, 0, 0)
    assert audit.verify_ledger(ctx, program.id).totals == totals


def test_the_quote_counts_points_that_became_available(ctx, clock, rules_program, make_member):
    """Points whose return window ended since the last operation are payable in the quote."""
    from kopilka.services import points

    program = rules_program(activation_delay_days=14)
    m = make_member(program)
    points.earn(ctx, program, Earn(m, 100, key="pending"))
    clock.advance(15 * DAY)
    q = purchases.quote(
        ctx, program, commands.quote(ctx, program, basket(m, ("1", "1000", "bread")))
    )
    assert (q["available"], q["max_redeemable"]) == (100, 100)
    assert stored(ctx, m) == (0, 100, 0)


def test_the_rules_preview_does_not_offer_points_that_expired(ctx, expired):
    """A draft's preview computes the most payable from the balance as of now."""
    program, m = expired
    draft = (
        "rules:\n  - {id: base, kind: rate, rate: {percent: 10}}\nredemption: {max_percent: 50}\n"
    )
    out = rules.preview(
        ctx,
        program,
        commands.preview(ctx, program, draft, purchase=basket(m, ("1", "1000", "bread"))),
    )
    assert out["max_redeemable"] == 0
    assert stored(ctx, m) == (100, 0, 0)


def test_an_audited_adjustment_records_the_balance_as_of_now(ctx, expired):
    """An adjustment of +10 after 100 points expired: the audit reads 0 -> 10, not
    100 -> 10 (which blamed the adjustment for the expiry)."""
    program, m = expired
    back_office.adjust(
        ctx, program, Adjust(m, 10, key="adj-1", reason="goodwill", actor="support:ann")
    )
    (row,) = audit_page(ctx, program.id, target=f"member:{m}")["items"]
    assert row.before == {"available": 0, "pending": 0, "held": 0}
    assert row.after == {"available": 10, "pending": 0, "held": 0}
    assert audit.verify_ledger(ctx, program.id).ok
