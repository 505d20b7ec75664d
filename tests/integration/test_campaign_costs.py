"""Campaigns on both databases: rules sharing a ``campaign:`` code add up to the
campaign's points, awards and cost (equal to their stored line awards), rules without one
are not in any, a rule moved to another campaign by a later version counts there, and a
malformed code is refused at publication with its line."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select

from kopilka.domain.analytics import DateRange
from kopilka.domain.errors import ValidationError
from kopilka.services import analytics, purchases, rules
from kopilka.services.campaigns import campaign_costs
from kopilka.store.tables import line_awards
from kopilka.store.tables import purchases as purchases_table
from tests import commands
from tests.integration.purchases.conftest import basket

DOC = """
schema_version: 1
rules:
  - {id: base, kind: rate, rate: {points: 1, per: "100"}}
  - {id: dairy-x2, kind: multiplier, factor: 2, scope: {categories: [dairy]}, campaign: spring}
  - {id: big-basket, kind: bonus, points: 50, min_amount: "3000", campaign: spring}
"""


def _stored(ctx, program, *rule_ids: str) -> tuple[int, int]:
    """The program's stored awards of these rules: points and how many."""
    mine = select(purchases_table.c.id).where(purchases_table.c.program_id == program.id)
    with ctx.uow(read_only=True) as uow:
        points, awards = uow.conn.execute(
            select(func.sum(line_awards.c.points), func.count()).where(
                line_awards.c.rule_id.in_(rule_ids), line_awards.c.purchase_id.in_(mine)
            )
        ).one()
    return int(points or 0), int(awards)


def test_a_campaigns_points_are_its_rules(ctx, clock, make_program, make_member):
    """Two purchases, one with dairy and over 3,000: the campaign ``spring`` has both its
    rules and exactly their stored awards; ``base`` is in no campaign; after ``big-basket``
    moves to ``summer`` in a later version, the range's report counts it there."""
    program = make_program()
    clock.set(datetime(2026, 4, 1, tzinfo=UTC))
    rules.publish(ctx, program, DOC, actor="test")
    m = make_member(program)
    clock.set(datetime(2026, 4, 5, 10, tzinfo=UTC))
    for lines in ((("1", "2000", "dairy"), ("2", "1500", "bread")), (("1", "300", "dairy"),)):
        purchases.commit(ctx, program, commands.purchase(ctx, program, basket(m, *lines)))
    analytics.refresh(ctx, program)
    april = DateRange(date(2026, 4, 1), date(2026, 4, 30))

    (spring,) = campaign_costs(ctx, program, april)["campaigns"]
    assert spring["campaign"] == "spring"
    assert spring["rules"] == ["big-basket", "dairy-x2"]
    assert (spring["points"], spring["awards"]) == _stored(ctx, program, "dairy-x2", "big-basket")
    assert spring["points"] > 0
    assert spring["cost_minor"] == spring["points"] * program.point_value_minor

    clock.set(datetime(2026, 4, 20, tzinfo=UTC))
    rules.publish(
        ctx, program, DOC.replace('"3000", campaign: spring', '"3000", campaign: summer'), actor="t"
    )
    clock.set(datetime(2026, 5, 2, tzinfo=UTC))
    moved = {c["campaign"]: c for c in campaign_costs(ctx, program, april)["campaigns"]}
    assert moved["summer"]["rules"] == ["big-basket"]
    assert moved["summer"]["points"] == _stored(ctx, program, "big-basket")[0] == 50
    assert moved["spring"]["rules"] == ["dairy-x2"]


def test_a_malformed_campaign_code_is_refused_at_publication(ctx, make_program):
    """A campaign code follows a rule id's form: one with spaces is a validation error
    naming the rule's ``campaign`` field, and nothing is published."""
    program = make_program()
    with pytest.raises(ValidationError) as caught:
        rules.publish(
            ctx, program, DOC.replace("campaign: spring", "campaign: Big Sale"), actor="t"
        )
    assert "campaign" in f"{caught.value} {caught.value.details}"
    assert rules.list_versions(ctx, program) == []
