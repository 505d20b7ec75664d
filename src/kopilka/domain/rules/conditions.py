"""Conditions of a rule, compiled to a tuple of small predicates over :class:`Facts`.

Only the conditions a rule actually states become predicates, so a rule with no ``when`` costs
nothing to check. Calendar conditions (dates, days of week, hours, birthday) are evaluated on
the local date and time in the PROGRAM's time zone, computed once per evaluation, and are
checked first: a promo outside its dates is dropped before anything else is looked at.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Final
from zoneinfo import ZoneInfo

from kopilka.domain.basket import BasketLine
from kopilka.domain.rules.context import MemberContext
from kopilka.domain.rules.schema import WEEKDAYS, Conditions, NotChannels, NotIn

Predicate = Callable[["Facts"], bool]
# whether this module runs compiled (the optional mypyc build, see setup.py)
COMPILED: Final = not __file__.endswith(".py")


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
    year = today.year
    if COMPILED and 1 < year < 9999:
        # the same days from calendar arithmetic (``_ordinal``) instead of three dates
        day, month, dom = today.toordinal(), birthday.month, birthday.day
        this_year = _ordinal(year, month, dom)
        if this_year <= day:
            if this_year < day:
                return day - this_year, _ordinal(year + 1, month, dom) - day
            return 0, 0
        return day - _ordinal(year - 1, month, dom), this_year - day
    day = today.toordinal()
    this_year = birthday_in_year(birthday, year).toordinal()
    if this_year <= day:
        if this_year < day:
            return day - this_year, birthday_in_year(birthday, year + 1).toordinal() - day
        return 0, 0
    return day - birthday_in_year(birthday, year - 1).toordinal(), this_year - day


_DAYS_BEFORE_MONTH: Final = (0, 0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334)


def _ordinal(year: int, month: int, day: int) -> int:
    """``birthday_in_year(date(2000, month, day), year).toordinal()`` in integers: the
    proleptic Gregorian day number, 29 February on 28 February in common years."""
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    if month == 2 and day == 29 and not leap:
        day = 28
    before = year - 1
    days = before * 365 + before // 4 - before // 100 + before // 400
    days += _DAYS_BEFORE_MONTH[month] + day
    if month > 2 and leap:
        days += 1
    return days


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


@dataclass(frozen=True, slots=True)
class Gate:
    """A rule's conditions grouped by the one fact each reads (``None``: not stated).

    The purchase plan (:mod:`kopilka.domain.rules.plan`) tests each kind of fact once per
    value for all rules together; :func:`checks_of` turns a gate into predicates over
    :class:`Facts` for evaluating one rule at a time (events).
    """

    dates: tuple[tuple[date, date], ...] | None = None
    weekdays: frozenset[int] | None = None  # Monday is 0
    hours: tuple[int, int] | None = None  # minutes of the day: from inclusive, to exclusive
    birthday: tuple[int, int] | None = None  # days before, days after
    stores: frozenset[str] | None = None
    channels: frozenset[str] | None = None
    partners: frozenset[str] | None = None
    payment_methods: frozenset[str] | None = None
    tiers: frozenset[str] | None = None
    segments: frozenset[str] | None = None
    member: tuple[tuple[str, tuple[object, ...]], ...] | None = None  # sorted by attribute
    lifetime_spend: tuple[int, int | None] | None = None  # min inclusive, max exclusive
    # the list conditions written ``{not: [...]}``: every value but those listed
    negated: frozenset[str] = frozenset()
    # the purchase's total before points, minor units: min inclusive, max exclusive
    purchase_amount: tuple[int, int | None] | None = None
    # at least this many units of the lines of (categories, skus, brands, tags); all lines
    # when none is listed
    quantity: (
        tuple[Decimal, frozenset[str], frozenset[str], frozenset[str], frozenset[str]] | None
    ) = None
    promo_code: str | None = None

    @property
    def on_basket(self) -> bool:
        """Whether a condition reads the basket's total or quantities (purchases only)."""
        return self.purchase_amount is not None or self.quantity is not None

    def basket_holds(self, lines: Sequence[BasketLine], total_minor: int) -> bool:
        """Whether the purchase amount and the quantity in the basket are as stated."""
        if self.purchase_amount is not None:
            low, high = self.purchase_amount
            if total_minor < low or (high is not None and total_minor >= high):
                return False
        if self.quantity is not None:
            least, categories, skus, brands, tags = self.quantity
            anything = not (categories or skus or brands or tags)
            units = Decimal(0)
            for line in lines:
                if (
                    anything
                    or line.category in categories
                    or line.sku in skus
                    or line.brand in brands
                    or not tags.isdisjoint(line.tags)
                ):
                    units += line.quantity
            if units < least:
                return False
        return True

    def hours_hold(self, minute_of_day: int) -> bool:
        """Whether the local time is inside ``hours`` (a window may wrap past midnight)."""
        if self.hours is None:
            return True
        start, end = self.hours
        if start <= end:
            return start <= minute_of_day < end
        return minute_of_day >= start or minute_of_day < end

    def date_holds(self, local_date: date) -> bool:
        """Whether the local date is in ``dates`` and on one of ``weekdays``."""
        if self.dates is not None and not any(a <= local_date <= b for a, b in self.dates):
            return False
        return self.weekdays is None or local_date.weekday() in self.weekdays

    def birthday_holds(self, days: tuple[int, int] | None) -> bool:
        """Whether :func:`birthday_distance` ``days`` (``None``: no birthday) is in the window."""
        if self.birthday is None:
            return True
        before, after = self.birthday
        return days is not None and (days[0] <= after or days[1] <= before)

    def member_holds(self, attributes: Mapping[str, object], lifetime_spend_minor: int) -> bool:
        """Whether the member's attributes and lifetime spend are as stated."""
        if self.lifetime_spend is not None:
            low, high = self.lifetime_spend
            if lifetime_spend_minor < low or (high is not None and lifetime_spend_minor >= high):
                return False
        if self.member is not None:
            for key, allowed in self.member:
                if not _attr_matches(attributes, key, allowed):
                    return False
        return True


