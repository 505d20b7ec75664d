"""The compiled rule set: plain, immutable objects the evaluators read in the hot path.

Built once by :func:`kopilka.domain.rules.document.parse_ruleset`; no pydantic here. Rules of
each stage are stored already sorted by ``(priority, id)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from kopilka.domain.basket import BasketLine
from kopilka.domain.rules.conditions import Gate, Predicate

# imported at run time, not only for type checking: compiled (mypyc), ``plan: Plan`` below makes
# the module put the native class Plan in the dataclass's annotations while it starts, and a
# class of a module not yet started is a null pointer there (the import crashed). plan.py
# imports nothing of this module at run time, so there is no cycle.
from kopilka.domain.rules.plan import Plan

RATE, MULTIPLIER, BONUS, EVENT = "rate", "multiplier", "bonus", "event"
NO_CONDITIONS = Gate()


@dataclass(frozen=True, slots=True)
class Matcher:
    """Lines matching any listed category, SKU, brand or tag; with nothing listed, every line."""

    categories: frozenset[str] = frozenset()
    skus: frozenset[str] = frozenset()
    brands: frozenset[str] = frozenset()
    tags: frozenset[str] = frozenset()
    # derived once, read on every line: whether nothing is listed
    everything: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        everything = not (self.categories or self.skus or self.brands or self.tags)
        object.__setattr__(self, "everything", everything)

    def matches(self, line: BasketLine) -> bool:
        """Whether the line is in scope (an empty matcher takes every line)."""
        return (
            self.everything
            or line.category in self.categories
            or line.sku in self.skus
            or line.brand in self.brands
            or (bool(self.tags) and not self.tags.isdisjoint(line.tags))
        )

    def hits(self, line: BasketLine) -> bool:
        """Whether the line is explicitly listed (an empty matcher takes nothing)."""
        return not self.everything and self.matches(line)


@dataclass(frozen=True, slots=True)
class Rule:
    """One compiled rule of any kind; fields that do not belong to its kind keep defaults."""

    id: str
    kind: str
    description: str
    visible: bool
    priority: int
    exclusive: bool
    checks: tuple[Predicate, ...]
    scope: Matcher
    per_purchase: int | None = None
    per_member_day: int | None = None
    per_member_month: int | None = None
    budget: int | None = None
    pilot_stores: frozenset[str] | None = None
    pilot_share: int | None = None  # buckets out of 10,000
    # rate: ``points`` per whole ``per_minor``, or ``percent``
    points: int = 0
    per_minor: int = 0
    percent: Decimal | None = None
    # multiplier
    factor: Decimal | None = None
    # bonus (``points`` above is the bonus)
    min_amount_minor: int | None = None
    every_nth_purchase: int | None = None
    first_purchase: bool = False
    # event (``points`` above is the award)
    event: str = ""
    match: tuple[tuple[str, object], ...] = ()
    limit_count: int | None = None
    limit_period: str = "lifetime"
    # the conditions of ``checks`` grouped by fact, for the purchase plan
    gate: Gate = NO_CONDITIONS

    @property
    def capped(self) -> bool:
        return (
            self.per_purchase is not None
            or self.per_member_day is not None
            or self.per_member_month is not None
            or self.budget is not None
        )


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
    exclude: Matcher = Matcher()
    exclude_discounted: bool = False


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
    # the stages precompiled for evaluation, derived from the fields above
    plan: Plan = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "plan", Plan(self))

    def rule(self, rule_id: str) -> Rule:
        """The rule with this id (KeyError when there is none)."""
        for candidate in self.rules:
            if candidate.id == rule_id:
                return candidate
        raise KeyError(rule_id)
