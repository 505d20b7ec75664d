"""The compiled rule set: plain, immutable objects the evaluators read in the hot path.

Built once by :func:`kopilka.domain.rules.document.parse_ruleset`; no pydantic here. Rules of
each stage are stored already sorted by ``(priority, id)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

# imported at run time, not only for type checking: compiled (mypyc), ``plan: Plan`` below makes
# the module put the native class Plan in the dataclass's annotations while it starts, and a
# class of a module not yet started is a null pointer there (the import crashed). plan.py
# imports nothing of this module (it is built from the set's fields), so there is no cycle.
from kopilka.domain.expiry import ExpiryPolicy
from kopilka.domain.rules.offers import FavouriteSpec, OfferSpec
from kopilka.domain.rules.plan import Plan

# re-exported: the rules and what they are made of were defined here before rule.py
from kopilka.domain.rules.rule import (
    BONUS,
    EVENT,
    MULTIPLIER,
    NO_CONDITIONS,
    RATE,
    Matcher,
    Rule,
)

__all__ = [
    "BONUS",
    "EVENT",
    "MULTIPLIER",
    "NO_CONDITIONS",
    "RATE",
    "Matcher",
    "PromoCodeSpec",
    "RedemptionPolicy",
    "Rule",
    "RuleSet",
]


@dataclass(frozen=True, slots=True)
class RedemptionPolicy:
    """How points pay for a purchase; money in minor units, ``None`` means no such limit."""

    enabled: bool = True
    point_value_minor: int | None = None  # None: the program's point value
    min_purchase_minor: int = 0
    min_points: int = 0
    max_points: int | None = None
    max_percent: Decimal | None = None
    max_item_percent: Decimal | None = None
    step: int = 1
    min_balance: int = 0  # the member's available points needed to start paying with them
    exclude: Matcher = Matcher()  # noqa: RUF009 (frozen: one shared default is safe)
    exclude_discounted: bool = False
    # the whole policy of each tier with limits of its own (``redemption.by_tier``)
    by_tier: tuple[tuple[str, RedemptionPolicy], ...] = ()

    def for_tier(self, tier: str | None) -> RedemptionPolicy:
        """The policy for a member of ``tier``: the tier's own limits where the document
        gives them, else this one."""
        for code, policy in self.by_tier:
            if code == tier:
                return policy
        return self


@dataclass(frozen=True, slots=True)
class PromoCodeSpec:
    """A promo code of the document: its dates (inclusive, program's time zone; ``None``:
    open) and its limits of uses per member and in total (``None``: no limit)."""

    code: str
    description: str = ""
    first_day: date | None = None
    last_day: date | None = None
    per_member: int | None = None
    total: int | None = None


@dataclass(frozen=True, slots=True)
class RuleSet:
    """A published version of a program's earning and redemption rules."""

    version: int
    currency: str
    no_points_on_discounted: bool
    exclude: Matcher
    rules: tuple[Rule, ...]  # all rules, sorted by (priority, id)
    rates: tuple[Rule, ...]
    multipliers: tuple[Rule, ...]
    bonuses: tuple[Rule, ...]
    events: Mapping[str, tuple[Rule, ...]]
    redemption: RedemptionPolicy
    # ("category"|"sku"|"brand"|"tag", value) -> ids of scoped purchase rules listing it
    scope_index: Mapping[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)
    # the document's promo codes by code
    promo_codes: Mapping[str, PromoCodeSpec] = field(default_factory=dict)
    # personal offers (rules with ``offer:``) and favourite categories rules, by rule id
    offers: Mapping[str, OfferSpec] = field(default_factory=dict)
    favourites: Mapping[str, FavouriteSpec] = field(default_factory=dict)
    # category code -> its names for members ({"ru": ..., "en": ...}); display only, the
    # evaluation never reads it (``categories:``, domain/rules/categories.py)
    category_names: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    # the stages precompiled for evaluation, derived from the fields above
    plan: Plan = field(init=False, repr=False, compare=False)
    # rule id -> the rule's own expiry, for the rules that have one (rules21b)
    expiries: Mapping[str, ExpiryPolicy] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        plan = Plan(
            self.version,
            self.rates,
            self.multipliers,
            self.bonuses,
            self.exclude,
            self.no_points_on_discounted,
            offers=frozenset(self.offers),
            favourites=frozenset(self.favourites),
        )
        object.__setattr__(self, "plan", plan)
        expiries = {r.id: r.expiry for r in self.rules if r.expiry is not None}
        object.__setattr__(self, "expiries", expiries)

    def rule(self, rule_id: str) -> Rule:
        """The rule with this id (KeyError when there is none)."""
        for candidate in self.rules:
            if candidate.id == rule_id:
                return candidate
        raise KeyError(rule_id)
