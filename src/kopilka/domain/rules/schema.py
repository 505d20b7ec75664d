"""The rules document as pydantic models: the shape a marketer writes, checked strictly.

These models are only used at publish time. :mod:`kopilka.domain.rules.compile` turns a
validated document into plain, precompiled objects for the hot path. Money is written in major
units ("100", "15000.50"); points are whole numbers; percentages are decimals ("5", "2.5").
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

RULE_ID = r"^[a-z0-9][a-z0-9_.-]{0,63}$"
NAME = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
STANDARD_EVENTS = (
    "registration",
    "profile_completed",
    "review",
    "social_share",
    "newsletter_subscription",
)

Money = Annotated[Decimal, Field(ge=0, le=Decimal("1000000000000"), allow_inf_nan=False)]
PositiveMoney = Annotated[Decimal, Field(gt=0, le=Decimal("1000000000000"), allow_inf_nan=False)]
Percent = Annotated[Decimal, Field(gt=0, le=100, allow_inf_nan=False)]
Points = Annotated[int, Field(gt=0, le=10**12, strict=True)]
Scalar = str | int | bool


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Scope(Strict):
    """Which lines a rule touches: any listed category, SKU, brand or tag; empty means all."""

    categories: list[str] = []
    skus: list[str] = []
    brands: list[str] = []
    tags: list[str] = []


class DateRange(Strict):
    """Inclusive calendar dates in the program's time zone."""

    from_: date = Field(alias="from")
    to: date

    @model_validator(mode="after")
    def _ordered(self) -> DateRange:
        if self.to < self.from_:
            raise ValueError("'to' must not be before 'from'")
        return self


class Hours(Strict):
    """Local time of day, ``from`` inclusive, ``to`` exclusive; wraps past midnight."""

    from_: str = Field(alias="from")
    to: str

    @field_validator("from_", "to")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        if not HHMM.match(value):
            raise ValueError("must be a time HH:MM")
        return value


class Birthday(Strict):
    """A window of days around the member's birthday (29 February counts as 28 February)."""

    days_before: int = Field(0, ge=0, le=31)
    days_after: int = Field(0, ge=0, le=31)


class SpendRange(Strict):
    """Lifetime spend before this purchase: ``min`` inclusive, ``max`` exclusive."""

    min: Money | None = None
    max: Money | None = None


class Conditions(Strict):
    stores: list[str] | None = None
    channels: list[Literal["till", "web", "app"]] | None = None
    partners: list[str] | None = None
    payment_methods: list[str] | None = None
    tiers: list[str] | None = None
    segments: list[str] | None = None
    member: dict[str, Scalar | list[Scalar]] | None = None
    lifetime_spend: SpendRange | None = None
    dates: list[DateRange] | None = None
    days_of_week: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] | None = None
    hours: Hours | None = None
    birthday: Birthday | None = None


class Limits(Strict):
    """Caps in points: per purchase, per member per day and month, and a campaign budget."""

    per_purchase: Points | None = None
    per_member_day: Points | None = None
    per_member_month: Points | None = None
    budget: Points | None = None


class Pilot(Strict):
    """Run a rule for some stores and/or a stable share of members (the rest are control)."""

    stores: list[str] | None = None
    share_percent: Percent | None = None


class RuleBase(Strict):
    id: Annotated[str, Field(pattern=RULE_ID)]
    description: str = Field("", max_length=500)
    visible: bool = True
    priority: int = Field(100, ge=0, le=1_000_000)
    stacking: Literal["stackable", "exclusive"] = "stackable"
    when: Conditions = Conditions()
    limits: Limits = Limits()
    pilot: Pilot | None = None


class Rate(Strict):
    """Either ``points`` per whole ``per`` of money, or ``percent`` of the amount as points."""

    points: Points | None = None
    per: PositiveMoney | None = None
    percent: Percent | None = None

    @model_validator(mode="after")
    def _one_form(self) -> Rate:
        fixed = self.points is not None or self.per is not None
        if fixed and self.percent is not None:
            raise ValueError("give either points+per or percent, not both")
        if fixed and (self.points is None or self.per is None):
            raise ValueError("points and per go together")
        if not fixed and self.percent is None:
            raise ValueError("give points+per or percent")
        return self


class RateRule(RuleBase):
    kind: Literal["rate"]
    rate: Rate
    scope: Scope = Scope()


class MultiplierRule(RuleBase):
    kind: Literal["multiplier"]
    factor: Annotated[Decimal, Field(gt=1, le=100, allow_inf_nan=False)]
    scope: Scope = Scope()


class BonusRule(RuleBase):
    """Fixed points for the purchase, spread over its eligible lines; triggers combine (AND)."""

    kind: Literal["bonus"]
    points: Points
    scope: Scope = Scope()
    min_amount: Money | None = None
    every_nth_purchase: int | None = Field(None, ge=2, le=10_000)
    first_purchase: bool = False


class EventLimit(Strict):
    count: int = Field(1, ge=1, le=1_000_000)
    period: Literal["lifetime", "day", "week", "month", "year"] = "lifetime"


class EventRule(RuleBase):
    kind: Literal["event"]
    event: Annotated[str, Field(pattern=NAME)]
    points: Points
    match: dict[str, Scalar] = {}
    limit: EventLimit | None = None


class RedemptionExclude(Strict):
    categories: list[str] = []
    skus: list[str] = []
    brands: list[str] = []
    tags: list[str] = []
    discounted: bool = False


class Redemption(Strict):
    enabled: bool = True
    point_value: PositiveMoney | None = None
    min_purchase: Money | None = None
    min_points: Points | None = None
    max_points: Points | None = None
    max_percent: Percent | None = None
    max_item_percent: Percent | None = None
    step: Points = 1
    exclude: RedemptionExclude = RedemptionExclude()

    @model_validator(mode="after")
    def _bounds(self) -> Redemption:
        if self.min_points and self.max_points and self.min_points > self.max_points:
            raise ValueError("min_points must not exceed max_points")
        return self


class Options(Strict):
    no_points_on_discounted: bool = False


class Document(Strict):
    """The top of a rules document; ``rules`` are checked one by one by their ``kind``."""

    schema_version: Literal[1] = 1
    version: int | None = Field(None, ge=1)
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "RUB"
    options: Options = Options()
    exclude: Scope = Scope()
    rules: list[Any] = []
    redemption: Redemption = Redemption()
    tiers: Any = None  # checked by domain/rules/tiers_section.py


RULE_MODELS: dict[str, type[RuleBase]] = {
    "rate": RateRule,
    "multiplier": MultiplierRule,
    "bonus": BonusRule,
    "event": EventRule,
}
