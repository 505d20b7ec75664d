"""Caps on what a rule may award, from the usage counters the caller passes in.

A rule's capacity for this evaluation is the smallest of its per-purchase cap, what is left of
its per-member day and month caps, and what is left of its campaign budget. A rule whose
capacity is exhausted does not apply at all (and so blocks nothing).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from kopilka.domain.rules.context import UsageCounters
from kopilka.domain.rules.model import Rule


def capacity(rule: Rule, usage: UsageCounters) -> int | None:
    """Points the rule may still award now; ``None`` when it has no cap."""
    if not rule.capped:
        return None
    left: list[int] = []
    if rule.per_purchase is not None:
        left.append(rule.per_purchase)
    if rule.per_member_day is not None:
        left.append(rule.per_member_day - usage.points_today.get(rule.id, 0))
    if rule.per_member_month is not None:
        left.append(rule.per_member_month - usage.points_this_month.get(rule.id, 0))
    if rule.budget is not None:
        left.append(rule.budget - usage.budget_used.get(rule.id, 0))
    return max(0, min(left))


def period_start(at: datetime, period: str, timezone: str) -> datetime | None:
    """Start (in UTC) of the day/week/month/year containing ``at`` in the program's time zone.

    Callers use it to count ``UsageCounters.points_today``/``points_this_month`` and an event
    rule's ``events_in_period``; ``"lifetime"`` has no start and returns ``None``. Weeks start
    on Monday.
    """
    if period == "lifetime":
        return None
    zone = ZoneInfo(timezone)
    local = at.astimezone(zone)
    day = local.date()
    if period == "week":
        day -= timedelta(days=day.weekday())
    elif period == "month":
        day = day.replace(day=1)
    elif period == "year":
        day = day.replace(month=1, day=1)
    elif period != "day":
        raise ValueError(f"unknown period {period!r}")
    return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)
