"""Expiry dates on the calendar's edges: month ends, 29 February, far time zones, DST."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from kopilka.domain.errors import ValidationError
from kopilka.domain.expiry import ExpiryKind, ExpiryPolicy, local_midnight


def policy(kind: str, n: int = 0) -> ExpiryPolicy:
    return ExpiryPolicy(ExpiryKind(kind), n)


def at(tz: str, *fields: int) -> datetime:
    """A wall-clock time in ``tz`` as an aware datetime."""
    return datetime(*fields, tzinfo=ZoneInfo(tz))  # type: ignore[misc]


def local(instant: datetime | None, tz: str) -> datetime:
    assert instant is not None
    return instant.astimezone(ZoneInfo(tz))


MARCH_2026 = [(day, hms) for day in range(1, 32) for hms in ((0, 0, 0), (12, 0, 0), (23, 59, 59))]


@pytest.mark.parametrize("tz", ["Europe/Moscow", "UTC", "Pacific/Kiritimati", "Pacific/Pago_Pago"])
@pytest.mark.parametrize(("day", "hms"), MARCH_2026)
def test_march_2026_under_12_months_end_expires_end_of_march_2027(tz, day, hms):
    """Any moment of March 2026 (program zone) under "12 months, end of month" expires at
    the end of 31 March 2027, i.e. at local midnight starting 1 April 2027."""
    earned = at(tz, 2026, 3, day, *hms)
    expires = policy("months_end", 12).expires_at(earned, tz)
    assert local(expires, tz) == at(tz, 2027, 4, 1, 0, 0, 0)
    assert local(expires - timedelta(microseconds=1), tz).date().isoformat() == "2027-03-31"


def test_expiry_instant_is_utc():
    """The policy answers a UTC instant, whatever the program's zone."""
    expires = policy("months_end", 1).expires_at(at("Asia/Kamchatka", 2026, 1, 10, 9), "UTC")
    assert expires is not None
    assert expires.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("earned", "n", "first_invalid_day"),
    [
        ((2026, 1, 31), 1, (2026, 3, 1)),  # 31 Jan + 1 month: the whole of February
        ((2028, 1, 31), 1, (2028, 3, 1)),  # February 2028 has 29 days, all of them valid
        ((2026, 12, 31), 1, (2027, 2, 1)),  # across the year
        ((2026, 11, 30), 3, (2027, 3, 1)),
        ((2026, 3, 31), 11, (2027, 3, 1)),  # a 31st into a 28-day month end
        ((2026, 5, 15), 1200, (2126, 6, 1)),  # the longest period allowed
    ],
)
def test_months_end_counts_whole_months_from_the_earning_month(earned, n, first_invalid_day):
    """ "N months, end of month" keeps points to the last day of the N-th following month."""
    tz = "Europe/Moscow"
    expires = policy("months_end", n).expires_at(at(tz, *earned, 15), tz)
    assert local(expires, tz) == at(tz, *first_invalid_day, 0)


def test_29_february_under_every_policy():
    """Points earned on 29 Feb 2028 expire on valid dates under each policy."""
    tz = "UTC"
    earned = at(tz, 2028, 2, 29, 12)
    assert local(policy("year_end", 1).expires_at(earned, tz), tz) == at(tz, 2030, 1, 1)
    assert local(policy("months_end", 12).expires_at(earned, tz), tz) == at(tz, 2029, 3, 1)
    assert local(policy("months_end", 48).expires_at(earned, tz), tz) == at(tz, 2032, 3, 1)
    # "N days" runs to the end of the N-th day: gone when the day after it starts
    assert local(policy("days", 365).expires_at(earned, tz), tz) == at(tz, 2029, 3, 1)
    assert local(policy("days", 1).expires_at(earned, tz), tz) == at(tz, 2028, 3, 2)


@pytest.mark.parametrize(
    ("tz", "earned_utc", "kind", "n", "expires_local"),
    [
        # +14: 10:30 UTC on 31 March is already 1 April on Kiritimati
        ("Pacific/Kiritimati", (2026, 3, 31, 10, 30), "months_end", 1, (2026, 6, 1)),
        ("Pacific/Kiritimati", (2026, 3, 31, 9, 59), "months_end", 1, (2026, 5, 1)),
        # -11: 10:00 UTC on 1 April is still 31 March in Pago Pago
        ("Pacific/Pago_Pago", (2026, 4, 1, 10, 0), "months_end", 12, (2027, 4, 1)),
        ("Pacific/Pago_Pago", (2026, 4, 1, 11, 0), "months_end", 12, (2027, 5, 1)),
        # +12: just after noon UTC on 31 Dec is New Year in Kamchatka
        ("Asia/Kamchatka", (2026, 12, 31, 12, 30), "year_end", 1, (2029, 1, 1)),
        ("Asia/Kamchatka", (2026, 12, 31, 11, 30), "year_end", 1, (2028, 1, 1)),
    ],
)
def test_the_calendar_month_is_the_programs_not_utcs(tz, earned_utc, kind, n, expires_local):
    """Far from UTC, the earning month/year and the expiry midnight are the program zone's."""
    earned = datetime(*earned_utc, tzinfo=UTC)
    assert local(policy(kind, n).expires_at(earned, tz), tz) == at(tz, *expires_local, 0)


