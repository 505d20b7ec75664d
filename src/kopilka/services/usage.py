"""Usage counters of capped rules: per member per day/month, per event-limit period, and
campaign budgets (member 0). The engine is pure; this module reads and writes its counters."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from zoneinfo import ZoneInfo

from kopilka.domain.rules import EarnResult, Rule, RuleSet, UsageCounters
from kopilka.store.repos.rules import UsageRepo

ALL = "all"


def period_key(at: datetime, period: str, tz: str) -> str:
    """A compact name for the calendar period containing ``at`` in the program's zone."""
    if period in ("lifetime", ALL):
        return ALL
    return _local_key(at.astimezone(ZoneInfo(tz)), period)


def _local_key(local: datetime, period: str) -> str:
    """:func:`period_key` of an instant already in the program's zone (not lifetime)."""
    if period == "day":
        return local.date().isoformat()
    if period == "month":
        return f"{local.year:04d}-{local.month:02d}"
    if period == "year":
        return f"Y{local.year:04d}"
    if period == "week":
        iso = local.isocalendar()
        return f"W{iso.year:04d}-{iso.week:02d}"
    raise ValueError(f"unknown period {period!r}")


def _keys(
    rules: Iterable[Rule], member_id: int, at: datetime, tz: str
) -> dict[str, list[tuple[str, int, str]]]:
    local = at.astimezone(ZoneInfo(tz))  # once, for both keys
    day, month = _local_key(local, "day"), _local_key(local, "month")
    keys: dict[str, list[tuple[str, int, str]]] = {
        "day": [],
        "month": [],
        "budget": [],
        "event": [],
    }
    for r in rules:
        if r.per_member_day is not None:
            keys["day"].append((r.id, member_id, day))
        if r.per_member_month is not None:
            keys["month"].append((r.id, member_id, month))
        if r.budget is not None:
            keys["budget"].append((r.id, 0, ALL))
        if r.kind == "event" and r.limit_count is not None:
            keys["event"].append((r.id, member_id, period_key(at, r.limit_period, tz)))
    return keys


def load(
    repo: UsageRepo, program_id: int, rules: Iterable[Rule], member_id: int, at: datetime, tz: str
) -> UsageCounters:
    """The counters the engine needs for these rules; campaign budget rows are locked."""
    keys = _keys(rules, member_id, at, tz)
    member_keys = keys["day"] + keys["month"] + keys["event"]
    found = repo.get(program_id, member_keys)
    budgets = repo.get(program_id, keys["budget"], lock=True)
    return UsageCounters(
        points_today={k[0]: found.get(k, (0, 0))[0] for k in keys["day"]},
        points_this_month={k[0]: found.get(k, (0, 0))[0] for k in keys["month"]},
        budget_used={k[0]: budgets.get(k, (0, 0))[0] for k in keys["budget"]},
        events_in_period={k[0]: found.get(k, (0, 0))[1] for k in keys["event"]},
    )


def record(
    repo: UsageRepo,
    program_id: int,
    ruleset: RuleSet,
    result: EarnResult,
    member_id: int,
    at: datetime,
    tz: str,
) -> None:
    """Count what the evaluation consumed against the rules' caps and limits."""
    rows: list[tuple[str, int, str, int, int]] = []
    used = set(result.usage.points_by_rule) | set(result.usage.events_by_rule)
    rules = [r for r in ruleset.rules if r.id in used]
    keys = _keys(rules, member_id, at, tz)
    for kind in ("day", "month", "budget", "event"):
        for rule_id, member, period in keys[kind]:
            pts = result.usage.points_by_rule.get(rule_id, 0)
            count = result.usage.events_by_rule.get(rule_id, 0) if kind == "event" else 1
            rows.append((rule_id, member, period, pts, count))
    repo.add(program_id, rows)


def capped_rules(ruleset: RuleSet, *, events: str | None = None) -> list[Rule]:
    """The rules whose evaluation needs counters (purchase rules, or one event's rules)."""
    pool = ruleset.events.get(events, ()) if events is not None else ruleset.rules
    return [r for r in pool if r.capped or (r.kind == "event" and r.limit_count is not None)]
