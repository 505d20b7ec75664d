"""Pilots' returns: for each rule piloted on a share of the members in a period, what its
members spent against its control group's, and what its points cost
(:mod:`kopilka.domain.pilot_roi` has the formulas).

A rule is a pilot of the period when the rules in force at its start or at its end give it
``pilot: {share_percent: N}`` (the share of the later ones counts); a pilot limited to some
stores only (``pilot: {stores: [...]}``) has no control group of members and is left out.
Members are assigned to the pilot or the control group by the same bucket the earning uses,
so each member is where the till put them. Spending is the purchases' totals in the
period's local days; the rule's points come from the analytics rollups, as the dashboard's
points by rule do.
"""

from __future__ import annotations

from typing import TypedDict

from kopilka.domain.analytics import DateRange, utc_bounds
from kopilka.domain.pilot_roi import GroupSpending, PilotReturn, group_spending, pilot_return
from kopilka.domain.program import Program
from kopilka.domain.rules.pilot import in_share
from kopilka.domain.rules.rule import Rule
from kopilka.services.context import ServiceContext
from kopilka.services.rules import active_ruleset
from kopilka.store.repos.analytics import AnalyticsRepo
from kopilka.store.repos.pilots import PilotRepo
from kopilka.store.repos.reports import consistent_snapshot


class PilotGroup(TypedDict):
    """One side of a pilot: its members, what they spent in all and on average (minor
    units; members who bought nothing count with zero)."""

    members: int
    revenue_minor: int
    mean_minor: float


class PilotResult(TypedDict):
    """A pilot rule's return over the period (money in minor units; see
    :mod:`kopilka.domain.pilot_roi`). ``*_low``/``*_high``: the confidence interval;
    ``reliable``: both groups are large enough for it."""

    rule_id: str
    description: str
    share_percent: float
    pilot: PilotGroup
    control: PilotGroup
    uplift_minor: float | None
    uplift_low: float | None
    uplift_high: float | None
    incremental_revenue_minor: int | None
    incremental_low: int | None
    incremental_high: int | None
    points: int
    cost_minor: int
    roi: float | None
    roi_low: float | None
    roi_high: float | None
    reliable: bool
    confidence: float


class PilotReport(TypedDict):
    """The program's pilots over local days ``from``-``to``."""

    program: str
    currency: str
    from_day: str
    to_day: str
    pilots: list[PilotResult]


def _pilot_rules(rulesets: list[list[Rule]]) -> dict[str, Rule]:
    """The rules with a share of the members, by id, the later rule set's winning."""
    found: dict[str, Rule] = {}
    for rules in rulesets:
        for rule in rules:
            if rule.pilot_share is not None:
                found[rule.id] = rule
    return found


def pilot_returns(ctx: ServiceContext, program: Program, days: DateRange) -> PilotReport:
    """The return of every pilot of the program over local days ``days``."""
    lo, hi = utc_bounds(days, program.timezone)
    member_ids: list[int] = []
    spent: dict[int, int] = {}
    points: dict[str, int] = {}
    with ctx.uow(read_only=True) as uow:
        consistent_snapshot(uow.conn)
        sets = [active_ruleset(uow, program, at) for at in (lo, min(hi, ctx.now()))]
        pilots = _pilot_rules([list(s.rules) for s in sets if s is not None])
        if pilots:
            repo = PilotRepo(uow.conn)
            member_ids = repo.members_enrolled_before(program.id, hi)
            spent = repo.spending(program.id, lo, hi)
            points = {
                rule_id: p
                for rule_id, p, _ in AnalyticsRepo(uow.conn).rules(program.id, days.start, days.end)
            }
    results = [
        _result(
            rule,
            _split(rule, member_ids, spent),
            points.get(rule.id, 0),
            program.point_value_minor,
        )
        for rule in sorted(pilots.values(), key=lambda r: r.id)
    ]
    return {
        "program": program.code,
        "currency": program.currency,
        "from_day": days.start.isoformat(),
        "to_day": days.end.isoformat(),
        "pilots": results,
    }


def _split(
    rule: Rule, member_ids: list[int], spent: dict[int, int]
) -> tuple[GroupSpending, GroupSpending]:
    """The pilot's and the control group's spending, each member in the group the earning
    put them in."""
    share = rule.pilot_share
    assert share is not None
    pilot_spent: list[int] = []
    control_spent: list[int] = []
    pilot_members = 0
    for member_id in member_ids:
        value = spent.get(member_id, 0)
        if in_share(rule.id, str(member_id), share):
            pilot_members += 1
            if value:
                pilot_spent.append(value)
        elif value:
            control_spent.append(value)
    control_members = len(member_ids) - pilot_members
    return group_spending(pilot_spent, pilot_members), group_spending(
        control_spent, control_members
    )


def _group(g: GroupSpending) -> PilotGroup:
    return {
        "members": g.members,
        "revenue_minor": g.revenue_minor,
        "mean_minor": round(g.mean_minor, 2),
    }


def _r(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def _i(value: float | None) -> int | None:
    return None if value is None else round(value)


def _result(
    rule: Rule, groups: tuple[GroupSpending, GroupSpending], points: int, value: int
) -> PilotResult:
    r: PilotReturn = pilot_return(groups[0], groups[1], points, value)
    uplift = r.uplift_interval or (None, None)
    incremental = r.incremental_interval or (None, None)
    roi = r.roi_interval or (None, None)
    assert rule.pilot_share is not None
    return {
        "rule_id": rule.id,
        "description": rule.description,
        "share_percent": rule.pilot_share / 100,
        "pilot": _group(r.pilot),
        "control": _group(r.control),
        "uplift_minor": _r(r.uplift_minor, 2),
        "uplift_low": _r(uplift[0], 2),
        "uplift_high": _r(uplift[1], 2),
        "incremental_revenue_minor": _i(r.incremental_revenue_minor),
        "incremental_low": _i(incremental[0]),
        "incremental_high": _i(incremental[1]),
        "points": r.points,
        "cost_minor": r.cost_minor,
        "roi": _r(r.roi, 4),
        "roi_low": _r(roi[0], 4),
        "roi_high": _r(roi[1], 4),
        "reliable": r.reliable,
        "confidence": r.confidence,
    }
