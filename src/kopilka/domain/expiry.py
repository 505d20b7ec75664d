"""When earned points expire.

Expiry dates are calendar dates in the program's time zone, returned as UTC instants:
the first instant at which the points are no longer valid. Points earned on any day of
March 2026 under "12 months, end of month" stop being valid at the start of
1 April 2027 in the program's zone, i.e. they expire at the end of 31 March 2027.
Points earned at any time of 1 March 2026 under "30 days" are valid to the end of
31 March 2026 in the program's zone (not to the clock time of the earning).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from kopilka.domain.errors import ValidationError


class ExpiryKind(enum.StrEnum):
    NEVER = "never"
    DAYS = "days"  # to the end of the day N days after the earning's day (program's zone)
    MONTHS_END = "months_end"  # N months, aligned to the end of the month
    YEAR_END = "year_end"  # end of the calendar year N years after earning


@dataclass(frozen=True, slots=True)
class ExpiryPolicy:
    """A program's (or a rule's) rule for when a lot of points expires.

    ``n`` is 1-1200 for ``days``; 0-1200 for ``months_end`` and ``year_end``, where 0 is
    the end of the month (year) of the earning itself."""

    kind: ExpiryKind = ExpiryKind.NEVER
    n: int = 0

    def __post_init__(self) -> None:
        low = 1 if self.kind == ExpiryKind.DAYS else 0
        if self.kind != ExpiryKind.NEVER and not (low <= self.n <= 1200):
            raise ValidationError(f"expiry period must be between {low} and 1200", field="expiry_n")
        if self.kind == ExpiryKind.NEVER and self.n != 0:
            raise ValidationError("an expiry policy of 'never' takes no period", field="expiry_n")

    def expires_at(self, earned_at: datetime, tz: str) -> datetime | None:
        """The UTC instant at which points earned at ``earned_at`` expire, or None."""
        if self.kind == ExpiryKind.NEVER:
            return None
        local = earned_at.astimezone(ZoneInfo(tz))
        if self.kind == ExpiryKind.DAYS:
            # valid through the whole N-th day: gone when the day after it starts
            last = local.date() + timedelta(days=self.n + 1)
            return local_midnight(last.year, last.month, last.day, tz)
        if self.kind == ExpiryKind.MONTHS_END:
            # the month after (earning month + n) starts the day the points are gone
            months = local.year * 12 + (local.month - 1) + self.n + 1
            year, month0 = divmod(months, 12)
            return local_midnight(year, month0 + 1, 1, tz)
        return local_midnight(local.year + self.n + 1, 1, 1, tz)

    def describe(self) -> str:
        """A human sentence for the member portal and reports."""
        if self.kind == ExpiryKind.NEVER:
            return "points never expire"
        if self.kind == ExpiryKind.DAYS:
            return f"points expire at the end of the day, {self.n} days after they are earned"
        if self.kind == ExpiryKind.MONTHS_END:
            if self.n == 0:
                return "points expire at the end of the month they are earned in"
            return f"points expire at the end of the month, {self.n} months after they are earned"
        if self.n == 0:
            return "points expire at the end of the year they are earned in"
        return f"points expire at the end of the year, {self.n} years after they are earned"


@lru_cache(maxsize=65_536)
def local_midnight(year: int, month: int, day: int, tz: str) -> datetime:
    """The UTC instant at which the given calendar day starts in ``tz``.

    Where a DST jump skips local midnight, the day starts at the first instant after it.
    Remembered per argument (a pure function of them: an import asks for the same few
    month starts for every purchase); ``local_midnight.__wrapped__`` computes afresh.
    """
    zone = ZoneInfo(tz)
    naive = datetime(year, month, day)  # noqa: DTZ001 - a wall-clock time, placed in tz below
    candidate = naive.replace(tzinfo=zone)
    utc = candidate.astimezone(UTC)
    # a non-existent local time does not round-trip: take the earliest real instant after it
    if utc.astimezone(zone).replace(tzinfo=None) != naive:
        before = naive.replace(tzinfo=zone, fold=1).astimezone(UTC)
        utc = min(utc, before)
        while utc.astimezone(zone).replace(tzinfo=None) < naive:
            utc += timedelta(minutes=15)
    return utc
