"""Redemption limits by tier through the services on both databases: a gold member (by a
paid membership) may pay half the purchase with points where others pay 30 %; the quote
and the commit agree; when the term ends the document's limit is back at once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kopilka.domain.errors import RedemptionNotAllowed
from kopilka.services import memberships, purchases
from kopilka.services.memberships import StartMembership
from tests import commands

from .conftest import basket

DOCUMENT = """
schema_version: 1
rules:
  - {id: base, kind: rate, rate: {percent: 5}}
redemption:
  max_percent: 30
  by_tier: {gold: {max_percent: 50}}
tiers:
  levels:
    - {code: basic, name: {ru: Базовый, en: Basic}}
    - {code: gold, name: {ru: Золотой, en: Gold}, entry: {spend: "15000"}}
  paid:
    - {code: gold_week, tier: gold, price: "99", term: {days: 7}, name: {ru: З, en: G}}
"""
START = datetime(2026, 5, 4, 10, tzinfo=UTC)


def _body(member_id: int, points: int) -> dict[str, object]:
    return {**basket(member_id, ("1", "1000", "food")), "redeem_points": points}


def test_gold_pays_half_until_the_term_ends(ctx, clock, rules_program, make_member, funded):
    """Basic: 300 of a 1,000 RUB basket at most (500 refused); gold by a paid week: the
    quote offers 500 and the commit takes it; a week later 500 is refused again, before any
    review has run."""
    clock.set(START)
    program = rules_program(DOCUMENT)
    m = make_member(program)
    funded(program, m, 5000)
    quote = purchases.quote(ctx, program, commands.quote(ctx, program, _body(m, 300)))
    assert quote["max_redeemable"] == 300
    with pytest.raises(RedemptionNotAllowed):
        purchases.commit(ctx, program, commands.purchase(ctx, program, _body(m, 500)))
    sale = StartMembership(m, "gold_week", "GW-1")
    memberships.start_membership(ctx, program, sale, actor="till")
    quote = purchases.quote(ctx, program, commands.quote(ctx, program, _body(m, 500)))
    assert (quote["max_redeemable"], quote["redeem_points"]) == (500, 500)
    booked = purchases.commit(ctx, program, commands.purchase(ctx, program, _body(m, 500)))
    assert booked["points_redeemed"] == 500
    clock.set(START + timedelta(days=7))
    quote = purchases.quote(ctx, program, commands.quote(ctx, program, _body(m, 300)))
    assert quote["max_redeemable"] == 300
    with pytest.raises(RedemptionNotAllowed):
        purchases.commit(ctx, program, commands.purchase(ctx, program, _body(m, 500)))
