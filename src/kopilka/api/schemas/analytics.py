"""The HTTP shape of analytics: a guest receipt (a till's receipt without a member)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from kopilka.api.schemas.common import Ident, Input, Instant, ReceiptAmount
from kopilka.domain.money import parse_money
from kopilka.domain.program import Program
from kopilka.services.analytics import RecordGuestReceipt


class GuestReceiptCreate(Input):
    """A receipt without a member, recorded for analytics only: no points, no member."""

    receipt_id: Ident = Field(description="one receipt per id in the program")
    occurred_at: Instant | None = Field(default=None, description="default: now")
    total: ReceiptAmount = Field(description="the receipt's total, in the program's currency")
    store: Ident | None = Field(
        default=None, description="the key's own store; only an unbound key names another"
    )
    channel: Literal["till", "web", "app"] | None = Field(
        default=None, description="the key's own channel; default till"
    )

    def to_command(
        self, program: Program, now: datetime, *, store: str | None, channel: str
    ) -> RecordGuestReceipt:
        """The receipt to record, at ``store`` in ``channel`` (the caller's)."""
        return RecordGuestReceipt(
            self.receipt_id,
            self.occurred_at or now,
            parse_money(self.total, program.currency, field="total"),
            store,
            channel,
        )


class GuestReceiptPublic(BaseModel):
    """A recorded guest receipt (``recorded`` false: the id was recorded before, and this
    is what was stored then)."""

    receipt_id: str
    recorded: bool
    total_minor: int
    occurred_at: str


class PilotGroupPublic(BaseModel):
    """One side of a pilot: its members and what they spent (minor units; members who
    bought nothing count with zero)."""

    members: int
    revenue_minor: int
    mean_minor: float


class PilotPublic(BaseModel):
    """A pilot rule's return over the period (docs/analytics.md): money in minor units,
    ``*_low``/``*_high`` the confidence interval, ``reliable`` both groups large enough
    for it; ``null`` where there is no answer (an empty group, no points)."""

    rule_id: str
    description: str
    share_percent: float = Field(description="the share of members the rule applies to")
    pilot: PilotGroupPublic
    control: PilotGroupPublic
    uplift_minor: float | None = Field(description="pilot's mean spending - control's")
    uplift_low: float | None
    uplift_high: float | None
    incremental_revenue_minor: int | None
    incremental_low: int | None
    incremental_high: int | None
    points: int = Field(description="the rule's points in the period")
    cost_minor: int = Field(description="the points at the program's point value")
    roi: float | None = Field(description="(incremental revenue - cost) / cost")
    roi_low: float | None
    roi_high: float | None
    reliable: bool
    confidence: float


class PilotReportPublic(BaseModel):
    """The program's pilots (rules with a share of members) over local days from-to."""

    program: str
    currency: str
    from_day: str
    to_day: str
    pilots: list[PilotPublic]


class CampaignPublic(BaseModel):
    """A campaign (rules sharing a ``campaign:`` code) and its points, awards and cost in
    minor units over the range."""

    campaign: str
    rules: list[str]
    points: int
    awards: int
    cost_minor: int


class CampaignReportPublic(BaseModel):
    """The program's campaigns over local days from-to, most points first."""

    program: str
    currency: str
    from_day: str
    to_day: str
    campaigns: list[CampaignPublic]
