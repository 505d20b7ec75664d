"""Golden cases for the rules engine: varied inputs and their outcomes, frozen in a fixture.

The fixture ``golden_rules.json`` beside this file records, for thousands of generated cases,
what :func:`evaluate_purchase`, :func:`max_redeemable`, :func:`spread_discount` and
:func:`evaluate_event` returned when it was written: the documents (the 50-rule bench
document, the grocery example and a few dozen random documents) are stored in it, the inputs
are regenerated here from fixed seeds (a digest of them is stored too, so a change of this
generator is told apart from a change of the engine), and every outcome is stored as a short
digest, the first few cases of each document in full (for a readable diff).
``test_golden.py`` re-evaluates and compares.

Regenerate only when a change of results is intended::

    python -m tests.unit.rules.golden_cases
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from kopilka.domain.basket import Basket, BasketLine, Channel
from kopilka.domain.errors import KopilkaError
from kopilka.domain.money import Rounding
from kopilka.domain.program import Program
from kopilka.domain.rules import (
    EarnResult,
    MemberContext,
    RuleSet,
    UsageCounters,
    evaluate_event,
    evaluate_purchase,
    max_redeemable,
    parse_ruleset,
    spread_discount,
)

FIXTURE = Path(__file__).with_name("golden_rules.json")
GROCERY = Path(__file__).parents[3] / "src/kopilka/domain/rules/examples/grocery.yaml"

CATEGORIES = (
    "dairy",
    "bread",
    "vegetables",
    "fruit",
    "meat",
    "fish",
    "frozen",
    "snacks",
    "drinks",
    "household",
    "baby",
    "pets",
    "cosmetics",
    "tobacco",
    "alcohol",
    "gift_cards",
    "grocery",
)
BRANDS = ("domashniy", "acme", "prostokvashino", "nestle", "danone", "local", "mars", "")
TAGS = ("organic", "eco", "new", "local", "vegan")
TIERS = (None, "silver", "gold", "platinum")
SEGMENTS = ("students", "families", "pensioners", "vip", "churn-risk")
STORES = (None, *(f"s{n}" for n in range(1, 13)))
PAYMENTS = (None, "cash", "card", "partner-card")
ZONES = ("Europe/Moscow", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "UTC")
HOT_DAYS = (
    date(2026, 1, 1),
    date(2026, 1, 10),
    date(2026, 1, 11),
    date(2026, 2, 28),
    date(2026, 3, 1),
    date(2026, 3, 8),
    date(2026, 3, 29),
    date(2026, 4, 30),
    date(2026, 5, 1),
    date(2026, 10, 25),
    date(2026, 12, 31),
    date(2028, 2, 29),
)


@dataclass(frozen=True)
class Case:
    """One evaluation: the purchase, then what paying with points allows."""

    program: Program
    basket: Basket
    member: MemberContext
    usage: UsageCounters
    discounts: dict[str, int] | None
    available: int  # the member's available points, for max_redeemable
    spend: tuple[int, ...]  # points to try with spread_discount
    event: tuple[str, dict[str, object]] | None


# --- documents ------------------------------------------------------------------------------


def _money(rng: random.Random) -> str:
    return rng.choice(("100", "50", "0.01", "33.33", "250", "1", "99.99", "1000", "7.5"))


def _scope(rng: random.Random) -> dict[str, list[str]]:
    scope: dict[str, list[str]] = {}
    if rng.random() < 0.5:
        scope["categories"] = rng.sample(CATEGORIES, rng.randint(1, 3))
    if rng.random() < 0.2:
        scope["brands"] = rng.sample(BRANDS[:-1], rng.randint(1, 2))
    if rng.random() < 0.15:
        scope["skus"] = [f"SKU{n:04d}" for n in rng.sample(range(60), rng.randint(1, 8))]
    if rng.random() < 0.15:
        scope["tags"] = rng.sample(TAGS, rng.randint(1, 2))
    return scope


def _when(rng: random.Random) -> dict[str, Any]:
    when: dict[str, Any] = {}
    if rng.random() < 0.15:
        start = date(2026, 1, 1) + timedelta(days=rng.randrange(365))
        ranges = [{"from": str(start), "to": str(start + timedelta(days=rng.randrange(12)))}]
        if rng.random() < 0.3:
            ranges.append({"from": "2026-03-08", "to": "2026-03-08"})
        when["dates"] = ranges
    if rng.random() < 0.1:
        when["days_of_week"] = rng.sample(("mon", "tue", "wed", "thu", "fri", "sat", "sun"), 3)
    if rng.random() < 0.1:
        start_hour, end_hour = rng.randrange(24), rng.randrange(25)
        when["hours"] = {
            "from": f"{start_hour:02d}:{rng.choice(('00', '30'))}",
            "to": "24:00" if end_hour == 24 else f"{end_hour:02d}:00",
        }
    if rng.random() < 0.08:
        when["birthday"] = {"days_before": rng.randrange(4), "days_after": rng.randrange(4)}
    if rng.random() < 0.08:
        when["stores"] = rng.sample([s for s in STORES if s], 3)
    if rng.random() < 0.08:
        when["channels"] = rng.sample(("till", "web", "app"), rng.randint(1, 2))
    if rng.random() < 0.05:
        when["payment_methods"] = ["partner-card"]
    if rng.random() < 0.08:
        when["tiers"] = rng.sample([t for t in TIERS if t], rng.randint(1, 2))
    if rng.random() < 0.08:
        when["segments"] = rng.sample(SEGMENTS, rng.randint(1, 2))
    if rng.random() < 0.06:
        when["member"] = rng.choice(
            ({"gender": "female"}, {"has_pet": True}, {"has_pet": [True, 1], "gender": "male"})
        )
    if rng.random() < 0.06:
        when["lifetime_spend"] = rng.choice(
            ({"min": "100000"}, {"min": "1000", "max": "50000"}, {"max": "20000.50"})
        )
    return when


def _limits(rng: random.Random) -> dict[str, int]:
    limits: dict[str, int] = {}
    if rng.random() < 0.12:
        limits["per_purchase"] = rng.choice((1, 5, 40, 300, 2000))
    if rng.random() < 0.08:
        limits["per_member_day"] = rng.choice((10, 200, 300))
    if rng.random() < 0.08:
        limits["per_member_month"] = rng.choice((50, 1000))
    if rng.random() < 0.06:
        limits["budget"] = rng.choice((100, 5000, 1_000_000))
    return limits


def random_document(rng: random.Random, version: int) -> dict[str, Any]:
    """A random but valid rules document that exercises every purchase mechanic."""
    rules: list[dict[str, Any]] = []
    for n in range(rng.randint(1, 30)):
        kind = rng.choice(("rate", "rate", "multiplier", "bonus"))
        rule: dict[str, Any] = {"id": f"{kind[0]}{n:02d}", "kind": kind}
        if rng.random() < 0.8:
            rule["priority"] = rng.choice((10, 20, 50, 100, 100, 200))
        if rng.random() < 0.3:
            rule["stacking"] = "exclusive"
        if rng.random() < 0.2:
            rule["visible"] = False
        if rng.random() < 0.3:
            rule["description"] = f"rule {n}"
        if kind == "rate":
            if rng.random() < 0.6:
                rule["rate"] = {"points": rng.choice((1, 2, 3, 5, 10)), "per": _money(rng)}
            else:
                rule["rate"] = {
                    "percent": rng.choice(
                        ("1", "2.5", "0.5", "10", "0.333", "33.3333333333", "7", "100", "12.75")
                    )
                }
        elif kind == "multiplier":
            rule["factor"] = rng.choice(
                ("2", "1.5", "1.1", "1.25", "3", "1.333333333333333", "1.0001", "100", "1.07")
            )
        else:
            rule["points"] = rng.choice((1, 7, 20, 50, 100, 999))
            if rng.random() < 0.4:
                rule["min_amount"] = rng.choice(("500", "1500", "3000", "0", "10000.01"))
            if rng.random() < 0.2:
                rule["every_nth_purchase"] = rng.choice((2, 3, 5, 10))
            if rng.random() < 0.15:
                rule["first_purchase"] = True
        if kind != "bonus" or rng.random() < 0.5:
            scope = _scope(rng)
            if scope:
                rule["scope"] = scope
        when = _when(rng)
        if when:
            rule["when"] = when
        limits = _limits(rng)
        if limits:
            rule["limits"] = limits
        if rng.random() < 0.1:
            pilot: dict[str, Any] = {}
            if rng.random() < 0.6:
                pilot["share_percent"] = rng.choice((10, 50, "33.5", 90))
            if rng.random() < 0.6 or not pilot:
                pilot["stores"] = rng.sample([s for s in STORES if s], 4)
            rule["pilot"] = pilot
        rules.append(rule)
    rng.shuffle(rules)
    redemption: dict[str, Any] = {}
    if rng.random() < 0.1:
        redemption["enabled"] = False
    if rng.random() < 0.5:
        redemption["point_value"] = rng.choice(("1.00", "0.5", "2.37", "0.01", "10"))
    if rng.random() < 0.5:
        redemption["min_purchase"] = rng.choice(("100", "0", "5000"))
    if rng.random() < 0.3:
        redemption["min_points"] = rng.choice((1, 10, 100))
    if rng.random() < 0.3:
        redemption["max_points"] = rng.choice((100, 1000, 5000))
    if rng.random() < 0.5:
        redemption["max_percent"] = rng.choice((20, 30, "12.5", 100))
    if rng.random() < 0.3:
        redemption["max_item_percent"] = rng.choice((50, "33.3", 99))
    if rng.random() < 0.5:
        redemption["step"] = rng.choice((1, 10, 7))
    if rng.random() < 0.5:
        exclude: dict[str, Any] = {"categories": ["tobacco", "alcohol"]}
        if rng.random() < 0.5:
            exclude["discounted"] = True
        if rng.random() < 0.3:
            exclude["tags"] = ["new"]
        redemption["exclude"] = exclude
    document: dict[str, Any] = {"schema_version": 1, "version": version, "rules": rules}
    if rng.random() < 0.6:
        document["exclude"] = {"categories": ["tobacco", "gift_cards"]}
        if rng.random() < 0.3:
            document["exclude"]["brands"] = ["mars"]
    if rng.random() < 0.3:
        document["options"] = {"no_points_on_discounted": True}
    if redemption:
        document["redemption"] = redemption
    return document


# --- inputs ---------------------------------------------------------------------------------


def _program(rng: random.Random) -> Program:
    return Program(
        id=1,
        code="golden",
        name="Golden",
        point_value_minor=rng.choice((100, 100, 100, 1, 50, 137)),
        rounding=rng.choice((Rounding.DOWN, Rounding.DOWN, Rounding.HALF_UP, Rounding.UP)),
        timezone=rng.choice(ZONES),
    )


def _line(rng: random.Random, line_id: str) -> BasketLine:
    sku = rng.randrange(60) if rng.random() < 0.5 else rng.randrange(400)
    roll = rng.random()
    if roll < 0.03:
        amount = 0
    elif roll < 0.1:
        amount = rng.randrange(1, 100)
    elif roll < 0.11:
        amount = rng.randrange(10**12, 10**14)
    else:
        amount = rng.randrange(1_000, 250_000)
    return BasketLine(
        line_id=line_id,
        sku=f"SKU{sku:04d}",
        quantity=Decimal(rng.randint(1, 3)),
        amount_minor=amount,
        category=CATEGORIES[sku % len(CATEGORIES)],
        brand=BRANDS[sku // len(CATEGORIES) % len(BRANDS)],
        discounted=rng.random() < 0.1,
        tags=frozenset(t for t in TAGS if rng.random() < 0.1),
    )


def _basket(rng: random.Random) -> Basket:
    count = rng.choice((1, 1, 2, 3, 5, 7, 10, 10, 10, 12, 15))
    ids = [str(n + 1) for n in range(count)] if rng.random() < 0.7 else None
    if ids is None:
        ids = sorted({f"L{rng.randrange(1000)}" for _ in range(count)})
    rng.shuffle(ids)
    if rng.random() < 0.3:
        day = rng.choice(HOT_DAYS)
        at = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(
            minutes=rng.randrange(-6 * 60, 30 * 60)
        )
    else:
        at = datetime(2025, 12, 25, tzinfo=UTC) + timedelta(minutes=rng.randrange(380 * 24 * 60))
    return Basket(
        lines=tuple(_line(rng, line_id) for line_id in ids),
        occurred_at=at,
        store=rng.choice(STORES),
        channel=rng.choice((Channel.TILL, Channel.TILL, Channel.APP, Channel.WEB)),
        partner=rng.choice((None, None, "p1")),
        payment_method=rng.choice(PAYMENTS),
    )


def _member(rng: random.Random, at: datetime) -> MemberContext:
    attributes: dict[str, object] = {}
    if rng.random() < 0.8:
        attributes["gender"] = rng.choice(("female", "male"))
    if rng.random() < 0.3:
        attributes["has_pet"] = rng.choice((True, True, 1, "true"))
    roll = rng.random()
    birthday: date | None
    if roll < 0.2:
        birthday = None
    elif roll < 0.3:
        birthday = date(rng.choice((1984, 1992, 2000)), 2, 29)
    elif roll < 0.6:
        near = at.date() + timedelta(days=rng.randrange(-5, 6))  # 1990 is no leap year
        birthday = date(1990, near.month, min(near.day, 28) if near.month == 2 else near.day)
    else:
        birthday = date(1960 + rng.randrange(45), rng.randint(1, 12), rng.randint(1, 28))
    return MemberContext(
        member_id=str(rng.randrange(100_000, 100_400)),
        tier=rng.choice(TIERS),
        attributes=attributes,
        segments=frozenset(s for s in SEGMENTS if rng.random() < 0.2),
        birthday=birthday,
        lifetime_spend_minor=rng.choice(
            (0, 9_999_999, 10_000_000, rng.randrange(50_000_000), 2_000_050)
        ),
        purchase_count=rng.choice((0, 1, 4, 9, 19, rng.randrange(300))),
    )


def _usage(rng: random.Random, rules: RuleSet) -> UsageCounters:
    def used(limit: int) -> int:
        return rng.choice((0, limit - 1, limit, limit + 5, rng.randrange(limit + 1)))

    today: dict[str, int] = {}
    month: dict[str, int] = {}
    budget: dict[str, int] = {}
    events: dict[str, int] = {}
    for rule in rules.rules:
        if rule.per_member_day and rng.random() < 0.7:
            today[rule.id] = used(rule.per_member_day)
        if rule.per_member_month and rng.random() < 0.7:
            month[rule.id] = used(rule.per_member_month)
        if rule.budget and rng.random() < 0.7:
            budget[rule.id] = used(rule.budget)
        if rule.limit_count and rng.random() < 0.7:
            events[rule.id] = used(rule.limit_count)
    return UsageCounters(
        points_today=today, points_this_month=month, budget_used=budget, events_in_period=events
    )


def _discounts(rng: random.Random, basket: Basket) -> dict[str, int] | None:
    roll = rng.random()
    if roll < 0.7:
        return None
    lines = basket.lines
    if roll < 0.95:
        return {
            line.line_id: rng.randrange(line.amount_minor + 1)
            for line in lines
            if rng.random() < 0.5
        }
    bad = rng.choice(("unknown", "negative", "over"))
    if bad == "unknown":
        return {"nope": 1}
    line = rng.choice(lines)
    return {line.line_id: -1 if bad == "negative" else line.amount_minor + 1}


def _event(rng: random.Random, rules: RuleSet) -> tuple[str, dict[str, object]] | None:
    if not rules.events or rng.random() < 0.5:
        return None
    name = rng.choice(sorted(rules.events))
    attributes: dict[str, object] = {}
    if rng.random() < 0.5:
        attributes["with_photos"] = rng.choice((True, False, 1))
    if rng.random() < 0.3:
        attributes["channel"] = rng.choice(("app", "web", 3))
    return name, attributes


def cases(rules: RuleSet, seed: int, count: int) -> Iterator[Case]:
    """``count`` deterministic cases for ``rules``."""
    rng = random.Random(seed)
    for _ in range(count):
        prog = _program(rng)
        basket = _basket(rng)
        yield Case(
            program=prog,
            basket=basket,
            member=_member(rng, basket.occurred_at),
            usage=_usage(rng, rules),
            discounts=_discounts(rng, basket),
            available=rng.choice((0, 5, 100, 10**6, rng.randrange(5000))),
            spend=tuple(rng.choice((1, 10, 50, 70, 100, 500, 2000)) for _ in range(2)),
            event=_event(rng, rules),
        )


# --- canonical forms ------------------------------------------------------------------------


def describe_input(case: Case) -> list[Any]:
    """The case's inputs as plain JSON data (sets sorted), for the inputs digest."""
    b, m, u, p = case.basket, case.member, case.usage, case.program
    return [
        [p.point_value_minor, str(p.rounding), p.timezone],
        [
            [
                x.line_id,
                x.sku,
                str(x.quantity),
                x.amount_minor,
                x.category,
                x.brand,
                x.discounted,
                *sorted(x.tags),
            ]
            for x in b.lines
        ],
        [b.occurred_at.isoformat(), b.store, str(b.channel), b.partner, b.payment_method],
        [
            m.member_id,
            m.tier,
            sorted((k, repr(v)) for k, v in m.attributes.items()),
            sorted(m.segments),
            str(m.birthday),
            m.lifetime_spend_minor,
            m.purchase_count,
        ],
        [sorted(d.items()) for d in (u.points_today, u.points_this_month, u.budget_used)],
        sorted(u.events_in_period.items()),
        sorted(case.discounts.items()) if case.discounts is not None else None,
        case.available,
        list(case.spend),
        [case.event[0], sorted((k, repr(v)) for k, v in case.event[1].items())]
        if case.event
        else None,
    ]


