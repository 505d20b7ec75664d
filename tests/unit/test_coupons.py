"""Coupons on a basket (domain/coupons.py): each coupon's discount spread over its lines
exactly, and a coupon's discount and the points discount together on one basket, spread
exactly (a property test over random baskets, coupons and points)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kopilka.domain.basket import Basket, BasketLine
from kopilka.domain.coupons import apply_coupons
from kopilka.domain.errors import CouponInvalid
from kopilka.domain.money import Rounding
from kopilka.domain.program import Program
from kopilka.domain.rewards import CouponKind, CouponTerms
from kopilka.domain.rules import max_redeemable, parse_ruleset, spread_discount

AT = datetime(2026, 6, 10, 9, 0, tzinfo=UTC)
PROGRAM = Program(
    id=1,
    code="t",
    name="T",
    currency="RUB",
    point_value_minor=100,
    rounding=Rounding.DOWN,
    timezone="Europe/Moscow",
)
RULES = parse_ruleset("rules: []\nredemption: {max_percent: 50}\n")
CATEGORIES = ("dairy", "bread", "fruit")


def _basket(amounts: list[tuple[int, str]]) -> Basket:
    return Basket(
        lines=tuple(
            BasketLine(
                line_id=str(n),
                sku=f"S{n}",
                quantity=Decimal(1),
                amount_minor=amount,
                category=category,
            )
            for n, (amount, category) in enumerate(amounts)
        ),
        occurred_at=AT,
    )


def test_percent_coupon_spread_to_the_kopeck() -> None:
    """10 % of three dairy lines of 333.33, 333.33, 333.34: 100.00 in parts 33.33, 33.33,
    33.34 (the remainder to the line first in the canonical order), bread untouched."""
    basket = _basket([(33_333, "dairy"), (33_333, "dairy"), (33_334, "dairy"), (20_000, "bread")])
    terms = CouponTerms(CouponKind.PERCENT, 10, 0, ("dairy",))
    net, [use] = apply_coupons(basket, [("C", 1, terms)], "RUB")
    assert use.discount_minor == 10_000
    assert use.by_line == {"0": 3_333, "1": 3_333, "2": 3_334}
    assert [ln.amount_minor for ln in net.lines] == [30_000, 30_000, 30_000, 20_000]


def test_minimum_basket_is_the_basket_before_coupons() -> None:
    """Two coupons each with a 1000.00 minimum on a 1000.00 basket: both apply (the second
    is not measured on what the first left)."""
    basket = _basket([(100_000, "dairy")])
    terms = CouponTerms(CouponKind.FIXED, 10_000, 100_000)
    net, uses = apply_coupons(basket, [("A", 1, terms), ("B", 2, terms)], "RUB")
    assert [u.discount_minor for u in uses] == [10_000, 10_000]
    assert net.total_minor == 80_000
    with pytest.raises(CouponInvalid) as refused:
        apply_coupons(_basket([(99_999, "dairy")]), [("A", 1, terms)], "RUB")
    assert refused.value.details == {"reason": "min_basket", "code": "A"}


terms_strategy = st.builds(
    CouponTerms,
    kind=st.sampled_from([CouponKind.PERCENT, CouponKind.FIXED]),
    amount=st.integers(1, 100),
    min_basket_minor=st.just(0),
    categories=st.lists(st.sampled_from(CATEGORIES), max_size=2, unique=True).map(tuple),
).map(
    lambda t: (
        t
        if t.kind == CouponKind.PERCENT
        else CouponTerms(CouponKind.FIXED, t.amount * 997, 0, t.categories)
    )
)


@settings(max_examples=300, deadline=None)
@given(
    lines=st.lists(
        st.tuples(st.integers(1, 2_000_000), st.sampled_from(CATEGORIES)), min_size=1, max_size=12
    ),
    coupons=st.lists(terms_strategy, min_size=1, max_size=3),
    points=st.integers(0, 50_000),
)
def test_coupons_and_points_discount_spread_exactly(
    lines: list[tuple[int, str]], coupons: list[CouponTerms], points: int
) -> None:
    """Whatever the basket, coupons and points: each coupon's parts add up to its discount
    and sit only on its lines; no line goes below zero; the points discount then spreads
    over what the coupons left, adding up exactly to the points' value and never above a
    line's amount; every line ends at its amount less its coupon parts and points part."""
    basket = _basket(lines)
    given_terms = [(f"C{n}", n, t) for n, t in enumerate(coupons)]
    try:
        net, uses = apply_coupons(basket, given_terms, "RUB")
    except CouponInvalid as refused:
        # the one refusal possible here (no minimum): a coupon none of whose lines is left
        assert refused.details["reason"] == "no_lines"  # noqa: PT017
        return
    coupon_parts: dict[str, int] = {}
    for use, (_, _, terms) in zip(uses, given_terms, strict=True):
        assert sum(use.by_line.values()) == use.discount_minor
        for line_id, part in use.by_line.items():
            line = basket.lines[int(line_id)]
            assert not terms.categories or line.category in terms.categories
            assert part > 0
            coupon_parts[line_id] = coupon_parts.get(line_id, 0) + part
    for line, after in zip(basket.lines, net.lines, strict=True):
        assert after.amount_minor == line.amount_minor - coupon_parts.get(line.line_id, 0)
        assert after.amount_minor >= 0
    payable = max_redeemable(net, RULES, PROGRAM, points)
    if payable == 0:
        return
    paid = spread_discount(payable, net, RULES, PROGRAM)
    assert sum(paid.values()) == payable * PROGRAM.point_value_minor
    for line in net.lines:
        assert 0 <= paid.get(line.line_id, 0) <= line.amount_minor
    total_off = sum(coupon_parts.values()) + sum(paid.values())
    assert basket.total_minor - total_off == sum(
        ln.amount_minor - paid.get(ln.line_id, 0) for ln in net.lines
    )
