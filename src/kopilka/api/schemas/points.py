"""Point movements: earn, redeem, holds, adjustments, and a member's history."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field, WithJsonSchema

from kopilka.api.schemas.common import (
    MAX_POINTS,
    Id,
    Input,
    MemberText,
    Points,
    Reason,
    Reference,
    Whole,
)
from kopilka.domain.reasons import ReasonCode


class EarnRequest(Input):
    points: Points
    reason: Reason | None = None
    reference: Reference | None = None


class RedeemRequest(Input):
    points: Points
    reference: Reference | None = None


class HoldCreate(Input):
    member_id: Id
    points: Points
    ttl_seconds: Annotated[int, Field(strict=True, ge=1, le=30 * 86400), Whole] | None = Field(
        default=None, description="default: the program's"
    )
    reference: Reference | None = None


class CaptureRequest(Input):
    points: Points | None = Field(default=None, description="default: the whole hold")


def _not_zero(delta: int) -> int:
    if delta == 0:
        raise ValueError("delta must not be 0")
    return delta


Delta = Annotated[
    int,
    Field(strict=True, ge=-MAX_POINTS, le=MAX_POINTS),
    Whole,
    AfterValidator(_not_zero),
    # "not 0" in the schema's words, so that it promises no more than the server takes
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": -MAX_POINTS, "maximum": -1},
                {"type": "integer", "minimum": 1, "maximum": MAX_POINTS},
            ]
        }
    ),
]


class AdjustmentCreate(Input):
    delta: Delta = Field(description="points to add (positive) or deduct (negative), not 0")
    reason: Reason = Field(
        description="the internal reason: support and the audit log read it, the member never"
    )
    reason_code: ReasonCode | None = Field(
        default=None, description="why, from the fixed list (reports group by it)"
    )
    member_text: MemberText | None = Field(
        default=None,
        description="what the member reads in their history; without it they read a plain "
        'sentence ("25 points added by customer service"), never ``reason``',
    )

    def meta(self) -> dict[str, object] | None:
        """The reason code and the member's text the journal entry keeps, if given."""
        out: dict[str, object] = {}
        if self.reason_code is not None:
            out["reason_code"] = str(self.reason_code)
        if self.member_text:
            out["member_text"] = self.member_text
        return out or None


class Balances(BaseModel):
    available: int
    pending: int
    held: int


class LedgerResult(BaseModel):
    """What a ledger operation did: its journal entry and the member's balances after it."""

    entry_id: int | None
    kind: str
    points: int
    member_id: int
    balance: Balances
    hold_id: int | None
    details: dict[str, object]


class HoldPublic(BaseModel):
    id: int
    member_id: int
    amount: int
    status: str
    captured: int
    reference: str | None
    created_at: datetime
    expires_at: datetime


class HistoryItem(BaseModel):
    entry_id: int
    kind: str
    points: int
    occurred_at: datetime
    changes: dict[str, int] = Field(description="what the entry did to each balance")
    why: str = Field(description="the entry explained in one sentence")
    rule_id: str | None
    rule_version: int | None
    reverses_entry_id: int | None
    hold_id: int | None
    reference: str | None
    reason: str | None
    actor: str | None
    meta: dict[str, object] | None


class TierChangeItem(BaseModel):
    at: datetime
    from_tier: str | None
    to_tier: str | None
    reason: str = Field(description="purchase | review | manual | return | migration")
    why: str = Field(description="the change explained in one sentence")
    rule_version: int | None
    actor: str | None
    note: str | None


class HistoryPage(BaseModel):
    items: list[HistoryItem]
    next_cursor: int | None = Field(description="pass as `before` for the next (older) page")
    tier_changes: list[TierChangeItem] = Field(
        description="the member's tier changes in this page's span of time, newest first "
        "(from the oldest line's time, or the start on the last page, to the time of the "
        "entry `before` names, or now on the first page)"
    )
