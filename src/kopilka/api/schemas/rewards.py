"""The HTTP shape of rewards: a catalog row the back office sends (read once into the
domain's :class:`Reward`), and what the routes answer. Money travels as decimal strings
(the program's currency), converted to minor units here."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from kopilka.api.schemas.common import Code, Flag, Id, Input, Instant, Points, ReceiptAmount
from kopilka.domain.errors import ValidationError
from kopilka.domain.messages import msg
from kopilka.domain.money import parse_money
from kopilka.domain.rewards import (
    Audience,
    CouponKind,
    CouponTerms,
    EarlyAccess,
    Fulfilment,
    Limits,
    Period,
    Reward,
    RewardKind,
    Text,
    Validity,
)
from kopilka.services.rewards import CancelIssued, SetStock

TierCode = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
SegmentCode = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")]
RewardCode = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
Count = Annotated[int, Field(strict=True, ge=1, le=10**9)]
NameText = Annotated[str, Field(min_length=1, max_length=200)]
DescriptionText = Annotated[str, Field(max_length=2000)]


class TextIn(Input):
    """A text in both languages (both required; a description may be empty)."""

    en: NameText
    ru: NameText


class DescriptionIn(Input):
    en: DescriptionText = ""
    ru: DescriptionText = ""


class CouponIn(Input):
    """A coupon's or voucher's discount: ``percent`` (1-100) or a fixed ``amount`` (a
    decimal string in the program's currency), from a basket of ``min_basket``, on the
    lines of ``categories`` (empty: every line)."""

    kind: CouponKind
    percent: Annotated[int, Field(strict=True, ge=1, le=100)] | None = None
    amount: ReceiptAmount | None = None
    min_basket: ReceiptAmount | None = None
    categories: list[Code] = Field(max_length=100, default_factory=list)

    def to_terms(self, currency: str) -> CouponTerms:
        """The domain's terms, money in minor units."""
        if self.kind == CouponKind.PERCENT:
            if self.percent is None or self.amount is not None:
                raise ValidationError(
                    msg("a percent coupon gives percent, not amount"), field="coupon.percent"
                )
            value = self.percent
        else:
            if self.amount is None or self.percent is not None:
                raise ValidationError(
                    msg("a fixed coupon gives amount, not percent"), field="coupon.amount"
                )
            value = parse_money(self.amount, currency, field="coupon.amount")
        minimum = parse_money(self.min_basket or 0, currency, field="coupon.min_basket")
        return CouponTerms(self.kind, value, minimum, tuple(self.categories))


class LimitsIn(Input):
    per_member: Count | None = None
    per_period: Count | None = None
    period: Period | None = None
    total: Count | None = None


class EarlyIn(Input):
    tier: TierCode
    opens_at: Instant


class AudienceIn(Input):
    """Who sees the reward: members of these tiers, in these segments (the member's
    ``attributes.segments``) or these members (all empty: everybody)."""

    tiers: list[TierCode] = Field(max_length=50, default_factory=list)
    members: list[Id] = Field(max_length=10_000, default_factory=list)
    segments: list[SegmentCode] = Field(max_length=50, default_factory=list)


class ValidityIn(Input):
    activation_delay_s: Annotated[int, Field(strict=True, ge=0, le=366 * 86400)] = 0
    valid_days: Annotated[int, Field(strict=True, ge=1, le=3660)] | None = None
    valid_until: Instant | None = None


class RewardIn(Input):
    """A catalog row. ``stock`` (None: unlimited) applies when the reward is created; a
    change of stock later is ``POST /v1/rewards/{id}/stock``."""

    code: RewardCode
    kind: RewardKind
    name: TextIn
    description: DescriptionIn = DescriptionIn()
    points: Points
    tier_points: dict[TierCode, Points] = Field(default_factory=dict)
    coupon: CouponIn | None = None
    fulfilment: Fulfilment | None = None
    stock: Annotated[int, Field(strict=True, ge=0, le=10**9)] | None = None
    limits: LimitsIn = LimitsIn()
    starts_at: Instant | None = None
    ends_at: Instant | None = None
    early: EarlyIn | None = None
    audience: AudienceIn = AudienceIn()
    validity: ValidityIn = ValidityIn()
    active: Flag = True

    def to_reward(self, currency: str, reward_id: int = 0) -> Reward:
        """The domain's reward (its own checks run here: a 422 at the edge)."""
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValidationError(msg("the reward must end after it starts"), field="ends_at")
        return Reward(
            id=reward_id,
            program_id=0,
            code=self.code,
            kind=self.kind,
            name=Text(self.name.en.strip(), self.name.ru.strip()),
            description=Text(self.description.en.strip(), self.description.ru.strip()),
            points=self.points,
            tier_points=dict(self.tier_points),
            coupon=self.coupon.to_terms(currency) if self.coupon else None,
            fulfilment=self.fulfilment,
            stock=self.stock,
            limits=Limits(
                self.limits.per_member,
                self.limits.per_period,
                self.limits.period,
                self.limits.total,
            ),
            starts_at=self.starts_at,
            ends_at=self.ends_at,
            early=EarlyAccess(self.early.tier, self.early.opens_at) if self.early else None,
            audience=Audience(
                tuple(self.audience.tiers),
                tuple(self.audience.members),
                tuple(dict.fromkeys(s.strip() for s in self.audience.segments)),
            ),
            validity=Validity(
                timedelta(seconds=self.validity.activation_delay_s),
                self.validity.valid_days,
                self.validity.valid_until,
            ),
            active=self.active,
        )


class StockIn(Input):
    """Set the stock (``stock``; null with ``unlimited: true``), or add ``add`` units
    (negative: remove) to a limited stock."""

    stock: Annotated[int, Field(strict=True, ge=0, le=10**9)] | None = None
    add: Annotated[int, Field(strict=True, ge=-(10**9), le=10**9)] | None = None
    unlimited: Flag = False

    def to_command(self, reward_id: int, actor: str) -> SetStock:
        given = sum(x is not None for x in (self.stock, self.add)) + int(self.unlimited)
        if given != 1:
            raise ValidationError(
                msg("send exactly one of stock, add and unlimited"), field="stock"
            )
        return SetStock(reward_id, actor, stock=self.stock, add=self.add)


class PoolIn(Input):
    """Partner codes to add to the pool (at most 10,000 a request)."""

    codes: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=64)]],
        Field(min_length=1, max_length=10_000),
    ]


