"""Tests name a program's settings as words (``expiry_kind="days", expiry_n=30``), the
names ``kopilka program create`` takes; :func:`program_command` turns them into the
service's :class:`CreateProgram`, as the CLI does from its options."""

from __future__ import annotations

from datetime import timedelta

from kopilka.domain.expiry import ExpiryKind, ExpiryPolicy
from kopilka.domain.money import Rounding
from kopilka.domain.program import ExpiryFrom, NegativeBalancePolicy, RestorePolicy
from kopilka.services.programs import CreateProgram


def program_command(
    code: str,
    *,
    name: str | None = None,
    currency: str = "RUB",
    point_value_minor: int = 100,
    rounding: str = "down",
    timezone: str = "UTC",
    expiry_kind: str = "never",
    expiry_n: int = 0,
    activation_delay_days: float = 0,
    negative_balance: str = "forgive",
    restore_policy: str = "expire",
    hold_ttl_seconds: int = 900,
    expiry_from: str = "earning",
) -> CreateProgram:
    """A program ``code`` with these settings (the defaults are the service's)."""
    return CreateProgram(
        code=code,
        name=name,
        currency=currency,
        point_value_minor=point_value_minor,
        rounding=Rounding(rounding),
        timezone=timezone,
        expiry=ExpiryPolicy(ExpiryKind(expiry_kind), expiry_n),
        activation_delay=timedelta(days=activation_delay_days),
        negative_balance=NegativeBalancePolicy(negative_balance),
        restore_policy=RestorePolicy(restore_policy),
        hold_ttl=timedelta(seconds=hold_ttl_seconds),
        expiry_from=ExpiryFrom(expiry_from),
    )
