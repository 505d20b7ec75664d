"""The KPIs' definitions (docs/analytics.md) on a small history whose figures are worked out
by hand, on both databases: local days in the program's zone, frequency and repeat rate,
retention and churn by month, cohort retention and 12-month value, breakage, the liability
net of expected breakage, and the budget cap's alert written once a month."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from kopilka.domain.analytics import DateRange, Grain
from kopilka.services import analytics, outbox, purchases, rules
from kopilka.services import jobs as jobs_svc
from kopilka.services import points as points_svc
from kopilka.services.analytics import KpiQuery, SetAnalyticsSettings
from tests import commands
from tests.integration.purchases.conftest import SIMPLE_RULES, basket


def _buy(ctx, clock, program, member, amount: str, at: datetime) -> None:
    clock.set(at)
    body = basket(member, ("1", amount, "bread"))
    purchases.commit(ctx, program, commands.purchase(ctx, program, body))


@pytest.fixture
def history(ctx, clock, make_program, make_member):
    """Three members of a program in Tokyo (UTC+9) buying over January to March 2026."""
    program = make_program(timezone="Asia/Tokyo")
    clock.set(datetime(2026, 1, 1, tzinfo=UTC))
    rules.publish(ctx, program, SIMPLE_RULES, actor="test")
    clock.set(datetime(2026, 1, 10, tzinfo=UTC))
    a = make_member(program)
    clock.set(datetime(2026, 1, 20, tzinfo=UTC))
    b = make_member(program)
    clock.set(datetime(2026, 2, 5, tzinfo=UTC))
    c = make_member(program)
    _buy(ctx, clock, program, a, "1000", datetime(2026, 1, 12, tzinfo=UTC))
    _buy(ctx, clock, program, b, "500", datetime(2026, 1, 25, tzinfo=UTC))
    analytics.refresh(ctx, program)
    _buy(ctx, clock, program, a, "2000", datetime(2026, 2, 10, tzinfo=UTC))
    _buy(ctx, clock, program, c, "100", datetime(2026, 2, 11, tzinfo=UTC))
    # 20:00 UTC on 14 March is 05:00 on 15 March in Tokyo
    _buy(ctx, clock, program, a, "300", datetime(2026, 3, 14, 20, tzinfo=UTC))
    _buy(ctx, clock, program, a, "400", datetime(2026, 3, 20, tzinfo=UTC))
    analytics.refresh(ctx, program)
    return program, (a, b, c)


def test_purchase_kpis_by_hand(ctx, history):
    """Frequency, repeat rate, the average check and local days as worked out by hand."""
    program, _ = history
    q1 = analytics.kpis(
        ctx, program, KpiQuery(DateRange(date(2026, 1, 1), date(2026, 3, 31)), Grain.MONTH)
    )
    t = q1["totals"]
    assert (t["purchases"], t["purchasing_members"]) == (6, 3)
    assert t["purchase_frequency"] == 2.0
    assert t["repeat_purchase_rate"] == pytest.approx(1 / 3)
    assert t["issued"] == 10 + 5 + 20 + 1 + 3 + 4
    assert t["revenue_minor"] == 430000
    assert t["new_members"] == 3
    assert [p["purchases"] for p in q1["series"]] == [2, 2, 2]
    march = analytics.kpis(ctx, program, KpiQuery(DateRange(date(2026, 3, 1), date(2026, 3, 31))))
    assert march["totals"]["average_check_member_minor"] == 35000
    assert march["totals"]["repeat_purchase_rate"] == 1.0
    days = {p["bucket"]: p["purchases"] for p in march["series"]}
    assert days == {"2026-03-15": 1, "2026-03-20": 1}


def test_retention_cohorts_and_lifetime_value_by_hand(ctx, clock, history):
    """Active by month {A,B}, {A,C}, {A}: February and March each keep one of two (CRR 0.5,
    churn 0.5); January's cohort (A, B) is all active in January and half in February and
    March; the 12-month value of the cohorts whose year is over is their revenue per
    member."""
    program, _ = history
    clock.set(datetime(2027, 2, 15, tzinfo=UTC))
    k = analytics.kpis(
        ctx, program, KpiQuery(DateRange(date(2026, 1, 1), date(2026, 3, 31)), Grain.MONTH)
    )
    retention = {
        r["month"]: (r["active"], r["previous"], r["retained"], r["crr"], r["churn"])
        for r in k["retention"]
    }
    assert retention["2026-01"] == (2, 0, 0, None, None)
    assert retention["2026-02"] == (2, 2, 1, 0.5, 0.5)
    assert retention["2026-03"] == (1, 2, 1, 0.5, 0.5)
    cohorts = {c["cohort"]: c for c in k["cohorts"]}
    assert cohorts["2026-01"]["members"] == 2
    assert cohorts["2026-01"]["shares"] == [1.0, 0.5, 0.5]
    assert cohorts["2026-02"]["shares"] == [1.0, 0.0]
    assert cohorts["2026-01"]["clv_12_minor"] == (370000 + 50000) // 2
    assert cohorts["2026-02"]["clv_12_minor"] == 10000
    assert k["totals"]["clv_12_minor"] == round(430000 / 3)
    # the 90 days before 1 April (Tokyo) hold every purchase: all three are active
    assert (k["totals"]["active_members"], k["totals"]["active_share"]) == (3, 1.0)
    last_30 = analytics.kpis(
        ctx, program, KpiQuery(DateRange(date(2026, 3, 1), date(2026, 3, 31)), active_days=30)
    )
    assert (last_30["totals"]["active_members"], last_30["totals"]["members"]) == (1, 3)


def test_the_budget_cap_warns_and_writes_its_event_once_a_month(ctx, clock, history):
    """At a cap of 1 % January and February (exactly 1 %) are not over; March, with 100
    points given by hand, is: the first refresh writes ``budget.cap_exceeded`` for March,
    a second writes nothing more."""
    program, (a, _, _) = history
    analytics.set_settings(ctx, program, SetAnalyticsSettings(100))
    clock.set(datetime(2026, 3, 25, tzinfo=UTC))
    points_svc.earn(ctx, program, points_svc.Earn(a, 100, key="gift"))
    first = analytics.refresh(ctx, program)
    second = analytics.refresh(ctx, program)
    assert (first["alert_written"], second["alert_written"]) == (True, False)
    events = [e for e in outbox.list_events(ctx, program) if e["type"] == "budget.cap_exceeded"]
    assert len(events) == 1
    assert events[0]["data"] == {
        "month": "2026-03",
        "cost_minor": 10700,
        "turnover_minor": 70000,
        "cap_bp": 100,
        "share_bp": 1528,
    }
    k = analytics.kpis(ctx, program, KpiQuery(DateRange(date(2026, 1, 1), date(2026, 3, 31))))
    over = {m["month"]: (m["over_cap"], m["alerted"]) for m in k["budget"]}
    assert over == {"2026-01": (False, False), "2026-02": (False, False), "2026-03": (True, True)}


def test_breakage_and_the_liability_net_of_it(ctx, clock, make_program, make_member):
    """100 points due to expire, 30 spent before: 70 expire, a breakage rate of 0.7 in the
    range holding the expiry; the liability of new points is netted by that history."""
    program = make_program(expiry_kind="days", expiry_n=10)
    member = make_member(program)
    points_svc.earn(ctx, program, points_svc.Earn(member, 100, key="e1"))
    points_svc.redeem(ctx, program, points_svc.Redeem(member, 30, key="r1"))
    clock.advance(timedelta(days=12))
    jobs_svc.expire_due(ctx, program, clock.now())
    points_svc.earn(ctx, program, points_svc.Earn(member, 50, key="e2"))
    analytics.refresh(ctx, program)
    today = clock.now().date()
    k = analytics.kpis(ctx, program, KpiQuery(DateRange(today - timedelta(days=20), today)))
    t = k["totals"]
    assert (t["due_to_expire"], t["expired_of_due"], t["breakage_rate"]) == (100, 70, 0.7)
    assert t["redemption_rate"] == pytest.approx(30 / 150)
    assert t["liability_points"] == 50
    assert t["expected_breakage_rate"] == 0.7
    assert t["liability_net_points"] == 15
    assert t["liability_net_minor"] == 1500
    assert k["liability"][-1]["points"] == 50