class SettingsIn(Input):
    refund_on_cancel: Annotated[bool, Field(strict=True)]
    refund_on_expiry: Annotated[bool, Field(strict=True)]


class RedeemIn(Input):
    reward_id: Id


class CancelIn(Input):
    reason: Annotated[str, Field(min_length=1, max_length=500)]

    def to_command(self, issued_id: int, key: str, actor: str) -> CancelIssued:
        return CancelIssued(issued_id, key=key, actor=actor, reason=self.reason.strip())


# -- answers ------------------------------------------------------------------------------
class NamesOut(BaseModel):
    en: str
    ru: str


class CouponOut(BaseModel):
    kind: Literal["percent", "fixed"]
    amount: int = Field(description="percent, or minor units of the program's currency")
    min_basket_minor: int
    categories: list[str]


class LimitsOut(BaseModel):
    per_member: int | None
    per_period: int | None
    period: str | None
    total: int | None


class EarlyOut(BaseModel):
    tier: str
    opens_at: str


class AudienceOut(BaseModel):
    tiers: list[str]
    members: list[int]
    segments: list[str]


class ValidityOut(BaseModel):
    activation_delay_s: int
    valid_days: int | None
    valid_until: str | None


class FiguresOut(BaseModel):
    issued: int
    active: int = Field(description="issued and not yet used, expired or cancelled")
    used: int
    pool_total: int
    pool_free: int


class RewardOut(BaseModel):
    id: int
    code: str
    kind: str
    name: NamesOut
    description: NamesOut
    points: int
    tier_points: dict[str, int]
    coupon: CouponOut | None
    fulfilment: str | None
    stock: int | None = Field(description="left to issue (null: unlimited)")
    limits: LimitsOut
    starts_at: str | None
    ends_at: str | None
    early: EarlyOut | None
    audience: AudienceOut
    validity: ValidityOut
    active: bool
    has_image: bool
    figures: FiguresOut


class CatalogItemOut(BaseModel):
    id: int
    code: str
    kind: str
    name: NamesOut
    description: NamesOut
    points: int = Field(description="the price for this member's tier")
    coupon: CouponOut | None
    fulfilment: str | None
    stock: int | None
    available: bool
    reason: str | None = Field(
        description="why not now: out_of_stock, pool_empty, member_limit, period_limit, total_limit"
    )
    opens_at: str | None
    ends_at: str | None
    has_image: bool


class IssuedOut(BaseModel):
    id: int
    reward_id: int
    reward_code: str
    name: NamesOut
    member_id: int
    code: str
    display_code: str
    kind: str
    points: int
    entry_id: int
    issued_at: str
    valid_from: str
    expires_at: str | None
    status: Literal["issued", "used", "expired", "cancelled"]
    coupon: CouponOut | None
    refund_entry_id: int | None
    ended_at: str | None


class BalancesOut(BaseModel):
    available: int
    pending: int
    held: int


class RewardIssuedOut(BaseModel):
    issued: IssuedOut
    balance: BalancesOut


class HistoryOut(BaseModel):
    at: str
    status: str
    actor: str | None
    reason: str | None
    detail: dict[str, object] | None


class IssuedDetailOut(BaseModel):
    issued: IssuedOut
    history: list[HistoryOut]


class IssuedEndedOut(BaseModel):
    issued: IssuedOut
    refunded: int
    refund_entry_id: int | None
    balance: BalancesOut


class PoolLoadedOut(BaseModel):
    added: int
    duplicates: int
    free: int


class SettingsOut(BaseModel):
    refund_on_cancel: bool
    refund_on_expiry: bool
