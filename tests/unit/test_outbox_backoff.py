"""The outbox's retry delays: exponential from the base, capped, with up to half taken off
at random."""

from __future__ import annotations

import random
from datetime import timedelta

from kopilka.services.context import DeliverySettings
from kopilka.services.delivery import retry_delay


def test_delays_double_up_to_the_cap_with_jitter() -> None:
    """Attempt n waits between half and all of base·2^(n-1), never more than the cap."""
    settings = DeliverySettings(retry_base=5, retry_cap=3600)
    rng = random.Random(7)
    for attempt in range(1, 20):
        full = min(5 * 2 ** (attempt - 1), 3600)
        delay = retry_delay(settings, attempt, rng)
        assert timedelta(seconds=full / 2) <= delay <= timedelta(seconds=full)


def test_a_days_retries_take_a_few_dozen_attempts() -> None:
    """Retrying for a day with the defaults takes between 24 and 60 attempts: the cap
    keeps a dead receiver from being hammered, and from waiting days."""
    settings = DeliverySettings()
    rng = random.Random(1)
    waited, attempts = timedelta(0), 0
    while waited < timedelta(seconds=settings.retry_for):
        attempts += 1
        waited += retry_delay(settings, attempts, rng)
    assert 24 <= attempts <= 60
