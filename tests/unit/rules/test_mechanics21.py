"""Table-driven cases of the earning mechanics of issue 21: conditions on the purchase
amount and on quantities, ``{not: [...]}`` on list conditions and scopes, points per unit,
promo codes, tenders and the shop's order discount."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from kopilka.domain.basket import Basket, BasketLine
from kopilka.domain.errors import PromoCodeInvalid, ValidationError
from kopilka.domain.rules import evaluate_purchase
from kopilka.domain.rules.payments import (
    apply_order_discount,
    check_payments,
    check_promo_codes,
    effective_basket,
    main_tender,
    order_discount_by_line,
)
from tests.unit.rules.factories import basket, line, member, program, rules

BASE = """
rules:
  - id: base
    kind: rate
    rate: {points: 1, per: "100"}
"""


@dataclass(frozen=True)
class Case:
    """A rules document (its ``rules:`` body), a basket and the points expected per line."""

    name: str
    body: str
    lines: tuple[BasketLine, ...]
    expected: dict[str, int]
    basket: dict[str, Any] = field(default_factory=dict)
    member: dict[str, Any] = field(default_factory=dict)
    discounts: dict[str, int] = field(default_factory=dict)


def doc(*rule_texts: str, extra: str = "") -> str:
    return "rules:\n" + "".join(rule_texts) + extra


RATE_5 = """
  - id: five
    kind: rate
    rate: {percent: 5}
"""

CASES = [
    # --- 1. conditions on any rule -----------------------------------------------------------
    Case(
        "rate from a purchase amount: below the minimum",
        doc(RATE_5.rstrip() + '\n    when: {purchase_amount: {min: "1000"}}\n'),
        (line("a", 999),),
        {},
    ),
    Case(
        "rate from a purchase amount: at the minimum",
        doc(RATE_5.rstrip() + '\n    when: {purchase_amount: {min: "1000"}}\n'),
        (line("a", 600), line("b", 400)),
        {"a": 30, "b": 20},
    ),
    Case(
        "rate under a maximum purchase amount (exclusive)",
        doc(RATE_5.rstrip() + '\n    when: {purchase_amount: {max: "1000"}}\n'),
        (line("a", 1000),),
        {},
    ),
    Case(
        "multiplier from a purchase amount",
        doc(
            RATE_5,
            """
  - id: x2
    kind: multiplier
    factor: 2
    when: {purchase_amount: {min: "500"}}
""",
        ),
        (line("a", 500),),
        {"a": 50},
    ),
    Case(
        "from 3 packs of a SKU: 2 packs are not enough",
        doc(
            RATE_5,
            """
  - id: packs
    kind: bonus
    points: 10
    when: {quantity: {min: 3, skus: [milk]}}
""",
        ),
        (line("a", 100, sku="milk", quantity=Decimal(2)), line("b", 100)),
        {"a": 5, "b": 5},
    ),
    Case(
        "from 3 packs of a category, over two lines",
        doc(
            """
  - id: packs
    kind: bonus
    points: 10
    when: {quantity: {min: 3, categories: [dairy]}}
""",
        ),
        (
            line("a", 100, category="dairy", quantity=Decimal(2)),
            line("b", 100, category="dairy", sku="kefir"),
        ),
        {"a": 5, "b": 5},
    ),
    Case(
        "every store but the listed: the listed store earns nothing",
        doc(RATE_5.rstrip() + "\n    when: {stores: {not: [s-13]}}\n"),
        (line("a", 100),),
        {},
        basket={"store": "s-13"},
    ),
    Case(
        "every store but the listed: another store earns",
        doc(RATE_5.rstrip() + "\n    when: {stores: {not: [s-13]}}\n"),
        (line("a", 100),),
        {"a": 5},
        basket={"store": "s-1"},
    ),
    Case(
        "not in the web channel",
        doc(RATE_5.rstrip() + "\n    when: {channels: {not: [web]}}\n"),
        (line("a", 100),),
        {},
        basket={"channel": "web"},
    ),
    Case(
        "not for a tier",
        doc(RATE_5.rstrip() + "\n    when: {tiers: {not: [gold]}}\n"),
        (line("a", 100),),
        {"a": 5},
        member={"tier": "silver"},
    ),
    Case(
        "not for a segment",
        doc(RATE_5.rstrip() + "\n    when: {segments: {not: [staff]}}\n"),
        (line("a", 100),),
        {},
        member={"segments": frozenset({"staff", "vip"})},
    ),
    Case(
        "not for a payment method or partner",
        doc(
            RATE_5.rstrip()
            + "\n    when: {payment_methods: {not: [cash]}, partners: {not: [p-1]}}\n"
        ),
        (line("a", 100),),
        {"a": 5},
        basket={"payment_method": "card", "partner": "p-2"},
    ),
    Case(
        "every category but tobacco",
        doc(RATE_5.rstrip() + "\n    scope: {categories: {not: [tobacco]}}\n"),
        (line("a", 100, category="tobacco"), line("b", 100)),
        {"b": 5},
    ),
    Case(
        "a brand but not its SKU",
        doc(
            RATE_5.rstrip() + "\n    scope: {brands: [acme], skus: {not: [sku-b]}}\n",
        ),
        (line("a", 100), line("b", 100), line("c", 100, brand="other")),
        {"a": 5},
    ),
    Case(
        "every tag but one, exclusive: the tagged line gets the next rate",
        doc(
            RATE_5.rstrip() + "\n    stacking: exclusive\n    priority: 1\n"
            "    scope: {tags: {not: [promo]}}\n",
            BASE.split("rules:\n")[1],
        ),
        (line("a", 100, tags=frozenset({"promo"})), line("b", 200)),
        {"a": 1, "b": 10},
    ),
    # --- 2. points per unit ------------------------------------------------------------------
    Case(
        "points per unit times quantity, beside a rate",
        doc(
            BASE.split("rules:\n")[1],
            """
  - id: per-pack
    kind: rate
    rate: {points: 7, per_unit: true}
    scope: {skus: [milk]}
