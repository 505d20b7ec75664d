"""Job schedules and leases (kopilka.domain.jobs): cron read in the program's time zone,
once per local day across daylight saving, and leases that expire."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kopilka.domain.errors import ValidationError
from kopilka.domain.jobs import Lease, check_cron, claimable, lease_until, next_run


def runs(expression: str, after: datetime, zone: str, n: int) -> list[str]:
    out = []
    for _ in range(n):
        after = next_run(expression, after, zone)
        out.append(after.strftime("%Y-%m-%d %H:%M"))
    return out


def test_local_midnight_in_the_programs_zone():
    """'0 0 * * *' is midnight where the program is: 21:00 UTC in Moscow, 00:00 in UTC."""
    after = datetime(2027, 2, 27, 12, tzinfo=UTC)
    assert runs("0 0 * * *", after, "Europe/Moscow", 2) == ["2027-02-27 21:00", "2027-02-28 21:00"]
    assert runs("0 0 * * *", after, "UTC", 1) == ["2027-02-28 00:00"]
    assert runs("0 0 1 3 *", after, "Asia/Yekaterinburg", 1) == ["2027-02-28 19:00"]


def test_a_fixed_time_runs_once_when_autumn_repeats_it():
    """02:30 occurs twice in Berlin on 25 October 2026: the daily job runs at the first only."""
    after = datetime(2026, 10, 24, 12, tzinfo=UTC)
    assert runs("30 2 * * *", after, "Europe/Berlin", 3) == [
        "2026-10-25 00:30",  # 02:30 CEST
        "2026-10-26 01:30",  # 02:30 CET
        "2026-10-27 01:30",
    ]


def test_a_fixed_time_that_spring_skips_runs_an_hour_later():
    """02:30 does not exist in Berlin on 29 March 2026: the job runs at 03:30 CEST, once."""
    after = datetime(2026, 3, 28, 12, tzinfo=UTC)
    assert runs("30 2 * * *", after, "Europe/Berlin", 2) == ["2026-03-29 01:30", "2026-03-30 00:30"]


def test_an_hourly_schedule_follows_real_time_across_both_changes():
    """'*/20 * * * *' keeps running every 20 minutes of real time through the repeated hour
    (no gap) and the skipped one (no burst)."""
    autumn = runs("*/20 * * * *", datetime(2026, 10, 25, 0, 10, tzinfo=UTC), "Europe/Berlin", 7)
    assert autumn == [
        f"2026-10-25 {h}" for h in ("00:20", "00:40", "01:00", "01:20", "01:40", "02:00", "02:20")
    ]
    spring = runs("*/20 * * * *", datetime(2026, 3, 29, 0, 10, tzinfo=UTC), "Europe/Berlin", 4)
    assert spring == [f"2026-03-29 {h}" for h in ("00:20", "00:40", "01:00", "01:20")]


@pytest.mark.parametrize(
    "bad", ["", "61 * * * *", "*/5 * * *", "* * * * * * * *", "every minute", "@sometimes"]
)
def test_invalid_cron_is_refused_on_the_cron_field(bad):
    """An expression that is not five valid fields is a validation error naming ``cron``."""
    with pytest.raises(ValidationError) as e:
        check_cron(bad)
    assert e.value.details["field"] == "cron"


def test_valid_cron_is_trimmed():
    """Spacing is normalised; named schedules are accepted."""
    assert check_cron("  */5   * * * * ") == "*/5 * * * *"
    assert check_cron("@daily") == "@daily"


def test_a_lease_expires_and_is_renewed_a_third_in():
    """A run is claimable when due and not leased, or leased by a lease that has expired;
    a holder renews once a third of its lease is gone."""
    now = datetime(2027, 1, 1, tzinfo=UTC)
    ttl = timedelta(minutes=3)
    lease = Lease("w1", lease_until(now, ttl))
    assert not claimable(now, lease, now)
    assert not claimable(now, lease, now + ttl - timedelta(seconds=1))
    assert claimable(now, lease, now + ttl)
    assert claimable(now, None, now)
    assert not claimable(now + timedelta(seconds=1), None, now)
    assert not lease.renewal_due(now + timedelta(seconds=59), ttl)
    assert lease.renewal_due(now + timedelta(seconds=61), ttl)
    with pytest.raises(ValidationError):
        lease_until(now, timedelta(0))


def test_the_sqlite_worker_lock_is_taken_over_only_from_a_gone_holder():
    """On this host a holder is alive while its process is; on another host while it has
    refreshed the lock lately."""
    import os

    from kopilka.services.worker.single import holder_alive
    from kopilka.store.repos.jobs import LockRow

    now = datetime(2027, 1, 1, tzinfo=UTC)
    stale = timedelta(minutes=6)
    me = LockRow("w", os.getpid(), "here", now, now)
    assert holder_alive(me, "here", now, stale)
    gone = LockRow("w", 2**22 + 12345, "here", now, now)  # above any id Linux gives (2**22)
    assert not holder_alive(gone, "here", now, stale)
    there = LockRow("w", 1, "there", now, now)
    assert holder_alive(there, "here", now + timedelta(minutes=5), stale)
    assert not holder_alive(there, "here", now + timedelta(minutes=7), stale)
