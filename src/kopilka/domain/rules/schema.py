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

from kopilka.domain.messages import msg

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

PROMO_CODE = r"^[A-Z0-9][A-Z0-9_-]{0,31}$"
TENDERS = ("card", "cash", "sbp", "gift_card", "e_wallet", "points", "other")
Tender = Literal["card", "cash", "sbp", "gift_card", "e_wallet", "points", "other"]

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


class NotIn(Strict):
    """Every value but these: ``stores: {not: [s-13]}`` (the one form of negation, on every
    list condition and scope list)."""

    not_: list[str] = Field(alias="not", min_length=1)


class NotChannels(Strict):
    not_: list[Literal["till", "web", "app"]] = Field(alias="not", min_length=1)


class NotTenders(Strict):
    not_: list[Tender] = Field(alias="not", min_length=1)


Listed = list[str] | NotIn


class RuleScope(Strict):
    """A rule's lines: any listed category, SKU, brand or tag (empty: all), less the lines a
    ``{not: [...]}`` list names."""

    categories: Listed = []
    skus: Listed = []
    brands: Listed = []
    tags: Listed = []


class QuantityAtLeast(Strict):
    """At least ``min`` units (summed quantities) of the basket's lines in this scope."""

    min: Annotated[Decimal, Field(gt=0, le=1_000_000, allow_inf_nan=False)]
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
            raise ValueError(msg("'to' must not be before 'from'"))
        return self


class Hours(Strict):
    """Local time of day, ``from`` inclusive, ``to`` exclusive; wraps past midnight."""

    from_: str = Field(alias="from")
    to: str

    @field_validator("from_", "to")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        if not HHMM.match(value):
            raise ValueError(msg("must be a time HH:MM"))
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
    stores: Listed | None = None
    channels: list[Literal["till", "web", "app"]] | NotChannels | None = None
    partners: Listed | None = None
    payment_methods: Listed | None = None
    tiers: Listed | None = None
    segments: Listed | None = None
    member: dict[str, Scalar | list[Scalar]] | None = None
    lifetime_spend: SpendRange | None = None
    dates: list[DateRange] | None = None
    days_of_week: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] | None = None
    hours: Hours | None = None
    birthday: Birthday | None = None
    # the purchase's total before points (min inclusive, max exclusive)
    purchase_amount: SpendRange | None = None
    quantity: QuantityAtLeast | None = None
    promo_code: Annotated[str, Field(pattern=PROMO_CODE)] | None = None


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


class Expires(Strict):
    """A rule's own expiry for the points it awards (rules21b), exactly one of: ``days``
    (to the end of the N-th day after the earning's day), ``months`` (to the end of the
    month N months after the earning's), ``years`` (to the end of the year N years after),
    ``end_of: month|year`` (to the end of the earning's own month or year). Days, months
    and years are the program's time zone's; the program's ``expiry_from`` says whether
    they count from the earning or from the activation."""

    days: int | None = Field(None, ge=1, le=1200, strict=True)
    months: int | None = Field(None, ge=1, le=1200, strict=True)
    years: int | None = Field(None, ge=1, le=100, strict=True)
    end_of: Literal["month", "year"] | None = None

    @model_validator(mode="after")
    def _one_form(self) -> Expires:
        given = [self.days, self.months, self.years, self.end_of]
        if sum(x is not None for x in given) != 1:
            raise ValueError(msg("give exactly one of days, months, years or end_of"))
        return self


class OfferAudience(Strict):
    """Who a personal offer is addressed to: any of everyone, the members listed for it in
    the back office (``listed``), some tiers, some segments. Left out: the listed members."""

    everyone: bool = False
    listed: bool = False
    tiers: list[str] = []
    segments: list[str] = []

    @model_validator(mode="after")
    def _someone(self) -> OfferAudience:
        if not (self.everyone or self.listed or self.tiers or self.segments):
            raise ValueError(
                msg("address the offer to everyone, listed members, tiers or segments")
            )
        return self


class Offer(Strict):
    """A personal offer (``offer:`` on a purchase rule): the rule applies only to its
    audience, on the dates of its window, and, with ``requires_activation``, only once the
    member has activated it (in the portal or the app)."""

    audience: OfferAudience = OfferAudience(listed=True)
    requires_activation: bool = False
    window: DateRange


class RuleBase(Strict):
    id: Annotated[str, Field(pattern=RULE_ID)]
    description: str = Field("", max_length=500)
    visible: bool = True
    priority: int = Field(100, ge=0, le=1_000_000)
    stacking: Literal["stackable", "exclusive"] = "stackable"
    when: Conditions = Conditions()
    limits: Limits = Limits()
    pilot: Pilot | None = None
    expires: Expires | None = None  # rules21b: the rule's points expire so, not by the program
    offer: Offer | None = None  # a personal offer: for its audience and window only
    # a campaign several rules share (a code, like a rule's id): the analytics add up
    # their points and cost; no effect on earning
    campaign: Annotated[str | None, Field(pattern=RULE_ID)] = None


