"""Back office: program settings, sweeps, the verify report, the audit log, the caller."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from kopilka.api.schemas.common import Input, Instant, Money
from kopilka.domain.money import to_decimal
from kopilka.domain.program import Program


class ProgramPublic(BaseModel):
    id: int
    code: str
    name: str
    currency: str
    point_value: Money = Field(description="money value of one point, a decimal string")
    rounding: str
    timezone: str
    expiry_kind: str
    expiry_n: int
    activation_delay_seconds: int
    negative_balance: str
    restore_policy: str
    hold_ttl_seconds: int
    expiry_from: str = Field(
        description="what the expiry period counts from: earning (the default) or "
        "activation (when points become spendable after the activation delay)"
    )

    @classmethod
    def of(cls, p: Program) -> ProgramPublic:
        return cls(
            id=p.id,
            code=p.code,
            name=p.name,
            currency=p.currency,
            point_value=to_decimal(p.point_value_minor, p.currency),
            rounding=str(p.rounding),
            timezone=p.timezone,
            expiry_kind=str(p.expiry.kind),
            expiry_n=p.expiry.n,
            activation_delay_seconds=int(p.activation_delay.total_seconds()),
            negative_balance=str(p.negative_balance),
            restore_policy=str(p.restore_policy),
            hold_ttl_seconds=int(p.hold_ttl.total_seconds()),
            expiry_from=str(p.expiry_from),
        )


class JobRequest(Input):
    as_of: Instant | None = Field(default=None, description="default and latest: server time")


class JobResult(BaseModel):
    job: str
    as_of: datetime
    handled: int


class CheckPublic(BaseModel):
    name: str
    description: str
    ok: bool
    violations: int
    samples: list[str]


class VerifyPublic(BaseModel):
    ok: bool
    totals: dict[str, object]
    checks: list[CheckPublic]


class AuditEntry(BaseModel):
    id: int
    actor: str
    action: str
    target: str
    before: dict[str, object] | None
    after: dict[str, object] | None
    at: datetime


class AuditPage(BaseModel):
    items: list[AuditEntry]
    next_cursor: int | None


class Caller(BaseModel):
    """The API key making the request."""

    key_id: int
    name: str
    role: str
    store: str | None
    program: str
    permissions: list[str]
