"""The HTTP shape of paid membership: a sale (start or renewal), a refund, and a
membership as ``/v1/members/{id}/memberships`` answers it."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from kopilka.api.schemas.common import Ident, Input, ReceiptAmount
from kopilka.domain.money import parse_money
from kopilka.domain.program import Program
from kopilka.services.memberships import RefundMembership, RenewMembership, StartMembership

PlanCode = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]


def _minor(amount: ReceiptAmount | None, program: Program) -> int | None:
    return None if amount is None else parse_money(amount, program.currency, field="amount")


class Sale(Input):
    """A sale's money: ``amount`` (None: the plan's price) in ``currency`` (None: the
    program's; another is refused, 422), under the sale's ``receipt_id``: the same receipt
    id and body answer the same result, another body under it is a 409."""

    receipt_id: Ident = Field(description="the sale's receipt: one sale per receipt id")
    amount: ReceiptAmount | None = None
    currency: Currency | None = None


class StartRequest(Sale):
    plan: PlanCode = Field(description="a code of the rules' tiers.paid plans")

    def to_command(self, member_id: int, program: Program) -> StartMembership:
        """The service's command (the amount in the program's minor units)."""
        return StartMembership(
            member_id, self.plan, self.receipt_id, _minor(self.amount, program), self.currency
        )


class RenewRequest(Sale):
    def to_command(self, member_id: int, membership_id: int, program: Program) -> RenewMembership:
        """The service's command (the amount in the program's minor units)."""
        return RenewMembership(
            member_id,
            membership_id,
            self.receipt_id,
            _minor(self.amount, program),
            self.currency,
        )


class RefundRequest(Sale):
    """A refund under its own receipt id; ``amount`` (None: all the membership took) at
    most what it took."""

    def to_command(self, member_id: int, membership_id: int, program: Program) -> RefundMembership:
        """The service's command (the amount in the program's minor units)."""
        return RefundMembership(
            member_id,
            membership_id,
            self.receipt_id,
            _minor(self.amount, program),
            self.currency,
        )


class SaleOut(BaseModel):
    receipt_id: str
    kind: str = Field(description="start | renew | refund")
    amount: str = Field(description="a decimal string; a refund's is negative")
    currency: str
    at: str
    term_start: str | None
    term_end: str | None


class MembershipOut(BaseModel):
    """A membership: its plan and tier, status (active: renews; cancelled: runs to its
    end; refunded: ended), whether its term runs now, and its sales with their money."""

    id: int
    member_id: int
    plan: str
    plan_name_ru: str
    plan_name_en: str
    tier_code: str
    status: str = Field(description="active | cancelled | refunded")
    active: bool = Field(description="its term runs now: the member is at least at its tier")
    renews: bool
    started_at: str
    ends_at: str
    paid: str = Field(description="what it took, less refunds (a decimal string)")
    currency: str
    sales: list[SaleOut]
