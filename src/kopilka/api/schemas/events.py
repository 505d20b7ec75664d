"""Events: a non-purchase action (a review, a share, ...) and the points it earned."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from kopilka.api.schemas.common import Attributes, Code, Ident, Instant
from kopilka.api.schemas.points import Balances
from kopilka.api.schemas.purchases import ForMember
from kopilka.services.events import RecordEvent
from kopilka.services.rules import PreviewEvent


class EventIn(ForMember):
    type: Code = Field(description="what the member did, as the rules name it: review, share")
    attributes: Attributes | None = Field(default=None, description="what rules may match on")
    occurred_at: Instant | None = Field(default=None, description="default: now")

    def to_preview(self) -> PreviewEvent:
        """The event as a rules preview takes it."""
        return PreviewEvent(self.member_ref(), self.type, self.attributes, self.occurred_at)


class EventCreate(EventIn):
    event_id: Ident = Field(description="one event per id in the program")

    def to_command(self) -> RecordEvent:
        """The event the body records."""
        occurred_at: datetime | None = self.occurred_at
        return RecordEvent(
            self.event_id, self.type, self.member_ref(), self.attributes, occurred_at
        )


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