def gate_of(when: Conditions, to_minor: Callable[..., int | None]) -> Gate:
    """The gate of ``when``; ``to_minor`` converts document money to minor units."""
    lifetime: tuple[int, int | None] | None = None
    if when.lifetime_spend is not None:
        low = to_minor(when.lifetime_spend.min, "lifetime_spend", "min") or 0
        lifetime = (low, to_minor(when.lifetime_spend.max, "lifetime_spend", "max"))

    negated: set[str] = set()

    def optional(
        name: str, values: Sequence[str] | NotIn | NotChannels | None
    ) -> frozenset[str] | None:
        if values is None:
            return None
        if isinstance(values, NotIn | NotChannels):
            negated.add(name)
            return frozenset(values.not_)
        return frozenset(values)

    amount: tuple[int, int | None] | None = None
    if when.purchase_amount is not None:
        low = to_minor(when.purchase_amount.min, "purchase_amount", "min") or 0
        amount = (low, to_minor(when.purchase_amount.max, "purchase_amount", "max"))
    quantity = None
    if when.quantity is not None:
        q = when.quantity
        quantity = (
            q.min,
            frozenset(q.categories),
            frozenset(q.skus),
            frozenset(q.brands),
            frozenset(q.tags),
        )
    stores = optional("stores", when.stores)
    channels = optional("channels", when.channels)
    partners = optional("partners", when.partners)
    payment_methods = optional("payment_methods", when.payment_methods)
    tiers = optional("tiers", when.tiers)
    segments = optional("segments", when.segments)

    return Gate(
        dates=None if when.dates is None else tuple((r.from_, r.to) for r in when.dates),
        weekdays=(
            None
            if when.days_of_week is None
            else frozenset(WEEKDAYS.index(d) for d in when.days_of_week)
        ),
        hours=(
            None if when.hours is None else (_minutes(when.hours.from_), _minutes(when.hours.to))
        ),
        birthday=(
            None if when.birthday is None else (when.birthday.days_before, when.birthday.days_after)
        ),
        stores=stores,
        channels=channels,
        partners=partners,
        payment_methods=payment_methods,
        tiers=tiers,
        segments=segments,
        member=(
            None
            if when.member is None
            else tuple(
                (key, tuple(value) if isinstance(value, list) else (value,))
                for key, value in sorted(when.member.items())
            )
        ),
        lifetime_spend=lifetime,
        negated=frozenset(negated),
        purchase_amount=amount,
        quantity=quantity,
        promo_code=when.promo_code,
    )


def compile_conditions(
    when: Conditions, to_minor: Callable[..., int | None]
) -> tuple[Predicate, ...]:
    """The predicates ``when`` states (see :func:`checks_of`)."""
    return checks_of(gate_of(when, to_minor))


def checks_of(gate: Gate) -> tuple[Predicate, ...]:
    """The predicates a gate states, calendar ones first. All must hold, and they have no
    effects, so their order is free."""
    checks: list[Predicate] = []
    if gate.dates is not None:
        ranges = gate.dates
        if len(ranges) == 1:
            ((first, last),) = ranges
            checks.append(lambda f: first <= f.local_date <= last)
        else:
            checks.append(lambda f: any(a <= f.local_date <= b for a, b in ranges))
    if gate.weekdays is not None:
        days = gate.weekdays
        checks.append(lambda f: f.weekday in days)
    if gate.hours is not None:
        checks.append(lambda f: gate.hours_hold(f.minute_of_day))
    if gate.birthday is not None:
        checks.append(lambda f: gate.birthday_holds(f.birthday_days()))
    no = gate.negated
    if gate.stores is not None:
        stores, not_store = gate.stores, "stores" in no
        checks.append(lambda f: (f.store in stores) is not not_store)
    if gate.channels is not None:
        channels, not_channel = gate.channels, "channels" in no
        checks.append(lambda f: (f.channel in channels) is not not_channel)
    if gate.partners is not None:
        partners, not_partner = gate.partners, "partners" in no
        checks.append(lambda f: (f.partner in partners) is not not_partner)
    if gate.payment_methods is not None:
        methods, not_method = gate.payment_methods, "payment_methods" in no
        checks.append(lambda f: (f.payment_method in methods) is not not_method)
    if gate.tiers is not None:
        tiers, not_tier = gate.tiers, "tiers" in no
        checks.append(lambda f: (f.tier in tiers) is not not_tier)
    if gate.segments is not None:
        segments, not_segment = gate.segments, "segments" in no
        checks.append(lambda f: segments.isdisjoint(f.segments) is not_segment)
    if gate.member is not None or gate.lifetime_spend is not None:
        checks.append(lambda f: gate.member_holds(f.attributes, f.lifetime_spend_minor))
    return tuple(checks)


def _attr_matches(attributes: Mapping[str, object], key: str, allowed: tuple[object, ...]) -> bool:
    value = attributes.get(key)
    # bool is an int in Python: compare types too so that True never matches 1
    for candidate in allowed:  # noqa: SIM110 - no generator frame per call on the hot path
        if value == candidate and type(value) is type(candidate):
            return True
    return False
