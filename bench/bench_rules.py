"""Rule evaluation throughput: 10-line baskets against a realistic 50-rule document, no I/O.

Run with ``python -m bench.bench_rules``. It builds the rules document in code, generates
varied baskets and members from a fixed seed, warms up, then counts how many baskets
:func:`evaluate_purchase` gets through in a few seconds on one core; five repeats, the median
of baskets per CPU-second is reported (with the wall-clock figure and the load average beside
it) and written to ``bench/results/rules.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from kopilka.domain.basket import Basket, BasketLine, Channel
from kopilka.domain.money import Rounding
from kopilka.domain.program import Program
from kopilka.domain.rules import (
    COMPILED,
    MemberContext,
    RuleSet,
    UsageCounters,
    evaluate_purchase,
    parse_ruleset,
)

LINES = 10
RESULTS = Path(__file__).parent / "results" / "rules.json"

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
)
BRANDS = ("domashniy", "acme", "prostokvashino", "nestle", "danone", "local", "mars", "unilever")
TAGS = ("organic", "eco", "new", "local", "vegan")
TIERS = (None, "silver", "gold", "platinum")
SEGMENTS = ("students", "families", "pensioners", "vip", "churn-risk")
STORES = tuple(f"s{n}" for n in range(1, 21))


def _rule(rule_id: str, kind: str, priority: int = 100, **body: Any) -> dict[str, Any]:
    return {"id": rule_id, "kind": kind, "priority": priority, **body}


def document() -> dict[str, Any]:
    """The 50-rule document: a grocery chain's everyday rules plus its current promos."""
    rules: list[dict[str, Any]] = [
        _rule("base", "rate", 100, rate={"points": 1, "per": "100"}),
    ]
    # category rates, some replacing the base rate on their lines
    for n, (cat, pts) in enumerate(
        [("vegetables", 3), ("fruit", 3), ("fish", 2), ("baby", 2), ("pets", 2), ("meat", 2)]
    ):
        rules.append(
            _rule(
                f"cat-{cat}",
                "rate",
                50 + n,
                stacking="exclusive" if n % 2 == 0 else "stackable",
                rate={"points": pts, "per": "100"},
                scope={"categories": [cat]},
            )
        )
    rules.append(
        _rule(
            "cosmetics-pct",
            "rate",
            40,
            rate={"percent": "2.5"},
            scope={"categories": ["cosmetics"]},
        )
    )
    for n, brand in enumerate(("domashniy", "local", "danone")):
        rules.append(
            _rule(
                f"brand-{brand}",
                "rate",
                60 + n,
                rate={"points": 1, "per": "50"},
                scope={"brands": [brand]},
            )
        )
    rules.append(
        _rule(
            "sku-hits",
            "rate",
            30,
            stacking="exclusive",
            rate={"points": 5, "per": "100"},
            scope={"skus": [f"SKU{n:04d}" for n in range(0, 400, 7)]},
        )
    )
    rules.append(_rule("organic", "rate", 70, rate={"percent": 1}, scope={"tags": ["organic"]}))
    # multipliers on categories, brands and tags
    for n, (cat, factor) in enumerate(
        [("dairy", "2"), ("bread", "1.5"), ("frozen", "3"), ("snacks", "1.25")]
    ):
        rules.append(
            _rule(f"x-{cat}", "multiplier", 20 + n, factor=factor, scope={"categories": [cat]})
        )
    rules.append(
        _rule("x-own-brand", "multiplier", 25, factor="1.5", scope={"brands": ["domashniy"]})
    )
    rules.append(_rule("x-eco", "multiplier", 26, factor="2", scope={"tags": ["eco", "new"]}))
    # calendar promos
    rules.append(
        _rule(
            "january-double",
            "multiplier",
            10,
            factor=2,
            when={"dates": [{"from": "2026-01-01", "to": "2026-01-10"}]},
            limits={"per_purchase": 2000, "budget": 5_000_000},
        )
    )
    for n, (start, end) in enumerate(
        [("2026-02-20", "2026-02-23"), ("2026-03-05", "2026-03-08"), ("2026-05-01", "2026-05-11")]
    ):
        rules.append(
            _rule(
                f"holiday-{n}",
                "multiplier",
                11 + n,
                factor=3,
                when={"dates": [{"from": start, "to": end}]},
            )
        )
    rules.append(
        _rule(
            "morning-hours",
            "multiplier",
            15,
            factor=2,
            when={
                "days_of_week": ["mon", "tue", "wed", "thu", "fri"],
                "hours": {"from": "08:00", "to": "11:00"},
            },
        )
    )
    rules.append(
        _rule(
            "late-night",
            "rate",
            90,
            rate={"points": 1, "per": "200"},
            when={"hours": {"from": "22:00", "to": "06:00"}},
        )
    )
    rules.append(
        _rule(
            "weekend-fruit",
            "multiplier",
            16,
            factor=2,
            when={"days_of_week": ["sat", "sun"]},
            scope={"categories": ["fruit", "vegetables"]},
        )
    )
    rules.append(
        _rule(
            "pensioner-morning",
            "multiplier",
            17,
            factor="1.5",
            when={"segments": ["pensioners"], "hours": {"from": "07:00", "to": "12:00"}},
        )
    )
    # member conditions
    for n, (tier, factor) in enumerate([("silver", "1.1"), ("gold", "1.25"), ("platinum", "1.5")]):
        rules.append(
            _rule(f"tier-{tier}", "multiplier", 30 + n, factor=factor, when={"tiers": [tier]})
        )
    rules.append(
        _rule(
            "students-snacks",
            "rate",
            80,
            rate={"points": 2, "per": "100"},
            when={"segments": ["students"]},
            scope={"categories": ["snacks", "drinks"]},
        )
    )
    rules.append(
        _rule(
            "families-baby",
            "multiplier",
            35,
            factor=2,
            when={"segments": ["families"]},
            scope={"categories": ["baby"]},
        )
    )
    rules.append(
        _rule(
            "vip-spend",
            "multiplier",
            36,
            factor="1.2",
            when={"lifetime_spend": {"min": "100000"}},
        )
    )
    rules.append(
        _rule(
            "pet-owners",
            "rate",
            85,
            rate={"points": 3, "per": "100"},
            when={"member": {"has_pet": True}},
            scope={"categories": ["pets"]},
        )
    )
    rules.append(
        _rule(
            "app-channel",
            "multiplier",
            37,
            factor="1.1",
            when={"channels": ["app", "web"]},
        )
    )
    rules.append(
        _rule(
            "card-payment",
            "rate",
            95,
            rate={"percent": "0.5"},
            when={"payment_methods": ["partner-card"]},
            limits={"per_member_day": 300},
        )
    )
    # bonuses
    for n, (amount, pts) in enumerate([("1500", 20), ("3000", 50), ("7000", 150)]):
        rules.append(_rule(f"basket-{amount}", "bonus", 50 + n, points=pts, min_amount=amount))
    rules.append(_rule("every-5th", "bonus", 60, points=30, every_nth_purchase=5))
    rules.append(_rule("every-10th", "bonus", 61, points=80, every_nth_purchase=10))
    rules.append(_rule("welcome", "bonus", 70, points=100, first_purchase=True))
    rules.append(
        _rule(
            "birthday-gift",
            "bonus",
            40,
            points=200,
            when={"birthday": {"days_before": 3, "days_after": 3}},
            limits={"per_member_month": 200},
        )
    )
    rules.append(
        _rule(
            "birthday-x2",
            "multiplier",
            38,
            factor=2,
            when={"birthday": {"days_before": 0, "days_after": 0}},
            limits={"per_member_month": 1000},
        )
    )
    rules.append(
        _rule(
            "march-8",
            "bonus",
            41,
            points=100,
            when={
                "dates": [{"from": "2026-03-08", "to": "2026-03-08"}],
                "member": {"gender": "female"},
            },
        )
    )
    rules.append(
        _rule(
            "dairy-basket",
            "bonus",
            45,
            points=25,
            min_amount="500",
            scope={"categories": ["dairy"]},
            limits={"budget": 1_000_000},
        )
    )
    rules.append(
        _rule(
            "store-opening",
            "bonus",
            46,
            points=50,
            when={"stores": ["s7", "s8"], "dates": [{"from": "2026-04-01", "to": "2026-04-30"}]},
        )
    )
    # pilots
    rules.append(
        _rule(
            "app-pilot",
            "rate",
            200,
            visible=False,
            rate={"percent": 2},
            when={"channels": ["app"]},
            pilot={"share_percent": 10},
            limits={"per_member_day": 200},
        )
    )
    rules.append(
        _rule(
            "store-pilot",
            "multiplier",
            39,
            factor="1.3",
            pilot={"stores": ["s1", "s2", "s3"], "share_percent": 50},
        )
    )
    rules.append(
        _rule(
            "household-pilot",
            "rate",
            75,
            rate={"points": 2, "per": "100"},
            scope={"categories": ["household"]},
            pilot={"stores": ["s4", "s5", "s6", "s7", "s8"]},
            limits={"per_purchase": 40},
        )
    )
    assert len(rules) == 50, len(rules)
    return {
        "schema_version": 1,
        "version": 7,
        "currency": "RUB",
        "exclude": {"categories": ["tobacco", "alcohol", "gift_cards"]},
        "rules": rules,
        "redemption": {
            "point_value": "1.00",
            "min_purchase": "100",
            "max_percent": 30,
            "step": 10,
            "exclude": {"categories": ["tobacco", "alcohol", "gift_cards"], "discounted": True},
        },
    }


