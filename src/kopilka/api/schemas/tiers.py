"""The HTTP shape of a member's tier: what ``GET /v1/members/{id}/tier`` answers and what
support sends to ``POST`` to set or lift a manual tier."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field

from kopilka.api.schemas.common import Input, Trim
from kopilka.domain.reasons import MAX_MEMBER_TEXT, MAX_NOTE, Reason, ReasonCode
from kopilka.services.tiers import SetManualTier

TierCode = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]


class ManualTierRequest(Input):
    """Set a manual tier (a floor: the member is at least at it) until ``until`` or for
    good, or lift it with ``tier_code: null``; always with a reason code. Refused (422)
    beyond this shape: a tier the rules in force do not define, an ``until`` not in the
    future, the reason ``other`` without a ``reason_note``."""

    tier_code: TierCode | None
    until: datetime | None = None
    reason_code: ReasonCode
    reason_note: Annotated[str, Field(max_length=MAX_NOTE), Trim] | None = None
    member_text: Annotated[str, Field(max_length=MAX_MEMBER_TEXT), Trim] | None = None

    def to_command(self, member_id: int) -> SetManualTier:
        """The service's command; the reason's own checks run here (a 422 at the edge)."""
        reason = Reason(self.reason_code, self.reason_note or None, self.member_text or None)
        return SetManualTier(member_id, self.tier_code, reason, self.until)


class TierNameOut(BaseModel):
    code: str
    name_ru: str
    name_en: str
    benefits_ru: str
    benefits_en: str


class ProgressPartOut(BaseModel):
    metric: str = Field(description="spend | points | purchases")
    required: str
    current: str
    missing: str
    share: float = Field(description="0..1, for a progress bar")


class TierProgressOut(BaseModel):
    combine: str = Field(description="any: one metric suffices; all: every one is needed")
    next_tier: TierNameOut | None
    to_next: list[ProgressPartOut]
    keep: list[ProgressPartOut]
    keep_met: bool
    deadline: str | None = Field(
        description="the last local day of the calendar window (None: rolling or lifetime)"
    )
    keep_deadline: str | None = Field(
        description="the last local day counted for keeping the tier: the calendar window's,"
        " or the day before the member's anniversary review (None: reviewed on a rolling basis)"
    )
    review: str = Field(description="when tiers are reviewed: period_end, anniversary or rolling")


class TierHistoryOut(BaseModel):
    from_tier: str | None
    to_tier: str | None
    at: str
    reason: str = Field(description="purchase | review | manual | return | migration | paid")
    metrics: dict[str, int] | None
    thresholds: dict[str, int] | None
    rule_version: int | None
    actor: str | None
    note: str | None


class ManualTierOut(BaseModel):
    tier_code: str
    until: str | None
    reason: str | None


class PaidTierOut(BaseModel):
    tier_code: str
    until: str = Field(description="the end of the paid term (the member falls back then)")


class MemberTierOut(BaseModel):
    """The member's effective tier (what rules read), the earned tier, a manual floor,
    the progress as of now and the tier history, newest first."""

    member_id: int
    tier: TierNameOut | None
    tier_code: str | None
    earned_tier: str | None
    manual: ManualTierOut | None
    paid: PaidTierOut | None = Field(
        None, description="the floor of a paid membership whose term runs"
    )
    grace_since: str | None
    progress: TierProgressOut | None
    history: list[TierHistoryOut]
    tiers: list[TierNameOut] = Field(description="the program's tiers, lowest first")
