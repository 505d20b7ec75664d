"""The analytics agree with the ledger, on both databases: after a seeded random history of
purchases, returns, earnings, redemptions, adjustments, expiries and guest receipts, with
the ``analytics`` job's refreshes at random moments between them, the points issued,
redeemed, expired and adjusted and the outstanding liability read from the rollups equal
verify's totals, and the points due to expire and expired of them equal the lots' own;
and a full rebuild from the journal gives the same rollups as the refreshes did."""

from __future__ import annotations

import random
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from kopilka.domain.analytics import DateRange, Dimension, Grain, utc_bounds
from kopilka.domain.errors import KopilkaError
from kopilka.services import analytics, audit, purchases, rules
from kopilka.services import jobs as jobs_svc
from kopilka.services import points as points_svc
from kopilka.services.analytics import KpiQuery, RecordGuestReceipt
from kopilka.store.repos.analytics import AnalyticsRepo
from kopilka.store.tables import (
    analytics_cohort_months,
    analytics_daily,
    analytics_expiry_daily,
    analytics_member_months,
    analytics_purchase_gaps,
    analytics_rule_daily,
)
from tests import commands
from tests.integration.purchases.conftest import SIMPLE_RULES, basket

STORES = ("s1", "s2", None)
CHANNELS = ("till", "web")


def _rollups(ctx, program):
    """Every rollup row of the program, zero rows left out, as sorted tuples."""
    out = {}
    with ctx.uow(read_only=True) as uow:
        for table in (
            analytics_daily,
            analytics_member_months,
            analytics_rule_daily,
            analytics_purchase_gaps,
            analytics_cohort_months,
            analytics_expiry_daily,
        ):
            rows = uow.conn.execute(select(table).where(table.c.program_id == program.id)).all()
            out[table.name] = sorted(
                tuple(str(v) for v in r)
                for r in rows
                if any(isinstance(v, int) and v for v in r[len(table.primary_key.columns) :])
            )
    return out


def _history(ctx, clock, program, make_member, seed: int, steps: int) -> None:
    """A seeded random history, refreshing the rollups now and then."""
    rnd = random.Random(seed)
    members = [make_member(program) for _ in range(4)]
    receipts: list[str] = []
    for step in range(steps):
        op = rnd.choice(
            [
                "buy",
                "buy",
                "buy",
                "return",
                "earn",
                "redeem",
                "adjust",
                "expire",
                "guest",
                "enrol",
                "refresh",
            ]
        )
        member = rnd.choice(members)
        try:
            if op == "buy":
                body = basket(
                    member,
                    ("1", f"{rnd.randint(1, 40) * 100}", rnd.choice(["dairy", "bread"])),
                    ("2", f"{rnd.randint(1, 30) * 100}", "bread"),
                    store=rnd.choice(STORES),
                    channel=rnd.choice(CHANNELS),
                )
                if rnd.random() < 0.3:
                    body["redeem_points"] = rnd.choice([10, 20, 50])
                purchases.commit(ctx, program, commands.purchase(ctx, program, body))
                receipts.append(body["receipt_id"])
            elif op == "return" and receipts:
                receipt = rnd.choice(receipts)
                body = {"return_id": f"ret-{step}"}
                if rnd.random() < 0.5:
                    body["lines"] = [{"line_id": "1", "quantity": "1"}]
                purchases.process_return(ctx, program, commands.return_(receipt, body))
            elif op == "earn":
                points_svc.earn(
                    ctx, program, points_svc.Earn(member, rnd.randint(1, 300), key=f"e{step}")
                )
            elif op == "redeem":
                points_svc.redeem(
                    ctx, program, points_svc.Redeem(member, rnd.randint(1, 60), key=f"r{step}")
                )
            elif op == "adjust":
                points_svc.adjust(
                    ctx,
                    program,
                    points_svc.Adjust(
                        member,
                        rnd.choice([-15, -3, 7, 40]),
                        key=f"a{step}",
                        reason="fix",
                        actor="test",
                    ),
                )
            elif op == "expire":
                jobs_svc.activate_due(ctx, program, clock.now())
                jobs_svc.expire_due(ctx, program, clock.now())
            elif op == "guest":
                analytics.record_guest_receipt(
                    ctx,
                    program,
                    RecordGuestReceipt(
                        f"g{step}",
                        clock.now(),
                        rnd.randint(100, 90000),
                        rnd.choice(STORES),
                        "till",
                    ),
                )
            elif op == "enrol":
                members.append(make_member(program))
            elif op == "refresh":
                analytics.refresh(ctx, program)
        except KopilkaError:
            pass  # a refused operation (not enough points, nothing left to return) is history too
        clock.advance(timedelta(hours=rnd.choice([1, 5, 11, 23, 49])))


@pytest.mark.parametrize("seed", [1, 2])
def test_rollups_agree_with_verify_after_a_random_history(
    ctx, clock, make_program, make_member, seed
):
    """After a random history spanning a daylight-saving change in the program's zone, the
    range covering all of it reads issued, redeemed, expired, adjusted and the liability
    exactly as verify sums them from the postings; a rebuild from the journal gives the
    rollups the incremental refreshes built, row for row."""
    program = make_program(timezone="Europe/Berlin", expiry_kind="days", expiry_n=9)
    rules.publish(ctx, program, SIMPLE_RULES, actor="test")
    _history(ctx, clock, program, make_member, seed, steps=70)
    analytics.refresh(ctx, program)
    report = audit.verify_ledger(ctx, program.id)
    assert report.ok
    sums = report.totals
    everything = DateRange(date(2026, 3, 1), clock.now().date() + timedelta(days=1))
    figures = analytics.kpis(ctx, program, KpiQuery(everything, Grain.MONTH))["totals"]
    assert figures["issued"] == -sums.get("issued", 0)
    assert figures["redeemed"] == sums.get("redeemed", 0)
    assert figures["expired"] == sums.get("breakage", 0)
    assert figures["adjusted"] == -sums.get("adjustments", 0)
    assert figures["liability_points"] == sums["liability"]
    assert figures["liability_minor"] == sums["liability"] * program.point_value_minor
    assert figures["expired"] > 0, "the history should have expired some points"
    # the breakage figures from the expiry days equal the lots' own
    lo, hi = utc_bounds(everything, program.timezone)
    with ctx.uow(read_only=True) as uow:
        due, expired_of_due = AnalyticsRepo(uow.conn).expiring(program.id, lo, hi)
    assert (figures["due_to_expire"], figures["expired_of_due"]) == (due, expired_of_due)
    assert expired_of_due > 0
    refreshed = _rollups(ctx, program)
    analytics.rebuild(ctx, program)
    assert _rollups(ctx, program) == refreshed
    # a range rebuild of the middle recomputes those days and months to the same rows
    middle = DateRange(date(2026, 3, 20), date(2026, 3, 31))
    analytics.rebuild(ctx, program, middle)
    assert _rollups(ctx, program) == refreshed
    # broken down by store, the parts add up to the whole
    by_store = analytics.kpis(ctx, program, KpiQuery(everything, Grain.MONTH, Dimension.STORE))[
        "series"
    ]
    assert sum(p["issued"] for p in by_store) == figures["issued"]
    assert sum(p["purchases"] for p in by_store) == figures["purchases"]