""",
        ),
        (line("a", 300, sku="milk", quantity=Decimal(3)), line("b", 100)),
        {"a": 24, "b": 1},
    ),
    Case(
        "points per unit on a weighed line round down",
        doc(
            """
  - id: per-kg
    kind: rate
    rate: {points: 10, per_unit: true}
""",
        ),
        (line("a", 100, quantity=Decimal("0.375")),),
        {"a": 3},
    ),
    Case(
        "points per unit, doubled by a multiplier, capped per purchase",
        doc(
            """
  - id: per-pack
    kind: rate
    rate: {points: 5, per_unit: true}
    limits: {per_purchase: 12}
  - id: x2
    kind: multiplier
    factor: 2
""",
        ),
        (line("a", 100, quantity=Decimal(2)), line("b", 100, quantity=Decimal(2))),
        {"a": 12, "b": 12},
    ),
    Case(
        "points per unit: a line paid wholly with points earns none",
        doc("\n  - id: u\n    kind: rate\n    rate: {points: 5, per_unit: true}\n"),
        (line("a", 100), line("b", 100)),
        {"b": 5},
        discounts={"a": 10000},
    ),
    # --- 3. promo codes ----------------------------------------------------------------------
    Case(
        "a rule a promo code unlocks: without the code",
        doc(
            RATE_5.rstrip() + "\n    when: {promo_code: SPRING}\n",
            extra="promo_codes:\n  - {code: SPRING}\n",
        ),
        (line("a", 100),),
        {},
    ),
    Case(
        "a rule a promo code unlocks: with the code",
        doc(
            RATE_5.rstrip() + "\n    when: {promo_code: SPRING}\n",
            extra="promo_codes:\n  - {code: SPRING}\n",
        ),
        (line("a", 100),),
        {"a": 5},
        basket={"promo_codes": frozenset({"SPRING", "OTHER"})},
    ),
    # --- 4. tenders --------------------------------------------------------------------------
    Case(
        "no points on the part paid by gift card",
        doc(RATE_5.rstrip() + "\n    tenders: {not: [gift_card]}\n"),
        (line("a", 300), line("b", 100)),
        {"a": 11, "b": 4},  # 5 % of the 300 RUB paid by card, spread by amount
        basket={"payments": (("gift_card", 10000), ("card", 30000))},
    ),
    Case(
        "+5 % on the part paid by SBP, beside the base rate",
        doc(
            BASE.split("rules:\n")[1],
            RATE_5.rstrip().replace("five", "sbp") + "\n    tenders: [sbp]\n",
        ),
        (line("a", 1000),),
        {"a": 10 + 20},
        basket={"payments": (("sbp", 40000), ("cash", 60000))},
    ),
    Case(
        "a tender rate with no payments: the payment method pays it all",
        doc(RATE_5.rstrip() + "\n    tenders: [sbp]\n"),
        (line("a", 100),),
        {"a": 5},
        basket={"payment_method": "sbp"},
    ),
    Case(
        "a tender rate with no payments and no payment method earns nothing",
        doc(RATE_5.rstrip() + "\n    tenders: [sbp]\n"),
        (line("a", 100),),
        {},
    ),
    Case(
        "the points part never earns on a tender rate either",
        doc(RATE_5.rstrip() + "\n    tenders: {not: [gift_card]}\n"),
        (line("a", 200),),
        {"a": 5},
        basket={"payments": (("points", 10000), ("card", 10000))},
        discounts={"a": 10000},
    ),
    Case(
        "an excluded line takes its share of each tender",
        doc(
            RATE_5.rstrip() + "\n    tenders: [card]\n", extra="exclude: {categories: [tobacco]}\n"
        ),
        (line("a", 100, category="tobacco"), line("b", 100)),
        {"b": 2},
        basket={"payments": (("card", 10000), ("cash", 10000))},
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_mechanics(case: Case) -> None:
    """Each mechanic gives the points expected per line."""
    ruleset = rules(case.body)
    result = evaluate_purchase(
        ruleset,
        program(),
        basket(*case.lines, **case.basket),
        member(**case.member),
        points_redeemed_discount_by_line=case.discounts or None,
    )
    assert result.points_by_line() == case.expected


# --- the document: every new field is checked with its line and field ----------------------


R5 = "rules:\n  - id: r\n    kind: rate\n    rate: {percent: 5}\n"


@pytest.mark.parametrize(
    ("body", "path", "message"),
    [
        (R5 + "    tenders: []\n", "rules[0].tenders", "at least one tender"),
        (
            "rules:\n  - id: r\n    kind: rate\n    rate: {points: 1, per_unit: true}\n"
            "    tenders: [card]\n",
            "rules[0]",
            "a per_unit rate counts units",
        ),
        (
            R5 + "    when: {stores: {nott: [a]}}\n",
            "rules[0].when.stores.not",
            "",
        ),
        (
            R5 + "    when: {channels: {not: [fax]}}\n",
            "rules[0].when.channels.not[0]",
            "",
        ),
        (
            R5 + "    when: {stores: {not: []}}\n",
            "rules[0].when.stores.not",
            "",
        ),
        (
            "rules:\n  - id: r\n    kind: rate\n    rate: {points: 1, per_unit: true, per: '1'}\n",
            "rules[0].rate",
            "per_unit goes with points alone",
        ),
        (
            R5 + "    when: {promo_code: NOPE}\n",
            "rules[0].when.promo_code",
            "unknown promo code 'NOPE'",
        ),
        (
            R5 + "    tenders: [points]\n",
            "rules[0].tenders",
            "the part paid with points never earns",
        ),
        (
            R5 + "    tenders: [bitcoin]\n",
            "rules[0].tenders[0]",
            "",
        ),
        (
            R5 + "    when: {quantity: {min: 0}}\n",
            "rules[0].when.quantity.min",
            "",
        ),
        (
            R5 + "    when: {purchase_amount: {min: '1.001'}}\n",
            "rules[0].when.purchase_amount.min",
            "decimal places",
        ),
        (
            "rules:\n  - id: e\n    kind: event\n    event: review\n    points: 5\n"
            "    when: {purchase_amount: {min: '1'}}\n",
            "rules[0].when.purchase_amount",
            "only a purchase rule",
        ),
        ("promo_codes:\n  - {code: A}\n  - {code: A}\n", "promo_codes[1].code", "duplicate"),
        ("promo_codes:\n  - {code: spring}\n", "promo_codes[0].code", ""),
        ("promo_codes:\n  - {code: A, total: 0}\n", "promo_codes[0].total", ""),
        (
            "promo_codes:\n  - {code: A, valid: {from: 2026-02-01, to: 2026-01-01}}\n",
            "promo_codes[0].valid",
            "'to' must not be before 'from'",
        ),
    ],
)
def test_document_errors(body: str, path: str, message: str) -> None:
    """A wrong new field is refused with its line and its path."""
    with pytest.raises(ValidationError) as caught:
        rules(body)
    errors = caught.value.details["errors"]
    assert any(e["path"] == path and message in e["message"] for e in errors), errors
    assert all(e["line"] >= 1 for e in errors)


# --- promo codes, payments and the order discount outside the engine -------------------------

CODES = rules(
    """
    promo_codes:
      - {code: SPRING, valid: {from: 2026-03-01, to: 2026-03-31}, per_member: 1, total: 100}
      - {code: ANY}
    """
)


@pytest.mark.parametrize(
    ("codes", "day", "reason"),
    [
        ({"NOPE"}, date(2026, 3, 10), "unknown"),
        ({"SPRING"}, date(2026, 2, 28), "not_yet_valid"),
        ({"SPRING"}, date(2026, 4, 1), "expired"),
        ({"ANY", "SPRING"}, date(2026, 4, 1), "expired"),
        ({"SPRING", "ANY"}, date(2026, 3, 31), None),
    ],
)
def test_promo_codes_are_checked(codes: set[str], day: date, reason: str | None) -> None:
    """An unknown code, or one outside its dates, is refused with its reason."""
    if reason is None:
        assert [s.code for s in check_promo_codes(CODES, codes, day)] == ["ANY", "SPRING"]
        return
    with pytest.raises(PromoCodeInvalid) as caught:
        check_promo_codes(CODES, codes, day)
    assert caught.value.code == "promo_code_invalid"
    assert caught.value.details["reason"] == reason


def test_no_rules_means_no_promo_code() -> None:
    """Without published rules, every code is unknown."""
    with pytest.raises(PromoCodeInvalid):
        check_promo_codes(None, {"SPRING"}, date(2026, 3, 1))


@pytest.mark.parametrize(
    ("discount", "amounts", "expected"),
    [
        (0, (100, 200), {}),
        (300, (100, 200), {"1": 100, "2": 200}),
        (100, (100, 200), {"1": 33, "2": 67}),
        (1, (100, 100), {"1": 1}),
        (10000, (100, 200, 300), {"1": 1667, "2": 3333, "3": 5000}),
    ],
)
def test_order_discount_spreads_exactly(
    discount: int, amounts: tuple[int, ...], expected: dict[str, int]
) -> None:
    """The order discount is spread by amount, summing exactly to it, ties to the first line
    in the canonical order."""
    lines = [line(str(n + 1), rub) for n, rub in enumerate(amounts)]
    the_basket = basket(*lines, order_discount_minor=discount)
    shares = order_discount_by_line(the_basket)
    assert shares == expected
    assert sum(shares.values()) == discount
    applied = apply_order_discount(the_basket)
    assert applied.total_minor == the_basket.total_minor - discount
    assert applied.order_discount_minor == 0


def test_order_discount_above_the_total_is_refused() -> None:
    """A discount larger than the lines cost is an error of the request."""
    with pytest.raises(ValidationError):
        order_discount_by_line(basket(line("1", 10), order_discount_minor=1001))


def test_lines_earn_on_what_is_left_after_the_order_discount() -> None:
    """1 point per full 100 RUB on 300 RUB less a 150 RUB order discount: 1 point."""
    applied = effective_basket(basket(line("1", 100), line("2", 200), order_discount_minor=15000))
    result = evaluate_purchase(rules(BASE), program(), applied, member())
    assert result.total_points == 1


@pytest.mark.parametrize(
    ("payments", "points_discount", "error"),
    [
        ((), 0, None),
        ((("card", 20000),), 0, None),
        ((("card", 10000), ("sbp", 10000)), 0, None),
        ((("card", 15000),), 5000, None),
        ((("card", 15000), ("points", 5000)), 5000, None),
        ((("card", 15000), ("points", 4000)), 5000, "the points payment"),
        ((("card", 19999),), 0, "add up to"),
        ((("card", 20000),), 5000, "add up to"),
        ((("cheque", 20000),), 0, "unknown tender"),
    ],
)
def test_payments_must_pay_what_is_due(
    payments: tuple[tuple[str, int], ...], points_discount: int, error: str | None
) -> None:
    """The money tenders add up to what is due after points; a points payment is the
    points discount."""
    the_basket = basket(line("1", 200), payments=payments)
    if error is None:
        check_payments(the_basket, points_discount, "RUB")
        return
    with pytest.raises(ValidationError, match=error):
        check_payments(the_basket, points_discount, "RUB")


def test_the_main_tender_is_the_payment_method() -> None:
    """With payments only, the money tender that paid the most is the payment method."""
    assert main_tender((("points", 900), ("card", 100), ("sbp", 300))) == "sbp"
    assert main_tender((("points", 900),)) is None
    applied = effective_basket(basket(line(), payments=(("cash", 4000), ("card", 6000))))
    assert applied.payment_method == "card"
    kept = effective_basket(basket(line(), payments=(("cash", 10000),), payment_method="mixed"))
    assert kept.payment_method == "mixed"


def test_negation_survives_line_order() -> None:
    """A negated scope gives the same points whatever the order of the lines."""
    ruleset = rules(doc(RATE_5.rstrip() + "\n    scope: {categories: {not: [tobacco]}}\n"))
    lines = [line("a", 100, category="tobacco"), line("b", 250), line("c", 75)]
    first = evaluate_purchase(ruleset, program(), basket(*lines), member())
    second = evaluate_purchase(ruleset, program(), basket(*reversed(lines)), member())
    assert first.points_by_line() == second.points_by_line() == {"b": 12, "c": 4}


def test_basket_refuses_a_negative_payment() -> None:
    """A payment below zero is not a payment."""
    with pytest.raises(ValidationError):
        Basket(lines=(line(),), occurred_at=basket().occurred_at, payments=(("card", -1),))
