"""Parse, validate and compile a rules document into a :class:`RuleSet`.

Every problem is reported at once, each with its line number and field path::

    line 12: rules[3].rate.points: Input should be greater than 0

as a :class:`~kopilka.domain.errors.ValidationError` whose details are
``{"errors": [{"line": 12, "path": "rules[3].rate.points", "message": ...}, ...]}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pydantic

from kopilka.domain.errors import ValidationError
from kopilka.domain.expiry import ExpiryKind, ExpiryPolicy
from kopilka.domain.messages import msg
from kopilka.domain.money import currency_exponent
from kopilka.domain.rules import schema
from kopilka.domain.rules.categories import check_categories
from kopilka.domain.rules.conditions import checks_of, gate_of
from kopilka.domain.rules.model import (
    BONUS,
    EVENT,
    MULTIPLIER,
    RATE,
    Matcher,
    PromoCodeSpec,
    RedemptionPolicy,
    Rule,
    RuleSet,
)
from kopilka.domain.rules.offers import FavouriteSpec, OfferSpec
from kopilka.domain.rules.plan import scope_index
from kopilka.domain.rules.pydantic_messages import located_message
from kopilka.domain.rules.source import Path, format_path, line_of, load_with_lines, resolve
from kopilka.domain.rules.tiers_section import check_section
from kopilka.domain.tiers import TierPolicy

MAX_RULES = 1000


class _Problems:
    """Collects located errors while a document is checked."""

    def __init__(self, data: Any, lines: Mapping[Path, int]) -> None:
        self.data, self.lines = data, lines
        self.items: list[dict[str, Any]] = []

    def add(self, loc: tuple[str | int, ...], message: str) -> None:
        path = resolve(loc, self.data)
        self.items.append(
            {"line": line_of(path, self.lines), "path": format_path(path), "message": message}
        )

    def add_pydantic(self, prefix: Path, exc: pydantic.ValidationError) -> None:
        for err in exc.errors(include_url=False):
            message = located_message(err)
            loc = _one_form((*prefix, *err["loc"]), self.data)
            if loc is not None:
                self.add(loc, message)

    def raise_if_any(self) -> None:
        if not self.items:
            return
        self.items.sort(key=lambda e: (e["line"], e["path"]))
        shown = "; ".join(f"line {e['line']}: {e['path']}: {e['message']}" for e in self.items[:5])
        more = f" (and {len(self.items) - 5} more)" if len(self.items) > 5 else ""
        raise ValidationError(
            # the summary stays English (it quotes the located errors); the page translates
            # each located error (details.errors) instead
            f"invalid rules document: {shown}{more}",
            errors=self.items,
        )


# the forms of a list condition (a list, or ``{not: [...]}``), as pydantic names them in an
# error's location
_NEGATION_FORMS = ("NotIn", "NotChannels", "NotTenders")


def _one_form(loc: tuple[str | int, ...], data: Any) -> tuple[str | int, ...] | None:
    """An error's location without the name of a list condition's form, or ``None`` when the
    error is about the form the value was not written in (a list's error on ``{not: ...}``):
    a marketer reads only the errors of what they wrote."""
    current = data
    for n, part in enumerate(loc):
        if isinstance(part, str) and (part in _NEGATION_FORMS or part.startswith("list[")):
            written_negated = isinstance(current, Mapping)
            if written_negated != (part in _NEGATION_FORMS):
                return None
            rest = _one_form(loc[n + 1 :], current)
            return None if rest is None else (*loc[:n], *rest)
        in_map = isinstance(current, Mapping) and part in current
        in_list = isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current)
        current = current[part] if in_map or in_list else None
    return loc


def parse_ruleset(text: str, fmt: str = "yaml", version: int | None = None) -> RuleSet:
    """Parse a YAML or JSON rules document into a compiled :class:`RuleSet`.

    ``version`` is the published version of the rule set (recorded on every award); when it is
    ``None`` the document's own ``version`` is used, and 1 when the document has none.
    """
    data, lines = load_with_lines(text, fmt)
    problems = _Problems(data, lines)
    if not isinstance(data, dict):
        problems.add((), msg("the document must be a mapping with 'rules' and 'redemption'"))
        problems.raise_if_any()
    doc: schema.Document | None = None
    try:
        doc = schema.Document.model_validate(data)
    except pydantic.ValidationError as exc:
        problems.add_pydantic((), exc)
    raw_rules = data.get("rules")
    rules = _validate_rules(raw_rules if isinstance(raw_rules, list) else [], problems)
    tiers = check_section(data.get("tiers"), doc.currency if doc else "RUB", problems.add)
    category_names = check_categories(data.get("categories"), problems.add)
    if doc is not None:
        _tier_codes(doc, tiers, problems)
    problems.raise_if_any()
    assert doc is not None  # no problems means the document validated
    compiler = _Compiler(doc.currency, problems)
    compiled = [compiler.rule(index, rule) for index, rule in enumerate(rules)]
    redemption = compiler.redemption(doc.redemption)
    codes = _promo_codes(doc, rules, raw_rules if isinstance(raw_rules, list) else [], problems)
    offers, favourites = _personal(
        rules, raw_rules if isinstance(raw_rules, list) else [], problems
    )
    problems.raise_if_any()
    compiled.sort(key=lambda r: (r.priority, r.id))
    events: dict[str, list[Rule]] = {}
    for rule in compiled:
        if rule.kind == EVENT:
            events.setdefault(rule.event, []).append(rule)
    return RuleSet(
        version=version if version is not None else (doc.version or 1),
        currency=doc.currency,
        no_points_on_discounted=doc.options.no_points_on_discounted,
        exclude=_matcher(doc.exclude),
        rules=tuple(compiled),
        rates=tuple(r for r in compiled if r.kind == RATE),
        multipliers=tuple(r for r in compiled if r.kind == MULTIPLIER),
        bonuses=tuple(r for r in compiled if r.kind == BONUS),
        events={name: tuple(group) for name, group in events.items()},
        redemption=redemption,
        scope_index=scope_index(compiled),
        promo_codes=codes,
        offers=offers,
        favourites=favourites,
        category_names=category_names,
    )


def _personal(
    rules: list[schema.RuleBase], raw_rules: list[Any], problems: _Problems
) -> tuple[dict[str, OfferSpec], dict[str, FavouriteSpec]]:
    """The personal offers (rules with ``offer:``) and the favourite categories rules, by
    rule id; an offer on an event rule is a problem (offers are for purchases)."""
    by_id = {raw.get("id"): n for n, raw in enumerate(raw_rules) if isinstance(raw, dict)}
    offers: dict[str, OfferSpec] = {}
    favourites: dict[str, FavouriteSpec] = {}
    for rule in rules:
        if isinstance(rule, schema.FavouriteCategoriesRule):
            favourites[rule.id] = FavouriteSpec(
                rule_id=rule.id,
                description=rule.description,
                choose=rule.choose,
                allowed=tuple(rule.from_),
                period=rule.period,
            )
        offer = rule.offer
        if offer is None:
            continue
        if isinstance(rule, schema.EventRule):
            problems.add(
                ("rules", by_id.get(rule.id, 0), "offer"), msg("only a purchase rule can have it")
            )
            continue
        audience = offer.audience
        offers[rule.id] = OfferSpec(
            rule_id=rule.id,
            description=rule.description,
            first_day=offer.window.from_,
            last_day=offer.window.to,
            everyone=audience.everyone,
            listed=audience.listed,
            tiers=frozenset(audience.tiers),
            segments=frozenset(audience.segments),
            requires_activation=offer.requires_activation,
        )
    return offers, favourites


def _tier_codes(doc: schema.Document, tiers: TierPolicy | None, problems: _Problems) -> None:
    """Every tier ``redemption.by_tier`` names is one of the ``tiers:`` section's levels."""
    known = [t.code for t in tiers.tiers] if tiers else []
    for code in doc.redemption.by_tier:
        if code not in known:
            problems.add(
                ("redemption", "by_tier", code),
                msg(
                    "unknown tier %(tier)s; expected one of %(codes)s",
                    tier=repr(code),
                    codes=", ".join(known),
                ),
            )


def _promo_codes(
    doc: schema.Document,
    rules: list[schema.RuleBase],
    raw_rules: list[Any],
    problems: _Problems,
) -> dict[str, PromoCodeSpec]:
    """The document's promo codes by code; a code defined twice, a rule naming a code the
    document does not define, and basket conditions on an event rule are problems."""
    codes: dict[str, PromoCodeSpec] = {}
    for index, code in enumerate(doc.promo_codes):
        if code.code in codes:
            problems.add(
                ("promo_codes", index, "code"),
                msg("duplicate promo code %(code)s", code=repr(code.code)),
            )
            continue
        codes[code.code] = PromoCodeSpec(
            code=code.code,
            description=code.description,
            first_day=code.valid.from_ if code.valid else None,
            last_day=code.valid.to if code.valid else None,
            per_member=code.per_member,
            total=code.total,
        )
    # rule ids are unique once validated: each rule's place in the document
    by_id = {raw.get("id"): n for n, raw in enumerate(raw_rules) if isinstance(raw, dict)}
    for rule in rules:
        n = by_id.get(rule.id, 0)
        when = rule.when
        if when.promo_code is not None and when.promo_code not in codes:
            problems.add(
                ("rules", n, "when", "promo_code"),
                msg(
                    "unknown promo code %(promo_code)s; define it under promo_codes",
                    promo_code=repr(when.promo_code),
                ),
            )
        if isinstance(rule, schema.EventRule):
            for name in ("purchase_amount", "quantity", "promo_code"):
                if getattr(when, name) is not None:
                    problems.add(
                        ("rules", n, "when", name), msg("only a purchase rule can have it")
                    )
    return codes


# the event the birthday_bonus job records (services/birthday_bonus.py)
BIRTHDAY_EVENT = "birthday"


def _validate_rules(raw_rules: list[Any], problems: _Problems) -> list[schema.RuleBase]:
    if len(raw_rules) > MAX_RULES:
        problems.add(
            ("rules",), msg("at most %(max_rules)s rules per document", max_rules=MAX_RULES)
        )
        return []
    rules: list[schema.RuleBase] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(raw_rules):
        where: Path = ("rules", index)
        if not isinstance(raw, dict):
            problems.add(where, msg("a rule must be a mapping"))
            continue
        kind = raw.get("kind")
        model = schema.RULE_MODELS.get(kind) if isinstance(kind, str) else None
        if model is None:
            expected = ", ".join(schema.RULE_MODELS)
            problems.add(
                (*where, "kind"),
                msg(
                    "unknown rule kind %(kind)s; expected one of %(expected)s",
                    kind=repr(kind),
                    expected=expected,
                ),
            )
            continue
        try:
            rule = model.model_validate(raw)
        except pydantic.ValidationError as exc:
            problems.add_pydantic(where, exc)
            continue
        if rule.id in seen:
            problems.add(
                (*where, "id"),
                msg(
                    "duplicate rule id %(id)s (also rules[%(seen)s])",
                    id=repr(rule.id),
                    seen=seen[rule.id],
                ),
            )
            continue
        seen[rule.id] = index
        if isinstance(rule, schema.EventRule) and rule.event == BIRTHDAY_EVENT and rule.match:
            # the job records the birthday with no attributes: a match could never hold
            problems.add(
                (*where, "match"),
                msg("a birthday rule has no event attributes to match; use when"),
            )
            continue
        rules.append(rule)
    return rules


def _matcher(scope: schema.Scope | schema.RuleScope | schema.RedemptionExclude) -> Matcher:
    lists: dict[str, frozenset[str]] = {}
    for name in ("categories", "skus", "brands", "tags"):
        values = getattr(scope, name)
        if isinstance(values, schema.NotIn):
            lists[f"not_{name}"] = frozenset(values.not_)
        else:
            lists[name] = frozenset(values)
    return Matcher(**lists)


def _expiry(src: schema.Expires) -> ExpiryPolicy:
    """A rule's ``expires`` as the expiry policy of its lots."""
    if src.days is not None:
        return ExpiryPolicy(ExpiryKind.DAYS, src.days)
    if src.months is not None:
        return ExpiryPolicy(ExpiryKind.MONTHS_END, src.months)
    if src.years is not None:
        return ExpiryPolicy(ExpiryKind.YEAR_END, src.years)
    kind = ExpiryKind.MONTHS_END if src.end_of == "month" else ExpiryKind.YEAR_END
    return ExpiryPolicy(kind, 0)


class _Compiler:
    """Turns validated models into plain objects; money becomes exact minor units."""

    def __init__(self, currency: str, problems: _Problems) -> None:
        self.exponent = currency_exponent(currency)
        self.currency = currency
        self.problems = problems
        self.where: Path = ()

    def minor(self, value: Decimal | None, *path: str | int) -> int | None:
        if value is None:
            return None
        scaled = value.scaleb(self.exponent)
        if scaled != scaled.to_integral_value():
            self.problems.add(
                (*self.where, *path),
                msg(
                    "more than %(exponent)s decimal places for %(currency)s",
                    exponent=self.exponent,
                    currency=self.currency,
                ),
            )
            return 0
        return int(scaled)

    def rule(self, index: int, src: schema.RuleBase) -> Rule:
        self.where = ("rules", index)
        when_minor = lambda value, *p: self.minor(value, "when", *p)  # noqa: E731
        limits, pilot = src.limits, src.pilot
        gate = gate_of(src.when, when_minor)
        fields: dict[str, Any] = {
            "id": src.id,
            "kind": RATE,
            "description": src.description,
            "visible": src.visible,
            "priority": src.priority,
            "exclusive": src.stacking == "exclusive",
            "checks": checks_of(gate),
            "gate": gate,
            "scope": Matcher(),
            "per_purchase": limits.per_purchase,
            "per_member_day": limits.per_member_day,
            "per_member_month": limits.per_member_month,
            "budget": limits.budget,
        }
        if src.expires is not None:
            fields["expiry"] = _expiry(src.expires)
        if pilot is not None:
            if pilot.stores is not None:
                fields["pilot_stores"] = frozenset(pilot.stores)
            if pilot.share_percent is not None:
                fields["pilot_share"] = int(pilot.share_percent * 100)
        if isinstance(src, schema.RateRule):
            fields["scope"] = _matcher(src.scope)
            fields["points"] = src.rate.points or 0
            fields["per_minor"] = self.minor(src.rate.per, "rate", "per") or 0
            fields["percent"] = src.rate.percent
            fields["per_unit"] = src.rate.per_unit
            if isinstance(src.tenders, schema.NotTenders):
                fields["tenders"] = frozenset(src.tenders.not_)
                fields["not_tenders"] = True
            elif src.tenders is not None:
                fields["tenders"] = frozenset(src.tenders)
            if src.rate.per is not None and fields["per_minor"] == 0:
                self.problems.add(
                    (*self.where, "rate", "per"), msg("must be at least one minor unit")
                )
        elif isinstance(src, schema.MultiplierRule):
            fields.update(kind=MULTIPLIER, scope=_matcher(src.scope), factor=src.factor)
        elif isinstance(src, schema.BonusRule):
            fields.update(
                kind=BONUS,
                scope=_matcher(src.scope),
                points=src.points,
                min_amount_minor=self.minor(src.min_amount, "min_amount"),
                every_nth_purchase=src.every_nth_purchase,
                first_purchase=src.first_purchase,
            )
        elif isinstance(src, schema.FavouriteCategoriesRule):
            # the rule's lines are its list's categories; the engine keeps only those the
            # member chose (MemberContext.favourites)
            fields["scope"] = Matcher(categories=frozenset(src.from_))
            if src.factor is not None:
                fields.update(kind=MULTIPLIER, factor=src.factor)
            else:
                assert src.rate is not None  # the schema wants one of the two
                fields["points"] = src.rate.points or 0
                fields["per_minor"] = self.minor(src.rate.per, "rate", "per") or 0
                fields["percent"] = src.rate.percent
                fields["per_unit"] = src.rate.per_unit
        elif isinstance(src, schema.EventRule):
            fields.update(
                kind=EVENT,
                event=src.event,
                points=src.points,
                match=tuple(sorted(src.match.items())),
                limit_count=src.limit.count if src.limit else None,
                limit_period=src.limit.period if src.limit else "lifetime",
            )
        return Rule(**fields)

    def redemption(self, src: schema.Redemption) -> RedemptionPolicy:
        self.where = ("redemption",)
        base = RedemptionPolicy(
            enabled=src.enabled,
            point_value_minor=self.minor(src.point_value, "point_value"),
            min_purchase_minor=self.minor(src.min_purchase, "min_purchase") or 0,
            min_points=src.min_points or 0,
            max_points=src.max_points,
            max_percent=src.max_percent,
            max_item_percent=src.max_item_percent,
            step=src.step,
            min_balance=src.min_balance or 0,
            exclude=_matcher(src.exclude),
            exclude_discounted=src.exclude.discounted,
        )
        own = tuple(
            (
                code,
                replace(
                    base,
                    max_points=limits.max_points or base.max_points,
                    max_percent=limits.max_percent or base.max_percent,
                    max_item_percent=limits.max_item_percent or base.max_item_percent,
                ),
            )
            for code, limits in src.by_tier.items()
        )
        return replace(base, by_tier=own) if own else base
