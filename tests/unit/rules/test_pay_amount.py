"""Paying an amount of money with points, and the minimum balance before paying at all."""

from __future__ import annotations

import pytest

from kopilka.domain.errors import RedemptionNotAllowed, ValidationError
from kopilka.domain.rules import check_balance, max_redeemable, points_for_amount

from .factories import basket, line, program, rules

STEPPED = """
redemption:
  min_points: 10
  max_points: 500
  max_percent: 50
  step: 10
  min_balance: 100
"""


@pytest.mark.parametrize(
    ("amount_minor", "available", "point_value", "expected"),
    [
        pytest.param(5000, 1000, 100, 50, id="50-rub-at-1-rub-a-point"),
        pytest.param(5500, 1000, 100, 60, id="rounded-up-to-the-step"),
        pytest.param(5001, 1000, 100, 60, id="a-kopeck-over-is-a-step-more"),
        pytest.param(5000, 1000, 50, 100, id="half-rouble-points"),
        pytest.param(5000, 1000, 30, 170, id="points-rounded-up-then-step"),
        pytest.param(90_000, 10_000, 100, 500, id="capped-by-max-points"),
        pytest.param(5000, 135, 100, 50, id="balance-enough"),
        pytest.param(20_000, 135, 100, 130, id="capped-by-balance-in-steps"),
        pytest.param(100, 1000, 100, 10, id="raised-to-one-step"),
    ],
)
def test_points_for_amount(
    amount_minor: int, available: int, point_value: int, expected: int
) -> None:
    """The points pay at least the amount: rounded up to the step, then capped by limits."""
    prog = program(point_value_minor=point_value)
    got = points_for_amount(amount_minor, basket(line("1", 2000)), rules(STEPPED), prog, available)
    assert got == expected


@pytest.mark.parametrize(
    ("amount_minor", "available", "doc", "fragment"),
    [
        pytest.param(0, 1000, STEPPED, "positive", id="zero-amount"),
        pytest.param(5000, 99, STEPPED, "at least 100 points", id="below-min-balance"),
        pytest.param(
            5000, 1000, "redemption: {enabled: false}\n", "does not accept", id="disabled"
        ),
        pytest.param(
            5000, 1000, "redemption: {min_purchase: '5000'}\n", "below the minimum", id="min-buy"
        ),
        pytest.param(
            5000, 5, "redemption: {min_points: 10}\n", "too few points", id="too-few-points"
        ),
        pytest.param(
            100, 1000, "redemption: {min_points: 10}\n", "at least 10 points", id="below-min"
        ),
    ],
)
def test_amount_not_payable(amount_minor: int, available: int, doc: str, fragment: str) -> None:
    """An amount points cannot pay is refused with the reason."""
    with pytest.raises(RedemptionNotAllowed, match=fragment):
        points_for_amount(amount_minor, basket(line("1", 2000)), rules(doc), program(), available)


@pytest.mark.parametrize(
    ("available", "expected"),
    [
        pytest.param(99, 0, id="below"),
        pytest.param(100, 100, id="exactly"),
        pytest.param(400, 400, id="above"),
    ],
)
def test_min_balance_gates_max_redeemable(available: int, expected: int) -> None:
    """Below ``min_balance`` nothing is payable; from it on, the usual ceiling applies."""
    ceiling = max_redeemable(basket(line("1", 2000)), rules(STEPPED), program(), available)
    assert ceiling == expected


def test_min_balance_refusal_names_the_minimum() -> None:
    """The refusal says how many points are needed and how many the member has."""
    with pytest.raises(RedemptionNotAllowed, match=r"at least 100 points.*has 40") as info:
        check_balance(rules(STEPPED), 40)
    assert info.value.details["min_balance"] == 100
    check_balance(rules(STEPPED), 100)  # enough: no error


@pytest.mark.parametrize(
    ("doc", "path"),
    [
        pytest.param("redemption:\n  min_balance: 0\n", "redemption.min_balance", id="zero"),
        pytest.param("redemption:\n  min_balance: '5'\n", "redemption.min_balance", id="text"),
    ],
)
def test_min_balance_validated_with_line(doc: str, path: str) -> None:
    """A bad ``min_balance`` is reported at its line and field."""
    with pytest.raises(ValidationError) as info:
        rules(doc)
    (error,) = info.value.details["errors"]
    assert (error["line"], error["path"]) == (2, path)