def _earn(result: EarnResult) -> dict[str, Any]:
    return {
        "version": result.ruleset_version,
        "awards": [list(award) for award in result.awards],
        "used": list(result.usage.points_by_rule.items()),
        "events": list(result.usage.events_by_rule.items()),
        "control": list(result.control_group),
    }


def _error(exc: KopilkaError) -> dict[str, Any]:
    return {"error": type(exc).__name__, "message": str(exc)}


def outcome(rules: RuleSet, case: Case) -> dict[str, Any]:
    """Everything the engine answers for the case, as plain JSON data."""
    out: dict[str, Any] = {}
    try:
        out["earn"] = _earn(
            evaluate_purchase(
                rules,
                case.program,
                case.basket,
                case.member,
                usage=case.usage,
                points_redeemed_discount_by_line=case.discounts,
            )
        )
    except KopilkaError as exc:
        out["earn"] = _error(exc)
    out["max_redeemable"] = max_redeemable(case.basket, rules, case.program, case.available)
    spreads: list[Any] = []
    for points in (*case.spend, out["max_redeemable"]):
        try:
            spread = spread_discount(points, case.basket, rules, case.program)
        except KopilkaError as exc:
            spreads.append(_error(exc))
            continue
        # the purchase again, paid partly with these points
        again = evaluate_purchase(
            rules,
            case.program,
            case.basket,
            case.member,
            usage=case.usage,
            points_redeemed_discount_by_line=spread,
        )
        spreads.append({"spread": list(spread.items()), "earn": _earn(again)})
    out["spread"] = spreads
    if case.event is not None:
        name, attributes = case.event
        out["event"] = _earn(
            evaluate_event(
                rules,
                case.program,
                name,
                attributes,
                case.member,
                usage=case.usage,
                at=case.basket.occurred_at,
            )
        )
    normal: dict[str, Any] = json.loads(json.dumps(out))  # tuples become lists, as stored
    return normal


