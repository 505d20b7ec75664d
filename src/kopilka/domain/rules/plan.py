"""A rule set precompiled for the purchase hot path: one :class:`Step` per rule, as bits.

Built once per :class:`~kopilka.domain.rules.model.RuleSet` (it is the set's ``plan``), from
the set's fields (its version, its rates, multipliers and bonuses, and its exclusions), so this
module knows rules (:mod:`kopilka.domain.rules.rule`) but not rule sets. Every
purchase rule is one bit of an integer, numbered in evaluation order (rates, then multipliers,
then bonuses, each by ``(priority, id)``), so a whole set of rules is one ``int`` and "which
rules may apply to this basket" is a handful of ``&`` and ``|`` instead of a call per rule:

- **scope**: which scoped rules list each category, SKU, brand and tag (a line's rules are the
  ``|`` of its four lookups; rules with no scope take every line);
- **conditions**: each kind of fact (local date, local minute, store, channel, partner, payment
  method, tier, segments) is tested once per distinct value for all rules together, and the
  answer, the set of rules it lets through, is remembered per value (a bounded memo), so a
  basket costs one dict lookup per kind of fact the document uses; the few conditions on
  member attributes, lifetime spend and birthday are tested per basket for the rules still in
  play (:meth:`Plan.residual`);
- **triggers**: which bonuses the member's purchase count lets through (first purchase, every
  n-th purchase), remembered per count.

Each step keeps its precomputed values: whether it is capped or piloted, its percent or factor
as an exact fraction (see :mod:`kopilka.domain.rules.exact`), and endless repeats of its award
fields. The memos only remember pure functions of the rule set, so sharing a plan between
threads is safe (a lost insertion is just recomputed).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping
from datetime import date
from decimal import Decimal
from itertools import repeat
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from kopilka.domain.basket import Basket, BasketLine
from kopilka.domain.errors import ValidationError
from kopilka.domain.rules.conditions import birthday_distance
from kopilka.domain.rules.context import MemberContext
from kopilka.domain.rules.exact import ratio
from kopilka.domain.rules.rule import Matcher, Rule

if TYPE_CHECKING:
    from kopilka.domain.rules.conditions import Gate

FACETS = ("category", "sku", "brand", "tag")
MEMO_LIMIT = 4096  # distinct values remembered per kind of fact before the memo starts over

Test = tuple[int, Callable[[Any], bool]]  # a rule's bit, and its test of one fact


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


class Step:
    """One purchase rule as the evaluator reads it; ``bit`` is its place in evaluation order."""

    __slots__ = (
        "bit",
        "capped",
        "description",
        "descriptions",
        "everything",
        "exclusive",
        "extra",
        "extra_fraction",
        "guarded",
        "id",
        "ids",
        "min_amount_minor",
        "not_tenders",
        "per_minor",
        "percent",
        "percent_fraction",
        "pilot_share",
        "place",
        "points",
        "rule",
        "special",
        "tenders",
        "version",
        "versions",
        "visible",
        "visibles",
    )

    def __init__(self, rule: Rule, bit: int, version: int) -> None:
        self.rule = rule
        self.bit = bit
        self.place = bit.bit_length() - 1  # its index in evaluation order: bit == 1 << place
        self.id, self.description, self.visible = rule.id, rule.description, rule.visible
        self.version = version
        # endless repeats of the award fields: zipped with its lines and points, they give the
        # rows of its awards without a Python loop (a repeat never runs out, so they are shared)
        self.ids, self.versions = repeat(rule.id), repeat(version)
        self.descriptions, self.visibles = repeat(rule.description), repeat(rule.visible)
        self.exclusive = rule.exclusive
        self.everything = rule.scope.everything
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
        self.tenders = rule.tenders
        self.not_tenders = rule.not_tenders
        # 0: a rate on the lines' bases; 1: points per unit; 2: on the part paid by tenders
        self.special = 1 if rule.per_unit else 2 if rule.tenders is not None else 0


def _within(
    values: frozenset[str] | None, pilot: frozenset[str] | None, negated: bool = False
) -> Callable[[Any], bool]:
    """The test of a store (or other fact) against a condition and a pilot's stores; a
    ``negated`` condition holds for every value but those listed."""
    if negated:
        assert values is not None
        if pilot is None:
            return lambda value: value not in values
        return lambda value: value not in values and value in pilot
    if pilot is None:
        assert values is not None
        return values.__contains__
    if values is None:
        return pilot.__contains__
    return lambda value: value in values and value in pilot


def _overlaps(values: frozenset[str], negated: bool = False) -> Callable[[Any], bool]:
    if negated:
        return values.isdisjoint
    return lambda segments: not values.isdisjoint(segments)


def _promo(code: str) -> Callable[[Any], bool]:
    return lambda codes: code in codes


def _member_test(gate: Gate) -> Callable[[MemberContext, tuple[int, int] | None], bool]:
    """The test of a gate's member attribute, lifetime spend and birthday conditions, given
    the member and the birthday distance (``None``: no birthday); the common single
    conditions get a test of their own."""
    if gate.member is None and gate.birthday is None and gate.lifetime_spend is not None:
        low, high = gate.lifetime_spend
        if high is None:
            return lambda member, days: member.lifetime_spend_minor >= low
        return lambda member, days: low <= member.lifetime_spend_minor < high
    if gate.member is None and gate.lifetime_spend is None and gate.birthday is not None:
        before, after = gate.birthday
        return lambda member, days: days is not None and (days[0] <= after or days[1] <= before)
    return lambda member, days: (
        gate.member_holds(member.attributes, member.lifetime_spend_minor)
        and gate.birthday_holds(days)
    )


class Plan:
    """The purchase stages of a rule set as bits, with the indexes and memos an evaluation
    needs (see the module doc)."""

    __slots__ = (
        "all_bits",
        "basket_bits",
        "basket_tests",
        "birthday_bits",
        "bonus_bits",
        "by_brand",
        "by_category",
        "by_sku",
        "by_tag",
        "everything",
        "exclude",
        "exclude_brands",
        "exclude_categories",
        "exclude_skus",
        "exclude_tags",
        "favourite_bit_of",
        "favourite_bits",
        "favourite_steps",
        "memos",
        "multiplier_bits",
        "negated",
        "no_points_on_discounted",
        "not_by_brand",
        "not_by_category",
        "not_by_sku",
        "not_by_tag",
        "offer_bit_of",
        "offer_bits",
        "open_negated",
        "rate_bits",
        "residual_bits",
        "residual_tests",
        "scoped",
        "singles",
        "steps",
        "steps_in_order",
        "tender_bits",
        "tests",
        "trigger_bits",
        "trigger_steps",
        "unit_bits",
        "used",
        "zones",
    )

    def __init__(
        self,
        version: int,
        rates: tuple[Rule, ...],
        multipliers: tuple[Rule, ...],
        bonuses: tuple[Rule, ...],
        exclude: Matcher,
        no_points_on_discounted: bool,
        *,
        offers: frozenset[str] = frozenset(),
        favourites: frozenset[str] = frozenset(),
    ) -> None:
        """The plan of a rule set's purchase stages: ``rates``, ``multipliers`` and
        ``bonuses`` each sorted by ``(priority, id)``, the lines ``exclude`` takes out of
        earning, whether discounted lines earn nothing, and the ids of the personal offers
        and of the favourite categories rules (each applies only to the members the
        caller says: ``MemberContext.offers``, ``MemberContext.favourites``)."""
        ordered = (*rates, *multipliers, *bonuses)
        steps = [Step(rule, 1 << n, version) for n, rule in enumerate(ordered)]
        self.steps = {step.bit: step for step in steps}
        # the same, by place: the step of ``bit`` is ``steps_in_order[bit.bit_length() - 1]``
        # (compiled, that is a machine instruction and a list read; a dict lookup by an int
        # needs the int as an object)
        self.steps_in_order = steps
        self.all_bits = (1 << len(steps)) - 1

        def bits(chosen: Iterable[Step]) -> int:
            mask = 0
            for step in chosen:
                mask |= step.bit
            return mask

        rated = len(rates)
        multiplied = rated + len(multipliers)
        self.rate_bits = bits(steps[:rated])
        self.multiplier_bits = bits(steps[rated:multiplied])
        self.bonus_bits = bits(steps[multiplied:])
        self.everything = bits(step for step in steps if step.everything)
        self.scoped = self.all_bits & ~self.everything
        by_facet: dict[str, dict[str, int]] = {facet: {} for facet in FACETS}
        for step in steps:
            scope = step.rule.scope
            for facet, values in zip(
                FACETS, (scope.categories, scope.skus, scope.brands, scope.tags), strict=True
            ):
                index = by_facet[facet]
                for value in values:
                    index[value] = index.get(value, 0) | step.bit
        self.by_category, self.by_sku = by_facet["category"], by_facet["sku"]
        self.by_brand, self.by_tag = by_facet["brand"], by_facet["tag"]
        # scopes with ``{not: [...]}`` lists: the rules each value takes its lines out of,
        # and the negated rules with no positive list (every line but the named ones)
        not_by_facet: dict[str, dict[str, int]] = {facet: {} for facet in FACETS}
        for step in steps:
            scope = step.rule.scope
            lists = (scope.not_categories, scope.not_skus, scope.not_brands, scope.not_tags)
            for facet, values in zip(FACETS, lists, strict=True):
                index = not_by_facet[facet]
                for value in values:
                    index[value] = index.get(value, 0) | step.bit
        self.negated = bits(step for step in steps if step.rule.scope.negated)
        self.open_negated = bits(
            step for step in steps if step.rule.scope.negated and step.rule.scope.open
        )
        self.not_by_category, self.not_by_sku = not_by_facet["category"], not_by_facet["sku"]
        self.not_by_brand, self.not_by_tag = not_by_facet["brand"], not_by_facet["tag"]
        # personal offers and favourite categories: rules only some members get
        self.offer_bit_of = {step.id: step.bit for step in steps if step.id in offers}
        self.offer_bits = bits(step for step in steps if step.id in offers)
        self.favourite_bit_of = {step.id: step.bit for step in steps if step.id in favourites}
        self.favourite_bits = bits(step for step in steps if step.id in favourites)
        self.favourite_steps = tuple((step.bit, step.id) for step in steps if step.id in favourites)
        self.unit_bits = bits(step for step in steps if step.special == 1)
        self.tender_bits = bits(step for step in steps if step.special == 2)

        self.exclude = None if exclude.everything else exclude
        self.exclude_categories = exclude.categories
        self.exclude_skus = exclude.skus
        self.exclude_brands = exclude.brands
        self.exclude_tags = exclude.tags
        self.no_points_on_discounted = no_points_on_discounted

        # conditions, one tuple of tests per kind of fact (see ``live``)
        kinds: dict[str, list[Test]] = {
            kind: []
            for kind in (
                "date",
                "minute",
                "store",
                "channel",
                "partner",
                "payment_method",
                "tier",
                "segments",
                "promo",
            )
        }
        residual: list[tuple[int, Callable[[MemberContext, tuple[int, int] | None], bool]]] = []
        for step in steps:
            gate, bit = step.rule.gate, step.bit
            if gate.dates is not None or gate.weekdays is not None:
                kinds["date"].append((bit, gate.date_holds))
            if gate.hours is not None:
                kinds["minute"].append((bit, gate.hours_hold))
            negated = gate.negated
            if gate.stores is not None or step.rule.pilot_stores is not None:
                kinds["store"].append(
                    (bit, _within(gate.stores, step.rule.pilot_stores, "stores" in negated))
                )
            facts: tuple[tuple[str, str, frozenset[str] | None], ...] = (
                ("channel", "channels", gate.channels),
                ("partner", "partners", gate.partners),
                ("payment_method", "payment_methods", gate.payment_methods),
                ("tier", "tiers", gate.tiers),
            )
            for kind, name, allowed in facts:
                if allowed is not None:
                    kinds[kind].append((bit, _within(allowed, None, name in negated)))
            if gate.segments is not None:
                kinds["segments"].append((bit, _overlaps(gate.segments, "segments" in negated)))
            if gate.promo_code is not None:
                kinds["promo"].append((bit, _promo(gate.promo_code)))
            if not (gate.birthday is None and gate.member is None and gate.lifetime_spend is None):
                residual.append((bit, _member_test(gate)))
        self.tests = {kind: tuple(tests) for kind, tests in kinds.items()}
        self.used = tuple(bool(tests) for tests in kinds.values())  # in the order of ``live``
        self.memos: dict[str, dict[Hashable, int]] = {kind: {} for kind in (*kinds, "count")}
        self.residual_tests = tuple(residual)
        self.basket_tests = tuple(
            (step.bit, step.rule.gate) for step in steps if step.rule.gate.on_basket
        )
        self.basket_bits = bits(self.steps[bit] for bit, _ in self.basket_tests)
        self.residual_bits = bits(self.steps[bit] for bit, _ in residual)
        self.birthday_bits = bits(step for step in steps if step.rule.gate.birthday is not None)
        self.singles: dict[int, tuple[int, ...]] = {}
        self.trigger_steps = tuple(
            step
            for step in steps[multiplied:]
            if step.rule.first_purchase or step.rule.every_nth_purchase is not None
        )
        self.trigger_bits = bits(self.trigger_steps)
        self.zones: dict[str, ZoneInfo] = {}

    # --- per basket -------------------------------------------------------------------------

    def bases(self, lines: list[BasketLine], discounts: Mapping[str, int]) -> list[int]:
        """Each line's amount that can earn points: net of points paid, zero when excluded."""
        if discounts:
            return self._bases_net_of(lines, discounts)
        no_discounted = self.no_points_on_discounted
        if self.exclude is None:
            if not no_discounted:
                return [line.amount_minor for line in lines]
            return [0 if line.discounted else line.amount_minor for line in lines]
        categories, skus = self.exclude_categories, self.exclude_skus
        brands, tags = self.exclude_brands, self.exclude_tags
        return [
            0
            if (no_discounted and line.discounted)
            or line.category in categories
            or line.sku in skus
            or line.brand in brands
            or (tags and not tags.isdisjoint(line.tags))
            else line.amount_minor
            for line in lines
        ]

    def _bases_net_of(self, lines: list[BasketLine], discounts: Mapping[str, int]) -> list[int]:
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

    def listed(self, lines: list[BasketLine]) -> list[int]:
        """For each line, the scoped rules that list it (as bits)."""
        by_category, by_sku, by_brand = self.by_category, self.by_sku, self.by_brand
        found = [
            by_category.get(line.category, 0)
            | by_sku.get(line.sku, 0)
            | by_brand.get(line.brand, 0)
            for line in lines
        ]
        by_tag = self.by_tag
        if by_tag:
            for n, line in enumerate(lines):
                if line.tags:
                    for tag in line.tags:
                        found[n] |= by_tag.get(tag, 0)
        if self.negated:
            self._unlist(lines, found)
        return found

    def _unlist(self, lines: list[BasketLine], found: list[int]) -> None:
        """Apply the ``{not: [...]}`` scope lists to ``found``: a negated rule with no
        positive list takes every line, and no rule keeps a line its ``not`` lists name."""
        opened = self.open_negated
        by_category, by_sku, by_brand = self.not_by_category, self.not_by_sku, self.not_by_brand
        by_tag = self.not_by_tag
        for n, line in enumerate(lines):
            off = (
                by_category.get(line.category, 0)
                | by_sku.get(line.sku, 0)
                | by_brand.get(line.brand, 0)
            )
            if by_tag and line.tags:
                for tag in line.tags:
                    off |= by_tag.get(tag, 0)
            found[n] = (found[n] | opened) & ~off

    def zone(self, name: str) -> ZoneInfo:
        """The program's time zone (remembered by name)."""
        zone = self.zones.get(name)
        if zone is None:
            zone = self.zones[name] = ZoneInfo(name)
        return zone

    def live(self, local_date: date, minute: int, basket: Basket, member: MemberContext) -> int:
        """The rules whose conditions on the date, time, store, channel, partner, payment
        method, tier and segments hold (the rest of the conditions: :meth:`residual`)."""
        ok = self.all_bits
        memos, used = self.memos, self.used
        # one remembered answer per kind of fact the document uses (written out: hot path)
        if used[0]:
            mask = memos["date"].get(local_date)
            ok &= self._mask("date", local_date) if mask is None else mask
        if used[1]:
            mask = memos["minute"].get(minute)
            ok &= self._mask("minute", minute) if mask is None else mask
        if used[2]:
            mask = memos["store"].get(basket.store)
            ok &= self._mask("store", basket.store) if mask is None else mask
        if used[3]:
            mask = memos["channel"].get(basket.channel)
            ok &= self._mask("channel", basket.channel) if mask is None else mask
        if used[4]:
            mask = memos["partner"].get(basket.partner)
            ok &= self._mask("partner", basket.partner) if mask is None else mask
        if used[5]:
            mask = memos["payment_method"].get(basket.payment_method)
            ok &= self._mask("payment_method", basket.payment_method) if mask is None else mask
        if used[6]:
            mask = memos["tier"].get(member.tier)
            ok &= self._mask("tier", member.tier) if mask is None else mask
        if used[7]:
            segments = member.segments
            mask = memos["segments"].get(segments) if type(segments) is frozenset else None
            ok &= self._mask("segments", segments) if mask is None else mask
        if used[8]:
            codes = basket.promo_codes
            mask = memos["promo"].get(codes)
            ok &= self._mask("promo", codes) if mask is None else mask
        if self.offer_bits:
            # an offer applies only when the caller found it in force for the member
            granted = 0
            for rule_id in member.offers:
                granted |= self.offer_bit_of.get(rule_id, 0)
            ok &= ~(self.offer_bits & ~granted)
        if self.favourite_bits:
            # a favourite categories rule only for a member who chose categories of it
            chosen = 0
            for rule_id, categories in member.favourites.items():
                if categories:
                    chosen |= self.favourite_bit_of.get(rule_id, 0)
            ok &= ~(self.favourite_bits & ~chosen)
        return ok

    def unchosen(
        self,
        lines: list[BasketLine],
        listed: list[int],
        live: int,
        favourites: Mapping[str, frozenset[str]],
    ) -> None:
        """Take the live favourite categories rules off the lines (in ``listed``, as from
        :meth:`listed`) whose category the member did not choose for them."""
        for bit, rule_id in self.favourite_steps:
            if not live & bit:
                continue
            chosen = favourites.get(rule_id, frozenset())
            for n, line in enumerate(lines):
                if listed[n] & bit and line.category not in chosen:
                    listed[n] ^= bit

    def basket(self, live: int, lines: tuple[BasketLine, ...]) -> int:
        """``live`` without the rules whose purchase amount or quantity conditions fail
        (the amount is the basket's total before points)."""
        total = 0
        for line in lines:
            total += line.amount_minor
        for bit, gate in self.basket_tests:
            if live & bit and not gate.basket_holds(lines, total):
                live ^= bit
        return live

    def _mask(self, kind: str, value: Hashable) -> int:
        """The rules that ``value`` of a kind of fact lets through, remembered per value."""
        memo = self.memos[kind]
        try:
            mask = memo.get(value)
        except TypeError:  # an unhashable value (e.g. a set of segments): not remembered
            memo, mask = {}, None
        if mask is None:
            mask = self.all_bits
            for bit, test in self.tests[kind]:
                if not test(value):
                    mask ^= bit
            if len(memo) >= MEMO_LIMIT:
                memo.clear()
            memo[value] = mask
        return mask

    def residual(self, live: int, member: MemberContext, local_date: date) -> int:
        """``live`` without the rules whose member attribute, lifetime spend or birthday
        conditions fail."""
        days = None
        if live & self.birthday_bits and member.birthday is not None:
            days = birthday_distance(local_date, member.birthday)
        for bit, test in self.residual_tests:
            if live & bit and not test(member, days):
                live ^= bit
        return live

    def positions(self, listed: list[int], live: int) -> dict[int, list[int]]:
        """For each live scoped rule, by its place (``Step.place``, a small int: no int object
        made to look it up), the positions of the lines that list it, ascending."""
        found: dict[int, list[int]] = {}
        singles = self.singles
        for position, listing in enumerate(listed):
            bits = listing & live
            if not bits:
                continue
            single = singles.get(bits)
            if single is None:
                single = self._singles(bits)
            for place in single:
                lines = found.get(place)
                if lines is None:
                    found[place] = [position]
                else:
                    lines.append(position)
        return found

    def _singles(self, bits: int) -> tuple[int, ...]:
        """The places of the rules of ``bits``, lowest first (remembered)."""
        single: list[int] = []
        rest = bits
        while rest:
            bit = rest & -rest
            single.append(self.steps[bit].place)
            rest ^= bit
        if len(self.singles) >= MEMO_LIMIT:
            self.singles.clear()
        found = self.singles[bits] = tuple(single)
        return found

    def triggered(self, purchase_count: int) -> int:
        """The rules the purchase count lets through: all but the first-purchase and n-th
        purchase bonuses whose trigger this purchase misses."""
        memo = self.memos["count"]
        mask = memo.get(purchase_count)
        if mask is None:
            mask = self.all_bits
            first, nth = purchase_count == 0, purchase_count + 1
            for step in self.trigger_steps:
                every = step.rule.every_nth_purchase
                if (step.rule.first_purchase and not first) or (every is not None and nth % every):
                    mask ^= step.bit
            if len(memo) >= MEMO_LIMIT:
                memo.clear()
            memo[purchase_count] = mask
        return mask
