"""Campaigns' points and cost: rules that share a ``campaign:`` code in the rules document
are one campaign, and its points and cost over a range are its rules' (from the analytics
rollups' points by rule, as the dashboard's points by rule).

A rule belongs to the campaign the rules in force at the range's start or end give it (the
later ones win when a rule moved), so a campaign whose rules changed version in the range
still adds up all its points.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TypedDict

from kopilka.domain.analytics import DateRange, utc_bounds
from kopilka.domain.program import Program
from kopilka.domain.rules.source import load_with_lines
from kopilka.services.context import ServiceContext
from kopilka.store.repos.analytics import AnalyticsRepo
from kopilka.store.repos.reports import consistent_snapshot
from kopilka.store.repos.rules import RuleSetRepo


class CampaignCost(TypedDict):
    """A campaign's rules, and their points, awards and cost (minor units) in the range."""

    campaign: str
    rules: list[str]
    points: int
    awards: int
    cost_minor: int


class CampaignReport(TypedDict):
    """The program's campaigns over local days ``from_day``-``to_day``, most points first."""

    program: str
    currency: str
    from_day: str
    to_day: str
    campaigns: list[CampaignCost]


@lru_cache(maxsize=64)
def _campaigns_of(document: str, fmt: str) -> tuple[tuple[str, str], ...]:
    """(rule id, campaign) for each rule of a published document that names a campaign
    (published documents were validated whole)."""
    data, _ = load_with_lines(document, fmt)
    return tuple(
        (str(raw["id"]), str(raw["campaign"]))
        for raw in (data.get("rules") or [])
        if isinstance(raw, dict) and raw.get("campaign")
    )


def campaign_costs(ctx: ServiceContext, program: Program, days: DateRange) -> CampaignReport:
    """Every campaign's points and cost over local days ``days``."""
    lo, hi = utc_bounds(days, program.timezone)
    with ctx.uow(read_only=True) as uow:
        consistent_snapshot(uow.conn)
        repo = RuleSetRepo(uow.conn)
        stored = [repo.active_at(program.id, at) for at in (lo, min(hi, ctx.now()))]
        by_rule = AnalyticsRepo(uow.conn).rules(program.id, days.start, days.end)
    campaign_of: dict[str, str] = {}
    for rule_set in stored:
        if rule_set is not None:
            campaign_of.update(_campaigns_of(rule_set.document, rule_set.format))
    found: dict[str, CampaignCost] = {
        name: {"campaign": name, "rules": [], "points": 0, "awards": 0, "cost_minor": 0}
        for name in sorted(set(campaign_of.values()))
    }
    for rule_id, name in sorted(campaign_of.items()):
        found[name]["rules"].append(rule_id)
    for rule_id, points, awards in by_rule:
        if rule_id in campaign_of:
            found[campaign_of[rule_id]]["points"] += points
            found[campaign_of[rule_id]]["awards"] += awards
    for c in found.values():
        c["cost_minor"] = c["points"] * program.point_value_minor
    return {
        "program": program.code,
        "currency": program.currency,
        "from_day": days.start.isoformat(),
        "to_day": days.end.isoformat(),
        "campaigns": sorted(found.values(), key=lambda c: (-c["points"], c["campaign"])),
    }
