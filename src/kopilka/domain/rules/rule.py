"""One compiled rule and what it is built of: its kind, its scope (:class:`Matcher`), its
conditions. Read by the rule set (:mod:`kopilka.domain.rules.model`) and by its precompiled
plan (:mod:`kopilka.domain.rules.plan`), which imports only this module of the two: the plan
is built from a set's fields, not from the set, so the two modules do not import each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from kopilka.domain.basket import BasketLine
from kopilka.domain.rules.conditions import Gate, Predicate

RATE, MULTIPLIER, BONUS, EVENT = "rate", "multiplier", "bonus", "event"
NO_CONDITIONS = Gate()


@dataclass(frozen=True, slots=True)
class Matcher:
    """Lines matching any listed category, SKU, brand or tag; with nothing listed, every line.
    The ``not_`` lists (a rule's ``{not: [...]}``) then take out the lines they name."""

    categories: frozenset[str] = frozenset()
    skus: frozenset[str] = frozenset()
    brands: frozenset[str] = frozenset()
    tags: frozenset[str] = frozenset()
    not_categories: frozenset[str] = frozenset()
    not_skus: frozenset[str] = frozenset()
    not_brands: frozenset[str] = frozenset()
    not_tags: frozenset[str] = frozenset()
    # derived once, read on every line: whether nothing is listed
    everything: bool = field(init=False, repr=False, compare=False)
    # whether no positive list is given (every line, less the ``not_`` ones)
    open: bool = field(init=False, repr=False, compare=False)
    negated: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        opened = not (self.categories or self.skus or self.brands or self.tags)
        negated = bool(self.not_categories or self.not_skus or self.not_brands or self.not_tags)
        object.__setattr__(self, "open", opened)
        object.__setattr__(self, "negated", negated)
        object.__setattr__(self, "everything", opened and not negated)

    def matches(self, line: BasketLine) -> bool:
        """Whether the line is in scope (an empty matcher takes every line)."""
        if self.everything:
            return True
        if self.negated and (
            line.category in self.not_categories
            or line.sku in self.not_skus
            or line.brand in self.not_brands
            or not self.not_tags.isdisjoint(line.tags)
        ):
            return False
        return (
            self.open
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
    # rate: ``points`` per whole ``per_minor``, or ``percent``, or ``points`` per unit
    points: int = 0
    per_minor: int = 0
    percent: Decimal | None = None
    per_unit: bool = False
    # rate: earn only on the part paid with ``tenders`` (all but them when ``not_tenders``)
    tenders: frozenset[str] | None = None
    not_tenders: bool = False
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