def ruleset() -> RuleSet:
    """The document compiled, as the services would hold it."""
    return parse_ruleset(json.dumps(document()), "json")


def program() -> Program:
    """A RUB program, 1 point = 1 RUB, rounding down, Moscow time."""
    return Program(
        id=1,
        code="bench",
        name="Bench",
        point_value_minor=100,
        rounding=Rounding.DOWN,
        timezone="Europe/Moscow",
    )


def members(rng: random.Random, count: int) -> list[MemberContext]:
    """Varied members: tiers, segments, attributes, birthdays, spend and purchase counts."""
    out: list[MemberContext] = []
    for n in range(count):
        segments = frozenset(s for s in SEGMENTS if rng.random() < 0.2)
        attributes: dict[str, object] = {"gender": rng.choice(("female", "male"))}
        if rng.random() < 0.3:
            attributes["has_pet"] = True
        birthday = date(1960 + rng.randrange(45), rng.randint(1, 12), rng.randint(1, 28))
        out.append(
            MemberContext(
                member_id=str(100_000 + n),
                tier=rng.choice(TIERS),
                attributes=attributes,
                segments=segments,
                birthday=birthday if rng.random() < 0.8 else None,
                lifetime_spend_minor=rng.randrange(0, 50_000_000),
                purchase_count=0 if rng.random() < 0.05 else rng.randrange(1, 300),
            )
        )
    return out


