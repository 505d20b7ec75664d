"""Conditions of a rule, compiled to a tuple of small predicates over :class:`Facts`.

Only the conditions a rule actually states become predicates, so a rule with no ``when`` costs
nothing to check. Calendar conditions (dates, days of week, hours, birthday) are evaluated on
the local date and time in the PROGRAM's time zone, computed once per evaluation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from kopilka.domain.rules.schema import WEEKDAYS, Conditions

Predicate = Callable[["Facts"], bool]


@dataclass(frozen=True, slots=True)
class Facts:
    """Everything a condition may look at, for one purchase or event."""

    store: str | None
    channel: str | None
    partner: str | None
    payment_method: str | None
    tier: str | None
    segments: frozenset[str]
    attributes: Mapping[str, object]
    lifetime_spend_minor: int
    local_date: date
    weekday: int  # Monday is 0
    minute_of_day: int
    birthday: date | None

    @staticmethod
    def local_parts(at: datetime, timezone: str) -> tuple[date, int, int]:
        """Local date, weekday and minute of the day of ``at`` in ``timezone``."""
        local = at.astimezone(ZoneInfo(timezone))
        return local.date(), local.weekday(), local.hour * 60 + local.minute


def birthday_in_year(birthday: date, year: int) -> date:
    """The member's birthday in ``year``; 29 February falls on 28 February in common years."""
    try:
        return birthday.replace(year=year)
    except ValueError:
        return date(year, 2, 28)


def in_birthday_window(today: date, birthday: date | None, before: int, after: int) -> bool:
    """Whether ``today`` is within ``before`` days before to ``after`` days after the birthday."""
    if birthday is None:
        return False
    for year in (today.year - 1, today.year, today.year + 1):
        day = birthday_in_year(birthday, year)
        if day - timedelta(days=before) <= today <= day + timedelta(days=after):
            return True
    return False


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def compile_conditions(
    when: Conditions, to_minor: Callable[..., int | None]
) -> tuple[Predicate, ...]:
    """The predicates ``when`` states; ``to_minor`` converts document money to minor units."""
    checks: list[Predicate] = []
    if when.stores is not None:
        stores = frozenset(when.stores)
        checks.append(lambda f: f.store in stores)
    if when.channels is not None:
        channels = frozenset(when.channels)
        checks.append(lambda f: f.channel in channels)
    if when.partners is not None:
        partners = frozenset(when.partners)
        checks.append(lambda f: f.partner in partners)
    if when.payment_methods is not None:
        methods = frozenset(when.payment_methods)
        checks.append(lambda f: f.payment_method in methods)
    if when.tiers is not None:
        tiers = frozenset(when.tiers)
        checks.append(lambda f: f.tier in tiers)
    if when.segments is not None:
        segments = frozenset(when.segments)
        checks.append(lambda f: not segments.isdisjoint(f.segments))
    if when.member is not None:
        wanted = tuple(
            (key, tuple(value) if isinstance(value, list) else (value,))
            for key, value in sorted(when.member.items())
        )
        checks.append(lambda f: all(_attr_matches(f.attributes, k, v) for k, v in wanted))
    if when.lifetime_spend is not None:
        low = to_minor(when.lifetime_spend.min, "lifetime_spend", "min") or 0
        high = to_minor(when.lifetime_spend.max, "lifetime_spend", "max")
        if high is None:
            checks.append(lambda f: f.lifetime_spend_minor >= low)
        else:
            checks.append(lambda f: low <= f.lifetime_spend_minor < high)
    if when.dates is not None:
        ranges = tuple((r.from_, r.to) for r in when.dates)
        checks.append(lambda f: any(a <= f.local_date <= b for a, b in ranges))
    if when.days_of_week is not None:
        days = frozenset(WEEKDAYS.index(d) for d in when.days_of_week)
        checks.append(lambda f: f.weekday in days)
    if when.hours is not None:
        start, end = _minutes(when.hours.from_), _minutes(when.hours.to)
        if start <= end:
            checks.append(lambda f: start <= f.minute_of_day < end)
        else:
            checks.append(lambda f: f.minute_of_day >= start or f.minute_of_day < end)
    if when.birthday is not None:
        before, after = when.birthday.days_before, when.birthday.days_after
        checks.append(lambda f: in_birthday_window(f.local_date, f.birthday, before, after))
    return tuple(checks)


def _attr_matches(attributes: Mapping[str, object], key: str, allowed: tuple[object, ...]) -> bool:
    value = attributes.get(key)
    # bool is an int in Python: compare types too so that True never matches 1
    return any(value == a and type(value) is type(a) for a in allowed)
