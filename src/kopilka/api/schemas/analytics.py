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
