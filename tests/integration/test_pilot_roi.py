"""A pilot's return on both databases: members are split between the pilot and its
control group exactly as the till split them (the purchases record the control group),
spending and the rule's points add up to what was stored, and the ROI follows from them."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select

from kopilka.domain.analytics import DateRange
from kopilka.domain.pilot_roi import group_spending, pilot_return
from kopilka.services import analytics, purchases, rules
from kopilka.services.pilot_roi import pilot_returns
from kopilka.store.tables import line_awards
from kopilka.store.tables import purchases as purchases_table
from tests import commands
from tests.integration.purchases.conftest import basket

PILOT_RULES = """
schema_version: 1
rules:
  - {id: base, kind: rate, rate: {points: 1, per: "100"}}
  - id: trial
    kind: rate
    description: "Trial: 5 % back"
    rate: {percent: 5}
    pilot: {share_percent: 50}
"""


def test_a_pilots_return_is_computed_from_what_was_stored(ctx, clock, make_program, make_member):
    """60 members each buy for 1,000 RUB in March; those in the pilot buy again for 500.
    The report's groups are the members the earning put in each (control members' receipts
    name the rule), their spending is the receipts' totals, the rule's points are its
    stored awards, and the ROI is the domain's formula of those."""
    program = make_program(timezone="Europe/Moscow")
    clock.set(datetime(2026, 2, 1, tzinfo=UTC))
    rules.publish(ctx, program, PILOT_RULES, actor="test")
    members = [make_member(program) for _ in range(60)]
    clock.set(datetime(2026, 3, 10, 9, tzinfo=UTC))
    for m in members:
        body = basket(m, ("1", "1000", "bread"))
        purchases.commit(ctx, program, commands.purchase(ctx, program, body))
    with ctx.uow(read_only=True) as uow:
        rows = uow.conn.execute(
            select(purchases_table.c.member_id, purchases_table.c.meta).where(
                purchases_table.c.program_id == program.id
            )
        ).all()
    control = {m for m, meta in rows if "trial" in ((meta or {}).get("control_group") or [])}
    pilot = [m for m in members if m not in control]
    assert 0 < len(control) < 60
    clock.set(datetime(2026, 3, 20, 9, tzinfo=UTC))
    for m in pilot:
        body = basket(m, ("1", "500", "milk"))
        purchases.commit(ctx, program, commands.purchase(ctx, program, body))
    analytics.refresh(ctx, program)

    report = pilot_returns(ctx, program, DateRange(date(2026, 3, 1), date(2026, 3, 31)))

    (result,) = report["pilots"]
    assert (result["rule_id"], result["share_percent"]) == ("trial", 50.0)
    assert result["pilot"]["members"] == len(pilot)
    assert result["control"]["members"] == len(control)
    assert result["pilot"]["revenue_minor"] == len(pilot) * 150_000
    assert result["control"]["revenue_minor"] == len(control) * 100_000
    with ctx.uow(read_only=True) as uow:
        stored = uow.conn.execute(
            select(func.sum(line_awards.c.points)).where(
                line_awards.c.rule_id == "trial",
                line_awards.c.purchase_id.in_(
                    select(purchases_table.c.id).where(purchases_table.c.program_id == program.id)
                ),
            )
        ).scalar_one()
    stored = int(stored)
    assert result["points"] == stored > 0
    assert result["cost_minor"] == stored * program.point_value_minor
    expected = pilot_return(
        group_spending([150_000] * len(pilot), len(pilot)),
        group_spending([100_000] * len(control), len(control)),
        stored,
        program.point_value_minor,
    )
    assert result["uplift_minor"] == pytest.approx(50_000)
    assert result["roi"] == pytest.approx(expected.roi, abs=1e-4)
    # every member spent the same within a group: no spread, so the interval is a point
    assert result["roi_low"] == result["roi_high"] == pytest.approx(expected.roi, abs=1e-4)


def test_no_pilot_no_figures_and_february_counts_nobodys_spending(
    ctx, clock, make_program, make_member
):
    """Rules without a member share give an empty report; a period before anyone bought
    gives the pilot's groups with zero spending and no ROI (no points)."""
    program = make_program()
    clock.set(datetime(2026, 2, 1, tzinfo=UTC))
    rules.publish(ctx, program, PILOT_RULES.split("  - id: trial", maxsplit=1)[0], actor="test")
    assert (
        pilot_returns(ctx, program, DateRange(date(2026, 2, 1), date(2026, 2, 28)))["pilots"] == []
    )
    rules.publish(ctx, program, PILOT_RULES, actor="test")
    for _ in range(4):
        make_member(program)
    clock.set(datetime(2026, 3, 2, tzinfo=UTC))
    (result,) = pilot_returns(ctx, program, DateRange(date(2026, 2, 1), date(2026, 2, 28)))[
        "pilots"
    ]
    assert result["pilot"]["members"] + result["control"]["members"] == 4
    assert (result["pilot"]["revenue_minor"], result["control"]["revenue_minor"]) == (0, 0)
    assert (result["points"], result["roi"], result["reliable"]) == (0, None, False)