def test_kiritimati_midnight_is_ten_utc_the_day_before():
    """1 June 2026 starts on Kiritimati (UTC+14) at 10:00 UTC on 31 May."""
    assert local_midnight(2026, 6, 1, "Pacific/Kiritimati") == datetime(2026, 5, 31, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("earned_utc", "expires_utc"),
    [
        # earned in February (CET, +1); 1 April starts in summer time (CEST, +2)
        ((2026, 2, 10, 12), (2026, 3, 31, 22)),
        # 22:30 UTC on 31 March is 00:30 on 1 April in summer time: an April earning
        ((2026, 3, 31, 22, 30), (2026, 5, 31, 22)),
        # earned in September (+2); 1 November starts in winter time (+1)
        ((2026, 9, 15, 12), (2026, 10, 31, 23)),
        # 23:30 UTC on 31 October is 00:30 on 1 November in winter time
        ((2026, 10, 31, 23, 30), (2026, 12, 31, 23)),
    ],
)
def test_berlin_month_end_across_dst(earned_utc, expires_utc):
    """Month ends in Berlin land on local midnight whatever the DST offset of either date."""
    earned = datetime(*earned_utc, tzinfo=UTC)
    expires = policy("months_end", 1).expires_at(earned, "Europe/Berlin")
    assert expires == datetime(*expires_utc, tzinfo=UTC)
    assert local(expires, "Europe/Berlin").hour == 0


@pytest.mark.parametrize(
    ("day", "utc"),
    [
        ((2026, 3, 29), datetime(2026, 3, 28, 23, tzinfo=UTC)),  # day of the spring change
        ((2026, 3, 30), datetime(2026, 3, 29, 22, tzinfo=UTC)),  # first summer-time day
        ((2026, 10, 25), datetime(2026, 10, 24, 22, tzinfo=UTC)),  # day of the autumn change
        ((2026, 10, 26), datetime(2026, 10, 25, 23, tzinfo=UTC)),
    ],
)
def test_berlin_local_midnight_on_dst_days(day, utc):
    """Berlin's midnight around both DST changes maps to the right UTC instant."""
    assert local_midnight(*day, "Europe/Berlin") == utc


def test_santiago_skipped_midnight_starts_the_day_at_one():
    """In Santiago the clock jumps from 00:00 to 01:00 on 6 Sep 2026: the day starts at 01:00
    local (04:00 UTC), the first instant that belongs to it."""
    start = local_midnight(2026, 9, 6, "America/Santiago")
    assert start == datetime(2026, 9, 6, 4, tzinfo=UTC)
    assert local(start, "America/Santiago").replace(tzinfo=None) == datetime(2026, 9, 6, 1)
    assert local(start - timedelta(microseconds=1), "America/Santiago").day == 5


def test_santiago_repeated_midnight_takes_the_first():
    """When Santiago's clocks go back (5 Apr 2026, 00:00 → 23:00), the day starts once,
    at the earlier of the instants that read 00:00 — never before the day."""
    start = local_midnight(2026, 4, 5, "America/Santiago")
    assert local(start, "America/Santiago").replace(tzinfo=None) == datetime(2026, 4, 5)
    assert local(start - timedelta(microseconds=1), "America/Santiago").day == 4


@pytest.mark.parametrize(
    ("tz", "earned", "n", "gone_local"),
    [
        # a zone without DST at UTC+3: 23:30 UTC is already the next local day
        pytest.param("Europe/Moscow", (2026, 3, 1, 20, 59), 30, (2026, 4, 1), id="msk-evening"),
        pytest.param("Europe/Moscow", (2026, 3, 1, 21, 0), 30, (2026, 4, 2), id="msk-next-day"),
        # a zone with an offset of its own minutes, without DST
        pytest.param("Asia/Kathmandu", (2026, 1, 31, 18, 14), 1, (2026, 2, 2), id="npt-before"),
        pytest.param("Asia/Kathmandu", (2026, 1, 31, 18, 15), 1, (2026, 2, 3), id="npt-after"),
        # month and year ends
        pytest.param("UTC", (2026, 1, 31, 23, 59), 30, (2026, 3, 3), id="over-february"),
        pytest.param("UTC", (2026, 12, 31, 0, 0), 1, (2027, 1, 2), id="over-new-year"),
        pytest.param("UTC", (2028, 2, 28, 12, 0), 1, (2028, 3, 1), id="leap-day-valid"),
        # across a DST change: the end of the local day, not 24 h steps
        pytest.param("Europe/Berlin", (2026, 3, 28, 11, 0), 1, (2026, 3, 30), id="berlin-spring"),
        pytest.param("Europe/Berlin", (2026, 10, 24, 11, 0), 1, (2026, 10, 26), id="berlin-fall"),
    ],
)
def test_days_policy_ends_at_the_end_of_the_local_day(
    tz: str, earned: tuple[int, ...], n: int, gone_local: tuple[int, int, int]
) -> None:
    """ "N days" keeps points through the whole N-th day after the earning's day in the
    program's zone (whatever the clock time of the earning): they are gone at the local
    midnight that ends it."""
    instant = datetime(*earned, tzinfo=UTC)  # type: ignore[misc]
    gone = policy("days", n).expires_at(instant, tz)
    assert local(gone, tz) == at(tz, *gone_local)
    assert gone == local_midnight(*gone_local, tz)


def test_never_expires():
    """The 'never' policy gives no expiry instant."""
    assert policy("never").expires_at(datetime(2026, 3, 14, tzinfo=UTC), "UTC") is None


@pytest.mark.parametrize(("kind", "n"), [("days", 0), ("months_end", 1201), ("never", 3)])
def test_out_of_range_periods_are_refused(kind, n):
    """A period outside 1..1200 (or any period on 'never') is a validation error."""
    with pytest.raises(ValidationError):
        policy(kind, n)
