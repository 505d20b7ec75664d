"""Paying with points: the most a basket accepts and the exact per-line discount."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kopilka.domain.errors import RedemptionNotAllowed
from kopilka.domain.rules import evaluate_purchase, max_redeemable, spread_discount

from .factories import basket, line, member, program, rules

POLICY = """
rules:
  - {id: five, kind: rate, rate: {percent: 5}}
redemption:
  min_purchase: "100"
  min_points: 10
  max_points: 5000
  max_percent: 20
  step: 10
  exclude: {categories: [tobacco], discounted: true}
"""


@pytest.mark.parametrize(
    ("lines_", "available", "expected"),
    [
        pytest.param([line("1", 1000)], 10_000, 200, id="20pct-of-1000"),
        pytest.param([line("1", 1000)], 155, 150, id="balance-in-steps-of-10"),
        pytest.param([line("1", 1000)], 9, 0, id="below-min-points"),
        pytest.param([line("1", 99)], 10_000, 0, id="below-min-purchase"),
        pytest.param([line("1", 100_000)], 10**6, 5000, id="max-points"),
        pytest.param(
            [line("1", 1000, category="tobacco"), line("2", 100)],
            10**6,
            100,
            id="only-eligible-items",
        ),
        pytest.param([line("1", 1000, discounted=True)], 10**6, 0, id="discounted-excluded"),
    ],
)
def test_max_redeemable(lines_: list[object], available: int, expected: int) -> None:
    """The ceiling respects percent, steps, balance, min/max points and excluded items."""
    assert max_redeemable(basket(*lines_), rules(POLICY), program(), available) == expected


def test_golden_five_percent_earned_twenty_percent_payable() -> None:
    """Golden: 5% back in points; up to 20% of the next purchase payable with points."""
    ruleset, prog = rules(POLICY), program()
    earned = evaluate_purchase(ruleset, prog, basket(line("1", 2000)), member()).total_points
    assert earned == 100
    next_basket = basket(line("1", 400))
    assert max_redeemable(next_basket, ruleset, prog, earned) == 80
    discount = spread_discount(80, next_basket, ruleset, prog)
    assert discount == {"1": 8000}
    after = evaluate_purchase(
        ruleset, prog, next_basket, member(), points_redeemed_discount_by_line=discount
    )
    assert after.total_points == 16  # 5% of the 320 RUB paid in money


@pytest.mark.parametrize(
    ("points", "fragment"),
    [
        pytest.param(15, "steps of 10", id="not-a-step"),
        pytest.param(0, "positive", id="zero"),
        pytest.param(210, "20%", id="over-percent"),
    ],
)
def test_spread_refuses_points_that_break_rules(points: int, fragment: str) -> None:
    """Spreading points the rules refuse raises RedemptionNotAllowed with the reason."""
    with pytest.raises(RedemptionNotAllowed, match=fragment):
        spread_discount(points, basket(line("1", 1000)), rules(POLICY), program())


def test_min_points_refused_with_clear_message() -> None:
    """Too few points at once is refused, naming the minimum."""
    doc = "redemption: {min_points: 50, step: 10}\n"
    with pytest.raises(RedemptionNotAllowed, match="at least 50"):
        spread_discount(40, basket(line("1", 1000)), rules(doc), program())


def test_max_item_percent_caps_each_line() -> None:
    """No line is paid with points beyond its max_item_percent share."""
    doc = "redemption: {max_item_percent: 50}\n"
    the_basket = basket(line("a", 100), line("b", 300))
    assert max_redeemable(the_basket, rules(doc), program(), 10**6) == 200
    assert spread_discount(200, the_basket, rules(doc), program()) == {"a": 5000, "b": 15000}


def test_disabled_redemption() -> None:
    """A program that does not accept points refuses every spend."""
    doc = "redemption: {enabled: false}\n"
    assert max_redeemable(basket(), rules(doc), program(), 100) == 0
    with pytest.raises(RedemptionNotAllowed, match="does not accept"):
        spread_discount(1, basket(), rules(doc), program())


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 1_000_000), st.booleans(), st.sampled_from(["a", "tobacco"])),
        min_size=1,
        max_size=15,
    ),
    st.integers(1, 100),
    st.data(),
)
def test_spread_sums_exactly_and_never_exceeds_a_line(
    rows: list[tuple[int, bool, str]], value: int, data: st.DataObject
) -> None:
    """The discount sums to points x value, fits every line's capacity and is order-free."""
    doc = (
        "redemption: {max_percent: 50, max_item_percent: 80, "
        "exclude: {categories: [tobacco], discounted: true}}\n"
    )
    ruleset, prog = rules(doc), program(point_value_minor=value)
    lines_ = [
        line(f"l{i}", 0, amount_minor=a, discounted=d, category=c)
        for i, (a, d, c) in enumerate(rows)
    ]
    the_basket = basket(*lines_)
    ceiling = max_redeemable(the_basket, ruleset, prog, 10**12)
    if ceiling == 0:
        return
    points = data.draw(st.integers(1, ceiling))
    discount = spread_discount(points, the_basket, ruleset, prog)
    assert sum(discount.values()) == points * value
    for the_line in lines_:
        part = discount[the_line.line_id]
        assert 0 <= part <= the_line.amount_minor * 80 // 100
        if the_line.discounted or the_line.category == "tobacco":
            assert part == 0
    assert spread_discount(points, basket(*reversed(lines_)), ruleset, prog) == discount