def baskets(rng: random.Random, count: int, lines: int = LINES) -> list[Basket]:
    """Baskets of ``lines`` lines over the first half of 2026, at any hour, varied stores."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    out: list[Basket] = []
    for _ in range(count):
        basket_lines = []
        for n in range(lines):
            sku = rng.randrange(400)
            tags = frozenset(t for t in TAGS if rng.random() < 0.08)
            basket_lines.append(
                BasketLine(
                    line_id=str(n + 1),
                    sku=f"SKU{sku:04d}",
                    quantity=Decimal(rng.randint(1, 3)),
                    amount_minor=rng.randrange(1_000, 250_000),
                    category=CATEGORIES[sku % len(CATEGORIES)],
                    brand=BRANDS[sku // len(CATEGORIES) % len(BRANDS)],
                    discounted=rng.random() < 0.1,
                    tags=tags,
                )
            )
        out.append(
            Basket(
                lines=tuple(basket_lines),
                occurred_at=start + timedelta(minutes=rng.randrange(181 * 24 * 60)),
                store=rng.choice(STORES),
                channel=rng.choice((Channel.TILL, Channel.TILL, Channel.APP, Channel.WEB)),
                payment_method=rng.choice(("cash", "card", "partner-card")),
            )
        )
    return out


def usage(rng: random.Random, rules: RuleSet) -> UsageCounters:
    """Counters for the capped rules, some close to their caps."""
    capped = [r for r in rules.rules if r.capped]
    return UsageCounters(
        points_today={r.id: rng.randrange(250) for r in capped if r.per_member_day},
        points_this_month={r.id: rng.randrange(1200) for r in capped if r.per_member_month},
        budget_used={r.id: rng.randrange(r.budget) for r in capped if r.budget},
    )


def workload(
    seed: int = 20260614, count: int = 1000
) -> list[tuple[Basket, MemberContext, UsageCounters]]:
    """``count`` deterministic (basket, member, usage) triples."""
    rng = random.Random(seed)
    rules = ruleset()
    people = members(rng, 200)
    counters = [usage(rng, rules) for _ in range(20)]
    return [(b, rng.choice(people), rng.choice(counters)) for b in baskets(rng, count)]


def measure(seconds: float, rules: RuleSet, prog: Program, work: list[Any]) -> tuple[float, float]:
    """Baskets per second of CPU time and of wall time, over at least ``seconds`` of
    evaluating the workload in a loop. CPU time is the headline figure: on a shared machine
    it does not count the time other processes held the core."""
    done = 0
    wall, cpu = time.perf_counter(), time.process_time()
    deadline = wall + seconds
    while True:
        for basket, member, counters in work:
            evaluate_purchase(rules, prog, basket, member, usage=counters)
        done += len(work)
        now = time.perf_counter()
        if now >= deadline:
            return done / (time.process_time() - cpu), done / (now - wall)


def pin_to_one_core() -> None:
    """Keep the process on one CPU so the figure is a single-core one."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def machine() -> str:
    """The CPU model and architecture, as far as the platform tells."""
    try:
        for text in Path("/proc/cpuinfo").read_text().splitlines():
            if text.startswith("model name"):
                return f"{text.split(':', 1)[1].strip()} ({platform.machine()})"
    except OSError:
        pass
    return f"{platform.processor() or platform.machine()} ({platform.system()})"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=2.0, help="length of one repeat")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    pin_to_one_core()
    rules, prog, work = ruleset(), program(), workload()
    measure(min(1.0, args.seconds), rules, prog, work)  # warm-up
    runs = [measure(args.seconds, rules, prog, work) for _ in range(args.repeats)]
    result = {
        "baskets_per_s": round(statistics.median(cpu for cpu, _ in runs)),
        "wall_baskets_per_s": round(statistics.median(wall for _, wall in runs)),
        "runs_cpu": [round(cpu) for cpu, _ in runs],
        "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "lines": LINES,
        "rules": len(rules.rules),
        "compiled": COMPILED,  # the optional mypyc kernel (make compile) or plain Python
        "python": platform.python_version(),
        "machine": machine(),
        "command": " ".join(
            ["python -m bench.bench_rules", *(sys.argv[1:] if argv is None else argv)]
        ),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
