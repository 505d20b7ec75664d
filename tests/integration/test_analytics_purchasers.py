"""The distinct, repeat and active purchasers and the month retention and cohorts read from
the rollups (the purchase gaps and the cohort months, docs/analytics.md) equal the same
figures counted straight from the purchases, on both databases, after a seeded history of
purchases booked out of time order (a till that sends a receipt days late) with the job's
refreshes between them; and a rebuild gives the rows the refreshes kept."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from kopilka.domain.analytics import DateRange, Grain
from kopilka.services import analytics, purchases, rules
from kopilka.services.analytics import KpiQuery
from kopilka.store.tables import members
from kopilka.store.tables import purchases as purchases_table
from tests import commands
from tests.integration.purchases.conftest import SIMPLE_RULES, basket
from tests.integration.test_analytics_agreement import _rollups

ZONE = "Europe/Berlin"


def _month(d: date) -> int:
    return d.year * 12 + d.month - 1


def _raw(ctx, program) -> tuple[list[tuple[int, date]], dict[int, date]]:
    """Every purchase as (member, local day), and each member's local enrolment day."""
    zone = ZoneInfo(ZONE)

    def local(at: datetime | str) -> date:
        at = at if isinstance(at, datetime) else datetime.fromisoformat(at)
        at = at.replace(tzinfo=UTC) if at.tzinfo is None else at
        return at.astimezone(zone).date()

    with ctx.uow(read_only=True) as uow:
        p, m = purchases_table.c, members.c
        bought = [
            (int(r[0]), local(r[1]))
            for r in uow.conn.execute(
                select(p.member_id, p.occurred_at).where(p.program_id == program.id)
            )
        ]
        enrolled = {
            int(r[0]): local(r[1])
            for r in uow.conn.execute(select(m.id, m.enrolled_at).where(m.program_id == program.id))
        }
    return bought, enrolled


@pytest.mark.parametrize("seed", [3, 4])
def test_purchasers_and_retention_from_rollups_equal_a_count_of_the_purchases(
    ctx, clock, make_program, make_member, seed
):
    """Over random ranges (and active windows), purchasing members, members with two or
    more purchases, active members and members enrolled, and per month the active and
    retained members and each cohort's active members and revenue, read from the rollups,
    equal what the purchases say; a full rebuild keeps the refreshed rows."""
    rnd = random.Random(seed)
    program = make_program(timezone=ZONE)
    rules.publish(ctx, program, SIMPLE_RULES, actor="test")
    people = [make_member(program) for _ in range(5)]
    for _ in range(90):
        clock.advance(timedelta(hours=rnd.choice([3, 13, 26, 50])))
        if rnd.random() < 0.1:
            people.append(make_member(program))
        # most receipts now, some sent late (up to 40 days), a few the same day again
        late = timedelta(hours=rnd.choice([0, 0, 0, 1, 30, 200, 960]))
        body = basket(rnd.choice(people), ("1", f"{rnd.randint(1, 50) * 100}", "bread"))
        body["occurred_at"] = (clock.now() - late).isoformat()
        purchases.commit(ctx, program, commands.purchase(ctx, program, body))
        if rnd.random() < 0.15:
            analytics.refresh(ctx, program)
    analytics.refresh(ctx, program)
    bought, enrolled = _raw(ctx, program)
    first_day = min(d for _, d in bought)
    last_day = max(d for _, d in bought)
    span = (last_day - first_day).days
    for _ in range(12):
        a = first_day + timedelta(days=rnd.randint(-3, span))
        b = min(a + timedelta(days=rnd.randint(0, 60)), last_day + timedelta(days=3))
        window = rnd.choice([1, 7, 30, 90])
        t = analytics.kpis(ctx, program, KpiQuery(DateRange(a, b), active_days=window))["totals"]
        counts = Counter(m for m, d in bought if a <= d <= b)
        active = {m for m, d in bought if b - timedelta(days=window - 1) <= d <= b}
        assert t["purchases"] == sum(counts.values())
        assert t["purchasing_members"] == len(counts)
        repeaters = sum(1 for n in counts.values() if n > 1)
        assert t["repeat_purchase_rate"] == (repeaters / len(counts) if counts else None)
        assert t["active_members"] == len(active)
        assert t["members"] == sum(1 for d in enrolled.values() if d <= b)
    whole = analytics.kpis(ctx, program, KpiQuery(DateRange(first_day, last_day), Grain.MONTH))
    months: dict[int, set[int]] = {}
    for m, d in bought:
        months.setdefault(_month(d), set()).add(m)
    for row in whole["retention"]:
        y, mo = row["month"].split("-")
        month = int(y) * 12 + int(mo) - 1
        now_ = months.get(month, set())
        before = months.get(month - 1, set())
        assert (row["active"], row["previous"], row["retained"]) == (
            len(now_),
            len(before),
            len(now_ & before),
        )
    for cohort in whole["cohorts"]:
        y, mo = cohort["cohort"].split("-")
        c = int(y) * 12 + int(mo) - 1
        group = {m for m, d in enrolled.items() if _month(d) == c}
        assert cohort["members"] == len(group)
        expected = [
            len(months.get(c + k, set()) & group) / len(group) for k in range(len(cohort["shares"]))
        ]
        assert cohort["shares"] == pytest.approx(expected)
    refreshed = _rollups(ctx, program)
    analytics.rebuild(ctx, program)
    assert _rollups(ctx, program) == refreshed
