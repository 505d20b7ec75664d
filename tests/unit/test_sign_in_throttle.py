"""Counting failed sign-ins (``kopilka.web.throttle``): per address, per identity, in a
moving window of the clock's time."""

from __future__ import annotations

from datetime import UTC, datetime

import time_machine

from kopilka.web.guard import wait_message
from kopilka.web.throttle import SignInThrottle

T0 = datetime(2026, 3, 14, 12, 0, tzinfo=UTC)


def test_an_address_is_refused_after_its_failures_until_the_window_has_room() -> None:
    throttle = SignInThrottle("3 per 10 minutes")
    with time_machine.travel(T0, tick=False) as clock:
        for _ in range(3):
            assert throttle.retry_after("10.0.0.1") is None
            throttle.failed("10.0.0.1")
            clock.shift(60)
        # the first failure leaves the window 10 minutes after it: 7 minutes from now
        assert throttle.retry_after("10.0.0.1") == 7 * 60
        assert throttle.retry_after("10.0.0.2") is None
        clock.shift(7 * 60)
        assert throttle.retry_after("10.0.0.1") is None


def test_an_identity_is_counted_across_addresses() -> None:
    throttle = SignInThrottle("2 per minute")
    with time_machine.travel(T0, tick=False):
        throttle.failed("10.0.0.1", "card-1")
        throttle.failed("10.0.0.2", "card-1")
        assert throttle.retry_after("10.0.0.3", "card-1") == 60
        assert throttle.retry_after("10.0.0.3", "card-2") is None
        assert throttle.retry_after("10.0.0.3") is None


def test_a_success_clears_its_identity_not_its_address() -> None:
    throttle = SignInThrottle("2 per minute")
    with time_machine.travel(T0, tick=False):
        throttle.failed("10.0.0.1", "card-1")
        throttle.failed("10.0.0.1", "card-1")
        throttle.succeeded("card-1")
        assert throttle.retry_after("10.0.0.2", "card-1") is None
        assert throttle.retry_after("10.0.0.1", "card-2") == 60


def test_the_wait_is_never_under_a_second() -> None:
    throttle = SignInThrottle("1 per second")
    with time_machine.travel(T0, tick=False) as clock:
        throttle.failed("10.0.0.1")
        clock.shift(0.9999)
        assert throttle.retry_after("10.0.0.1") == 1


def test_the_wait_is_said_in_seconds_then_in_whole_minutes() -> None:
    assert wait_message(45) == "Too many failed sign-ins. Try again in 45 seconds."
    assert wait_message(60) == "Too many failed sign-ins. Try again in 1 minute."
    assert wait_message(61) == "Too many failed sign-ins. Try again in 2 minutes."
