"""A member of a program: status, profile and consents."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from kopilka.domain.errors import ValidationError
from kopilka.domain.messages import msg


class MemberStatus(enum.StrEnum):
    ACTIVE = "active"
    BLOCKED = "blocked"


@dataclass(frozen=True, slots=True)
class Consent:
    """A member's yes or no to one purpose (marketing_email, sms, personal_data...)."""

    purpose: str
    granted: bool
    channel: str  # till, web, app, support, import
    recorded_at: datetime

    def __post_init__(self) -> None:
        if not self.purpose or len(self.purpose) > 64:
            raise ValidationError(msg("consent purpose must be 1-64 characters"), field="purpose")
        if not self.channel or len(self.channel) > 32:
            raise ValidationError(msg("consent channel must be 1-32 characters"), field="channel")


@dataclass(slots=True)
class Member:
    id: int
    program_id: int
    status: MemberStatus
    enrolled_at: datetime
    first_name: str | None = None
    last_name: str | None = None
    birthday: date | None = None
    gender: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    tier_code: str | None = None
    referral_code: str | None = None
    referred_by: int | None = None
    lifetime_spend_minor: int = 0
    purchase_count: int = 0
    blocked_reason: str | None = None
    erased_at: datetime | None = None
    identifiers: dict[str, list[str]] = field(default_factory=dict)
    # when tier_code lapses by time alone (a paid or manual floor ends); None: not by time
    tier_until: datetime | None = None