class Rate(Strict):
    """Either ``points`` per whole ``per`` of money, ``percent`` of the amount as points, or
    ``points`` for each unit of a line (``per_unit: true``) times its quantity."""

    points: Points | None = None
    per: PositiveMoney | None = None
    percent: Percent | None = None
    per_unit: bool = False

    @model_validator(mode="after")
    def _one_form(self) -> Rate:
        if self.per_unit:
            if self.points is None or self.per is not None or self.percent is not None:
                raise ValueError(msg("per_unit goes with points alone, not per or percent"))
            return self
        fixed = self.points is not None or self.per is not None
        if fixed and self.percent is not None:
            raise ValueError(msg("give either points+per or percent, not both"))
        if fixed and (self.points is None or self.per is None):
            raise ValueError(msg("points and per go together"))
        if not fixed and self.percent is None:
            raise ValueError(msg("give points+per or percent"))
        return self


class RateRule(RuleBase):
    kind: Literal["rate"]
    rate: Rate
    scope: RuleScope = RuleScope()
    # earn on the part paid with these tenders (or all but these); the points part never earns
    tenders: list[Tender] | NotTenders | None = None

    @field_validator("tenders")
    @classmethod
    def _earning_tenders(
        cls, value: list[Tender] | NotTenders | None
    ) -> list[Tender] | NotTenders | None:
        if isinstance(value, list):
            if not value:
                raise ValueError(msg("list at least one tender"))
            if "points" in value:
                raise ValueError(msg("the part paid with points never earns"))
        return value

    @model_validator(mode="after")
    def _tenders(self) -> RateRule:
        if self.tenders is not None and self.rate.per_unit:
            raise ValueError(msg("tenders: a per_unit rate counts units, not money"))
        return self


class MultiplierRule(RuleBase):
    kind: Literal["multiplier"]
    factor: Annotated[Decimal, Field(gt=1, le=100, allow_inf_nan=False)]
    scope: RuleScope = RuleScope()


class BonusRule(RuleBase):
    """Fixed points for the purchase, spread over its eligible lines; triggers combine (AND)."""

    kind: Literal["bonus"]
    points: Points
    scope: RuleScope = RuleScope()
    min_amount: Money | None = None
    every_nth_purchase: int | None = Field(None, ge=2, le=10_000)
    first_purchase: bool = False


class FavouriteCategoriesRule(RuleBase):
    """Member-chosen favourite categories: each member picks ``choose`` of the ``from``
    categories for a ``period``, and their lines earn the boost: a ``factor`` on the base
    points (a multiplier), or a ``rate`` of their own."""

    kind: Literal["favourite_categories"]
    choose: int = Field(ge=1, le=50, strict=True)
    from_: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        alias="from", min_length=1, max_length=500
    )
    factor: Annotated[Decimal, Field(gt=1, le=100, allow_inf_nan=False)] | None = None
    rate: Rate | None = None
    period: Literal["week", "month"] = "month"

    @model_validator(mode="after")
    def _boost(self) -> FavouriteCategoriesRule:
        if (self.factor is None) == (self.rate is None):
            raise ValueError(msg("give either factor or rate"))
        if len(set(self.from_)) != len(self.from_):
            raise ValueError(msg("a category is listed twice in from"))
        if self.choose > len(self.from_):
            raise ValueError(msg("choose must not exceed the categories listed in from"))
        return self


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


class TierRedemption(Strict):
    """A tier's own limits on paying with points (``redemption.by_tier``): each one given
    replaces the document's for members of that tier."""

    max_points: Points | None = None
    max_percent: Percent | None = None
    max_item_percent: Percent | None = None


TierCode = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]


class Redemption(Strict):
    enabled: bool = True
    point_value: PositiveMoney | None = None
    min_purchase: Money | None = None
    min_points: Points | None = None
    max_points: Points | None = None
    max_percent: Percent | None = None
    max_item_percent: Percent | None = None
    step: Points = 1
    # rules21b: the member needs at least this many points before paying with them
    min_balance: Points | None = None
    exclude: RedemptionExclude = RedemptionExclude()
    # issue 22: limits by the member's tier, e.g. {gold: {max_percent: 70}}
    by_tier: Annotated[dict[TierCode, TierRedemption], Field(max_length=20)] = Field(
        default_factory=dict
    )

    @model_validator(mode="after")
    def _bounds(self) -> Redemption:
        if self.min_points and self.max_points and self.min_points > self.max_points:
            raise ValueError(msg("min_points must not exceed max_points"))
        for own in self.by_tier.values():
            if self.min_points and own.max_points and self.min_points > own.max_points:
                raise ValueError(msg("min_points must not exceed max_points"))
        return self


class PromoCode(Strict):
    """A code a purchase may carry to unlock rules (``when: {promo_code: SPRING}``): valid
    on the dates of ``valid`` (program's time zone), ``per_member`` and ``total`` uses."""

    code: Annotated[str, Field(pattern=PROMO_CODE)]
    description: str = Field("", max_length=500)
    valid: DateRange | None = None
    per_member: int | None = Field(None, ge=1, le=1_000_000_000)
    total: int | None = Field(None, ge=1, le=1_000_000_000)


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
    promo_codes: list[PromoCode] = Field([], max_length=1000)
    tiers: Any = None  # checked by domain/rules/tiers_section.py
    categories: Any = None  # checked by domain/rules/categories.py


RULE_MODELS: dict[str, type[RuleBase]] = {
    "rate": RateRule,
    "multiplier": MultiplierRule,
    "bonus": BonusRule,
    "event": EventRule,
    "favourite_categories": FavouriteCategoriesRule,
}