def digest(data: Any) -> str:
    """A short, stable digest of plain JSON data."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# --- groups and the fixture -----------------------------------------------------------------


def seed(documents: dict[str, dict[str, Any]], name: str) -> int:
    """The seed of a document's cases."""
    return 1000 + sorted(documents).index(name)


def compute(documents: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The fixture's recorded part for ``documents``: per group, digests and full outcomes."""
    recorded: dict[str, Any] = {}
    for name, doc in sorted(documents.items()):
        rules = parse_ruleset(doc["text"], doc["format"])
        inputs: list[Any] = []
        digests: list[str] = []
        full: list[Any] = []
        for n, case in enumerate(cases(rules, seed(documents, name), doc["cases"])):
            inputs.append(describe_input(case))
            result = outcome(rules, case)
            digests.append(digest(result))
            if n < doc["full"]:
                full.append(result)
        recorded[name] = {"inputs": digest(inputs), "digests": digests, "full": full}
    return recorded


def documents() -> dict[str, dict[str, Any]]:
    """The documents frozen into the fixture: bench, grocery and random ones."""
    from bench.bench_rules import document as bench_document  # run from the repository root

    docs: dict[str, dict[str, Any]] = {
        "bench": {
            "format": "json",
            "text": json.dumps(bench_document()),
            "cases": 1500,
            "full": 20,
        },
        "grocery": {
            "format": "yaml",
            "text": GROCERY.read_text(encoding="utf-8"),
            "cases": 800,
            "full": 10,
        },
    }
    rng = random.Random(20261122)
    for n in range(60):
        docs[f"random-{n:02d}"] = {
            "format": "json",
            "text": json.dumps(random_document(rng, n + 1), sort_keys=True),
            "cases": 50,
            "full": 2,
        }
    return docs


def main() -> None:
    docs = documents()
    fixture = {"documents": docs, "recorded": compute(docs)}
    FIXTURE.write_text(json.dumps(fixture, separators=(",", ":"), ensure_ascii=False) + "\n")
    size = FIXTURE.stat().st_size
    print(f"wrote {FIXTURE} ({size:,} bytes)")


if __name__ == "__main__":
    main()
