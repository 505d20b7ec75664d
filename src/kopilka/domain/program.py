"""A loyalty program: its currency, point value, rounding, calendar and ledger policies."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from kopilka.domain.errors import ValidationError
from kopilka.domain.expiry import ExpiryPolicy
from kopilka.domain.money import Rounding


class NegativeBalancePolicy(enum.StrEnum):
    """What a return does when the points it claws back were already spent."""

    FORGIVE = "forgive"  # claw back what is left; the business absorbs the rest
    DEBT = "debt"  # the balance goes negative and later earnings repay it


class RestorePolicy(enum.StrEnum):
    """What happens to spent points given back by a return whose lot has expired meanwhile.

    Points spent on a purchase come back on its return only if it happens while they are
    still valid: that is ``expire``, the default. Points whose lot is still valid go back
    to it, with its original expiry, under either policy.
    """

    EXPIRE = "expire"  # restored and expired at once: straight to breakage (the default)
    REISSUE = "reissue"  # a fresh lot, valid under the expiry policy from the return time


@dataclass(frozen=True, slots=True)
class Program:
    """Configuration of one loyalty program; immutable within an operation."""

    id: int
    code: str
    name: str
    currency: str = "RUB"
    # money value of one point, in minor units (1 point = 1 RUB -> 100)
    point_value_minor: int = 100
    rounding: Rounding = Rounding.DOWN
    timezone: str = "UTC"
    expiry: ExpiryPolicy = field(default_factory=ExpiryPolicy)
    activation_delay: timedelta = timedelta(0)
    negative_balance: NegativeBalancePolicy = NegativeBalancePolicy.FORGIVE
    restore_policy: RestorePolicy = RestorePolicy.EXPIRE
    hold_ttl: timedelta = timedelta(minutes=15)
    # a marketer's publication of rules is a proposal for an admin to approve
    rules_approval: bool = False

    def __post_init__(self) -> None:
        validate_program_fields(
            self.code,
            self.currency,
            self.point_value_minor,
            self.timezone,
            self.activation_delay,
            self.hold_ttl,
        )

    def available_at(self, earned_at: datetime) -> datetime:
        """When points earned at ``earned_at`` become spendable."""
        return earned_at + self.activation_delay

    def expires_at(self, earned_at: datetime) -> datetime | None:
        """When points earned at ``earned_at`` expire under the program's policy."""
        return self.expiry.expires_at(earned_at, self.timezone)


def validate_program_fields(
    code: str,
    currency: str,
    point_value_minor: int,
    timezone: str,
    activation_delay: timedelta,
    hold_ttl: timedelta,
) -> None:
    """Check a program's settings; raises ValidationError naming the bad field."""
    if not code or len(code) > 64 or not code.replace("-", "").replace("_", "").isalnum():
        raise ValidationError("program code must be 1-64 letters, digits, '-' or '_'", field="code")
    if len(currency) != 3 or not currency.isalpha() or not currency.isupper():
        raise ValidationError("currency must be a 3-letter ISO 4217 code", field="currency")
    if not (1 <= point_value_minor <= 10**9):
        raise ValidationError("point value must be a positive amount", field="point_value")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"unknown time zone {timezone!r}", field="timezone") from None
    if activation_delay < timedelta(0) or activation_delay > timedelta(days=3650):
        raise ValidationError("activation delay must be 0-3650 days", field="activation_delay")
    if not (timedelta(seconds=1) <= hold_ttl <= timedelta(days=30)):
        raise ValidationError(
            "hold lifetime must be between 1 second and 30 days", field="hold_ttl"
        )
