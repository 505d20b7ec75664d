"""``local_midnight`` is remembered per argument: the remembered answers must be exactly
what computing afresh gives, on ordinary days and on the days zones change their clocks
(including zones whose DST jump skips local midnight), and ``ExpiryPolicy.expires_at``
must give the same instants as it would without the memo."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kopilka.domain.expiry import ExpiryKind, ExpiryPolicy, local_midnight

# zones with DST at midnight (Santiago, Havana, Asuncion, Beirut), at the usual hours
# (Berlin, New York), a southern one (Sydney), half-hour (Lord Howe, Adelaide), none (UTC)
ZONES = (
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "America/Santiago",
    "America/Havana",
    "America/Asuncion",
    "Asia/Beirut",
    "Australia/Sydney",
    "Australia/Lord_Howe",
    "Australia/Adelaide",
    "Pacific/Kiritimati",
)


def _direct(year: int, month: int, day: int, tz: str) -> datetime:
    return local_midnight.__wrapped__(year, month, day, tz)  # type: ignore[attr-defined]


def _transition_days(tz: str, year: int) -> list[tuple[int, int, int]]:
    """The local days of ``year`` on which ``tz`` changes its UTC offset, and their
    neighbours (found hour by hour, so the test does not hard-code the tz database)."""
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(tz)
    days = set()
    at = datetime(year, 1, 1, tzinfo=UTC)
    prev = at.astimezone(zone).utcoffset()
    while at.year == year:
        at += timedelta(hours=1)
        local = at.astimezone(zone)
        if local.utcoffset() != prev:
            prev = local.utcoffset()
            for d in (-1, 0, 1):
                day = (local + timedelta(days=d)).date()
                days.add((day.year, day.month, day.day))
    return sorted(days)


@pytest.mark.parametrize("tz", ZONES)
def test_remembered_midnights_equal_computed_ones_around_every_transition(tz):
    days = [(y, m, 1) for y in (2024, 2025, 2026, 2027) for m in range(1, 13)]
    for year in (2024, 2025, 2026):
        days += _transition_days(tz, year)
    for day in days:
        first = local_midnight(*day, tz)
        again = local_midnight(*day, tz)  # from the memo
        assert first == again == _direct(*day, tz), (tz, day)
        assert first.tzinfo is UTC


@pytest.mark.parametrize("tz", ZONES)
@pytest.mark.parametrize(
    "policy",
    [
        ExpiryPolicy(ExpiryKind.MONTHS_END, 1),
        ExpiryPolicy(ExpiryKind.MONTHS_END, 12),
        ExpiryPolicy(ExpiryKind.YEAR_END, 1),
    ],
)
def test_expires_at_equals_the_unremembered_computation(tz, policy):
    """Every 7 hours over two years, and each hour of the days around month ends and
    offset changes, the policy's answer is the one computed without any memo."""
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(tz)
    instants = [datetime(2025, 1, 1, tzinfo=UTC) + timedelta(hours=7 * i) for i in range(2500)]
    for y, m, d in _transition_days(tz, 2025) + [(2025, m, 1) for m in range(1, 13)]:
        start = _direct(y, m, d, tz) - timedelta(hours=30)
        instants += [start + timedelta(minutes=30 * i) for i in range(120)]
    for at in instants:
        local = at.astimezone(zone)
        if policy.kind == ExpiryKind.MONTHS_END:
            months = local.year * 12 + (local.month - 1) + policy.n + 1
            year, month0 = divmod(months, 12)
            want = _direct(year, month0 + 1, 1, tz)
        else:
            want = _direct(local.year + policy.n + 1, 1, 1, tz)
        assert policy.expires_at(at, tz) == want, (tz, at)
