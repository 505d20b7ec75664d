"""Analytics in the program's words: date ranges in the program's calendar, the grains a
figure is broken down by (day, week, month), the dimensions (store, channel, tier), month
numbers for cohorts, and the ratios every KPI is made of. Pure: no I/O.

A local day is a calendar day in the program's time zone (``Program.timezone``); a range
is a pair of local days, both included. Weeks start on Monday (ISO 8601); a month number is
``year * 12 + month - 1``, so the next month is ``n + 1``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from kopilka.domain.errors import ValidationError
from kopilka.domain.messages import msg

# a range longer than this is refused at the edges (ten years of days)
MAX_RANGE_DAYS = 3660


class Grain(enum.StrEnum):
    """How a range's figures are bucketed."""

    DAY = "day"
    WEEK = "week"
    MONTH = "month"


class Dimension(enum.StrEnum):
    """What a range's figures are broken down by (``none``: the program as a whole)."""

    NONE = "none"
    STORE = "store"
    CHANNEL = "channel"
    TIER = "tier"


@dataclass(frozen=True, slots=True)
class DateRange:
    """Local days ``start`` to ``end``, both included."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValidationError(msg("the range ends before it starts"), field="to")
        if (self.end - self.start).days >= MAX_RANGE_DAYS:
            raise ValidationError(
                msg("a range may span at most %(days)s days", days=MAX_RANGE_DAYS),
                field="to",
            )

    @property
    def days(self) -> int:
        """How many days the range holds."""
        return (self.end - self.start).days + 1


def bucket(day: date, grain: Grain) -> date:
    """The first day of the bucket ``day`` falls in (itself, its week's Monday, its
    month's first)."""
    if grain is Grain.WEEK:
        return day - timedelta(days=day.weekday())
    if grain is Grain.MONTH:
        return day.replace(day=1)
    return day


def month_no(day: date) -> int:
    """The month number of ``day`` (``year * 12 + month - 1``)."""
    return day.year * 12 + day.month - 1


def month_start(number: int) -> date:
    """The first day of month ``number``."""
    return date(number // 12, number % 12 + 1, 1)


def month_label(number: int) -> str:
    """``YYYY-MM`` of month ``number``."""
    return f"{number // 12:04d}-{number % 12 + 1:02d}"


def local_midnight(day: date, timezone: str) -> datetime:
    """The UTC instant local ``day`` begins at in ``timezone``."""
    return datetime.combine(day, time(0), ZoneInfo(timezone)).astimezone(UTC)


def local_day(at: datetime, timezone: str) -> date:
    """The local day of the instant ``at`` in ``timezone``."""
    return at.astimezone(ZoneInfo(timezone)).date()


def utc_bounds(days: DateRange, timezone: str) -> tuple[datetime, datetime]:
    """The UTC instants ``[from, to)`` the local days of ``days`` cover."""
    return (
        local_midnight(days.start, timezone),
        local_midnight(days.end + timedelta(days=1), timezone),
    )


def offset_spans(timezone: str, lo: datetime, hi: datetime) -> list[tuple[datetime, int]]:
    """The zone's UTC offsets between ``lo`` and ``hi``: ``(until, seconds)`` pairs, each
    offset holding before ``until`` (the last one's ``until`` is at or after ``hi``). Lets
    a database without time zones (SQLite) turn a UTC instant into its local day.

    Computed over whole UTC days and kept (a dashboard asks for the same span in each of
    its queries, and a span of years is thousands of look-ups of the zone)."""
    first = lo.astimezone(UTC).date()
    last = hi.astimezone(UTC).date() + timedelta(days=1)
    return list(_day_spans(timezone, first, last))


@lru_cache(maxsize=512)
def _day_spans(timezone: str, first: date, last: date) -> tuple[tuple[datetime, int], ...]:
    zone = ZoneInfo(timezone)

    def offset(at: datetime) -> int:
        delta = at.astimezone(zone).utcoffset()
        return int(delta.total_seconds()) if delta else 0

    lo = datetime(first.year, first.month, first.day, tzinfo=UTC)
    hi = datetime(last.year, last.month, last.day, tzinfo=UTC)
    spans: list[tuple[datetime, int]] = []
    at, current = lo, offset(lo)
    step = timedelta(days=1)
    while at < hi:
        nxt = min(at + step, hi)
        if offset(nxt) != current:
            # the change lies in (at, nxt]: halve down to the minute
            a, b = at, nxt
            while b - a > timedelta(minutes=1):
                mid = a + (b - a) / 2
                if offset(mid) == current:
                    a = mid
                else:
                    b = mid
            change = b.replace(second=0, microsecond=0)
            if offset(change) == current:
                change += timedelta(minutes=1)
            spans.append((change, current))
            current = offset(change)
            at = change
            continue
        at = nxt
    spans.append((hi, current))
    return tuple(spans)


def ratio(part: float, whole: float) -> float | None:
    """``part / whole``, or ``None`` when there is nothing to divide by."""
    return part / whole if whole else None


def parse_day(value: str, field: str) -> date:
    """A local day written ``YYYY-MM-DD`` (a ValidationError naming ``field`` otherwise)."""
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise ValidationError(
            msg("%(field)s must be a date written YYYY-MM-DD", field=field), field=field
        ) from None


def parse_range(
    start: str | None, end: str | None, today: date, default_days: int = 30
) -> DateRange:
    """The range an interface was given (``YYYY-MM-DD`` each, both included); a missing
    end is ``today``, a missing start ``default_days`` before the end."""
    return day_range(
        parse_day(start, "from") if start else None,
        parse_day(end, "to") if end else None,
        today,
        default_days,
    )


def day_range(
    start: date | None, end: date | None, today: date, default_days: int = 30
) -> DateRange:
    """The range of local days ``start`` to ``end`` (both included); a missing end is
    ``today``, a missing start ``default_days`` before the end."""
    last = end or today
    first = start or last - timedelta(days=default_days - 1)
    return DateRange(first, last)
