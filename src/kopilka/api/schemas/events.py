"""Events: a non-purchase action (a review, a share, ...) and the points it earned."""

from __future__ import annotations

from pydantic import BaseModel, Field

from kopilka.api.schemas.common import Attributes, Code, Ident, Instant
from kopilka.api.schemas.points import Balances
from kopilka.api.schemas.purchases import ForMember


class EventIn(ForMember):
    type: Code = Field(description="what the member did, as the rules name it: review, share")
    attributes: Attributes | None = Field(default=None, description="what rules may match on")
    occurred_at: Instant | None = Field(default=None, description="default: now")


class EventCreate(EventIn):
    event_id: Ident = Field(description="one event per id in the program")


class EventAward(BaseModel):
    rule_id: str
    points: int
    description: str
    entry_id: int | None


class EventResult(BaseModel):
    event_id: str
    type: str
    member_id: int
    points_earned: int = Field(description="0 when no rule applied or a limit was reached")
    awards: list[EventAward]
    balance: Balances
