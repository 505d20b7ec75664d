"""A rule set precompiled for the purchase hot path: one :class:`Step` per rule, and indexes.

Built once per :class:`~kopilka.domain.rules.model.RuleSet` (it is the set's ``plan``), so an
evaluation only reads precomputed values: each rule's conditions with its pilot stores folded
in, whether it is capped or piloted, its percent or factor as an exact fraction (see
:mod:`kopilka.domain.rules.exact`), and which rules list each category, SKU, brand and tag.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from itertools import repeat
from typing import TYPE_CHECKING, NamedTuple

from kopilka.domain.basket import BasketLine
from kopilka.domain.errors import ValidationError
from kopilka.domain.rules.conditions import Predicate
from kopilka.domain.rules.exact import ratio

if TYPE_CHECKING:
    from kopilka.domain.rules.model import Rule, RuleSet

FACETS = ("category", "sku", "brand", "tag")


def scope_index(rules: Iterable[Rule]) -> dict[tuple[str, str], tuple[str, ...]]:
    """Which scoped purchase rules list each category, SKU, brand and tag."""
    index: dict[tuple[str, str], list[str]] = {}
    for rule in rules:
        if rule.kind == "event" or rule.scope.everything:
            continue
        scope = rule.scope
        for facet, values in zip(
            FACETS, (scope.categories, scope.skus, scope.brands, scope.tags), strict=True
        ):
            for value in values:
                index.setdefault((facet, value), []).append(rule.id)
    return {key: tuple(ids) for key, ids in index.items()}


class _Same(NamedTuple):
    """Endless repeats of one rule's award fields: zipped with its lines and points, they give
    the rows of its awards without a Python loop (a repeat never runs out, so one is shared)."""

    id: repeat[str]
    version: repeat[int]
    description: repeat[str]
    visible: repeat[bool]


class Step:
    """One purchase rule as the evaluator reads it; ``key`` numbers the scoped rules."""

    __slots__ = (
        "capped",
        "check",
        "description",
        "every_nth_purchase",
        "everything",
        "exclusive",
        "extra",
        "extra_fraction",
        "first_purchase",
        "guarded",
        "id",
        "key",
        "min_amount_minor",
        "per_minor",
        "percent",
        "percent_fraction",
        "pilot_share",
        "points",
        "rule",
        "same",
        "version",
        "visible",
    )

    def __init__(self, rule: Rule, key: int, version: int) -> None:
        self.rule = rule
        self.id, self.description, self.visible = rule.id, rule.description, rule.visible
        self.version = version
        self.same = _Same(
            repeat(rule.id), repeat(version), repeat(rule.description), repeat(rule.visible)
        )
        self.exclusive = rule.exclusive
        checks: list[Predicate] = list(rule.checks)
        if rule.pilot_stores is not None:
            stores = rule.pilot_stores
            checks.append(lambda f: f.store in stores)
        self.check = all_of(checks)
        self.everything = rule.scope.everything
        self.key = key
        self.capped = rule.capped
        self.pilot_share = rule.pilot_share
        self.guarded = self.capped or rule.pilot_share is not None
        self.points, self.per_minor = rule.points, rule.per_minor
        self.percent = rule.percent
        self.percent_fraction = ratio(rule.percent) if rule.percent is not None else None
        self.extra: Decimal | None = None
        self.extra_fraction: tuple[int, int] | None = None
        if rule.factor is not None:
            self.extra = rule.factor - 1
            self.extra_fraction = ratio(self.extra)
        self.min_amount_minor = rule.min_amount_minor
        self.every_nth_purchase = rule.every_nth_purchase
        self.first_purchase = rule.first_purchase


def all_of(checks: Sequence[Predicate]) -> Predicate | None:
    """One predicate for all of ``checks`` (``None`` when there are none): most rules have one
    or two conditions, so the evaluator makes one call per rule instead of looping."""
    if not checks:
        return None
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:
        first, second = checks
        return lambda f: first(f) and second(f)
    every = tuple(checks)
    return lambda f: all(check(f) for check in every)


class Plan:
    """The purchase stages of a rule set as steps, with the indexes an evaluation needs."""

    __slots__ = (
        "bonuses",
        "by_brand",
        "by_category",
        "by_sku",
        "by_tag",
        "exclude",
        "multipliers",
        "no_points_on_discounted",
        "rates",
    )

    def __init__(self, ruleset: RuleSet) -> None:
        keys: dict[str, int] = {}
        for rule in (*ruleset.rates, *ruleset.multipliers, *ruleset.bonuses):
            if not rule.scope.everything:
                keys[rule.id] = len(keys)
        version = ruleset.version
        self.rates = tuple(Step(r, keys.get(r.id, -1), version) for r in ruleset.rates)
        self.multipliers = tuple(Step(r, keys.get(r.id, -1), version) for r in ruleset.multipliers)
        self.bonuses = tuple(Step(r, keys.get(r.id, -1), version) for r in ruleset.bonuses)
        by_facet: dict[str, dict[str, tuple[int, ...]]] = {facet: {} for facet in FACETS}
        for (facet, value), ids in scope_index(ruleset.rules).items():
            by_facet[facet][value] = tuple(keys[i] for i in ids)
        self.by_category, self.by_sku = by_facet["category"], by_facet["sku"]
        self.by_brand, self.by_tag = by_facet["brand"], by_facet["tag"]
        self.exclude = None if ruleset.exclude.everything else ruleset.exclude
        self.no_points_on_discounted = ruleset.no_points_on_discounted

    def bases(self, lines: Sequence[BasketLine], discounts: Mapping[str, int]) -> list[int]:
        """Each line's amount that can earn points: net of points paid, zero when excluded."""
        if discounts:
            return self._bases_net_of(lines, discounts)
        exclude, no_discounted = self.exclude, self.no_points_on_discounted
        if exclude is None and not no_discounted:
            return [line.amount_minor for line in lines]
        return [
            0
            if (no_discounted and line.discounted)
            or (exclude is not None and exclude.matches(line))
            else line.amount_minor
            for line in lines
        ]

    def _bases_net_of(self, lines: Sequence[BasketLine], discounts: Mapping[str, int]) -> list[int]:
        known = {line.line_id for line in lines}
        unknown = sorted(set(discounts) - known)
        if unknown:
            raise ValidationError(f"points discount for unknown line {unknown[0]!r}", field="lines")
        bases: list[int] = []
        exclude, no_discounted = self.exclude, self.no_points_on_discounted
        for line in lines:
            paid = discounts.get(line.line_id, 0)
            if not 0 <= paid <= line.amount_minor:
                raise ValidationError(
                    "points discount must be between 0 and the line amount",
                    field="points_discount",
                    line=line.line_id,
                )
            if (no_discounted and line.discounted) or (
                exclude is not None and exclude.matches(line)
            ):
                bases.append(0)
            else:
                bases.append(line.amount_minor - paid)
        return bases

    def scoped(self, lines: Sequence[BasketLine], earning: Sequence[int]) -> dict[int, list[int]]:
        """For each scoped step's key, the positions of the lines its scope lists, ascending,
        among the ``earning`` positions (lines with no base take no rule's points)."""
        found: dict[int, list[int]] = {}
        by_category, by_sku, by_brand, by_tag = (
            self.by_category,
            self.by_sku,
            self.by_brand,
            self.by_tag,
        )
        for i in earning:
            line = lines[i]
            keys = (
                by_category.get(line.category, ())
                + by_sku.get(line.sku, ())
                + by_brand.get(line.brand, ())
            )
            if by_tag and line.tags:
                for tag in line.tags:
                    keys += by_tag.get(tag, ())
            for key in keys:
                positions = found.get(key)
                if positions is None:
                    found[key] = [i]
                elif positions[-1] != i:
                    positions.append(i)
        return found
