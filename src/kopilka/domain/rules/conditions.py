"""Conditions of a rule, compiled to a tuple of small predicates over :class:`Facts`.

Only the conditions a rule actually states become predicates, so a rule with no ``when`` costs
nothing to check. Calendar conditions (dates, days of week, hours, birthday) are evaluated on
the local date and time in the PROGRAM's time zone, computed once per evaluation, and are
checked first: a promo outside its dates is dropped before anything else is looked at.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from kopilka.domain.rules.context import MemberContext
from kopilka.domain.rules.schema import WEEKDAYS, Conditions

Predicate = Callable[["Facts"], bool]


@dataclass(slots=True)
class Facts:
    """Everything a condition may look at, for one purchase or event (read-only once built).

    Not frozen: it is built once per evaluation, and a frozen dataclass pays for every field
    it sets.
    """

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
    _birthday_days: tuple[int, int] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def gather(
        cls,
        member: MemberContext,
        at: datetime,
        timezone: str,
        *,
        store: str | None,
        channel: str | None,
        partner: str | None,
        payment_method: str | None,
    ) -> Facts:
        """The facts of an evaluation at ``at``, local to the program's ``timezone``."""
        local = at.astimezone(ZoneInfo(timezone))
        return cls(
            store,
            channel,
            partner,
            payment_method,
            member.tier,
            member.segments,
            member.attributes,
            member.lifetime_spend_minor,
            local.date(),
            local.weekday(),
            local.hour * 60 + local.minute,
            member.birthday,
        )

    def birthday_days(self) -> tuple[int, int] | None:
        """:func:`birthday_distance` on the local date (computed once); ``None``: no birthday."""
        days = self._birthday_days
        if days is None and self.birthday is not None:
            days = self._birthday_days = birthday_distance(self.local_date, self.birthday)
        return days


def birthday_in_year(birthday: date, year: int) -> date:
    """The member's birthday in ``year``; 29 February falls on 28 February in common years."""
    try:
        return birthday.replace(year=year)
    except ValueError:
        return date(year, 2, 28)


def birthday_distance(today: date, birthday: date) -> tuple[int, int]:
    """Days since the latest birthday on or before ``today``, and until the next on or after.

    Both are 0 on the birthday itself. A window of ``before`` days before to ``after`` days
    after the birthday contains ``today`` exactly when ``since <= after or until <= before``.
    """
    day = today.toordinal()
    this_year = birthday_in_year(birthday, today.year).toordinal()
    if this_year <= day:
        if this_year < day:
            return day - this_year, birthday_in_year(birthday, today.year + 1).toordinal() - day
        return 0, 0
    return day - birthday_in_year(birthday, today.year - 1).toordinal(), this_year - day


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def compile_conditions(
    when: Conditions, to_minor: Callable[..., int | None]
) -> tuple[Predicate, ...]:
    """The predicates ``when`` states, calendar ones first; ``to_minor`` converts document
    money to minor units. All must hold, and they have no effects, so their order is free."""
    checks: list[Predicate] = []
    if when.dates is not None:
        ranges = tuple((r.from_, r.to) for r in when.dates)
        if len(ranges) == 1:
            ((first, last),) = ranges
            checks.append(lambda f: first <= f.local_date <= last)
        else:
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
        checks.append(
            lambda f: (
                (days := f.birthday_days()) is not None and (days[0] <= after or days[1] <= before)
            )
        )
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
        if len(wanted) == 1:
            ((key, allowed),) = wanted
            checks.append(lambda f: _attr_matches(f.attributes, key, allowed))
        else:
            checks.append(lambda f: all(_attr_matches(f.attributes, k, v) for k, v in wanted))
    if when.lifetime_spend is not None:
        low = to_minor(when.lifetime_spend.min, "lifetime_spend", "min") or 0
        high = to_minor(when.lifetime_spend.max, "lifetime_spend", "max")
        if high is None:
            checks.append(lambda f: f.lifetime_spend_minor >= low)
        else:
            checks.append(lambda f: low <= f.lifetime_spend_minor < high)
    return tuple(checks)


def _attr_matches(attributes: Mapping[str, object], key: str, allowed: tuple[object, ...]) -> bool:
    value = attributes.get(key)
    # bool is an int in Python: compare types too so that True never matches 1
    for candidate in allowed:  # noqa: SIM110 - no generator frame per call on the hot path
        if value == candidate and type(value) is type(candidate):
            return True
    return False
