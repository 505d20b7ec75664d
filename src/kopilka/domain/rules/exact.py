"""Integer shortcuts for the engine's two Decimal computations, used only where they agree.

The documented results are those of Decimal arithmetic in the default context (28 significant
digits) followed by :func:`kopilka.domain.money.round_points`:

- a percent rate gives ``round(Decimal(amount) * percent / (100 * point value))``;
- a multiplier gives ``round(Decimal(base points) * (factor - 1))``.

Both are the rounding of a fraction of integers, which integer division computes exactly and
several times faster. The Decimal path rounds only when an intermediate result needs more than
28 digits, so the shortcut is taken only within bounds that rule this out: a coefficient of at
most 10 digits and a denominator of at most 10,000 for the percent or factor (every document
seen in practice), an amount below 10^12 minor units, a base below 10^17 points and a point
value of at most 10^9 minor units. Then the Decimal product is exact, and the Decimal quotient
is within 5e-17 of the exact one, while a fraction with a denominator of at most 10^15 that is
not itself an integer or a half lies at least 5e-16 from one, so every rounding mode lands on
the same whole number. Outside these bounds the Decimal path runs as before.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final

from kopilka.domain.money import Rounding, round_points

HUNDRED: Final = Decimal(100)
MAX_COEFFICIENT: Final = 10**10
MAX_DENOMINATOR: Final = 10**4
MAX_AMOUNT: Final = 10**12
MAX_BASE: Final = 10**17
MAX_POINT_VALUE: Final = 10**9


def ratio(value: Decimal) -> tuple[int, int] | None:
    """``value`` as a reduced fraction when it is within the shortcut's bounds, else ``None``."""
    digits = value.as_tuple().digits
    if len(digits) > len(str(MAX_COEFFICIENT)) - 1:
        return None
    numerator, denominator = value.as_integer_ratio()
    if denominator > MAX_DENOMINATOR:
        return None
    return numerator, denominator


def round_fraction(numerator: int, denominator: int, mode: Rounding) -> int:
    """``numerator / denominator`` (both >= 0) rounded to a whole number by ``mode``."""
    if mode is Rounding.DOWN:
        return numerator // denominator
    if mode is Rounding.UP:
        return -(-numerator // denominator)
    return (2 * numerator + denominator) // (2 * denominator)  # half up, away from zero


def percent_points(
    amount: int,
    percent: Decimal,
    fraction: tuple[int, int] | None,
    point_value: int,
    mode: Rounding,
) -> int:
    """Points for ``percent`` of ``amount`` minor units at ``point_value`` minor units a point."""
    if fraction is not None and amount < MAX_AMOUNT and point_value <= MAX_POINT_VALUE:
        numerator, denominator = fraction
        return round_fraction(amount * numerator, denominator * 100 * point_value, mode)
    return round_points(Decimal(amount) * percent / (HUNDRED * point_value), mode)


def extra_points(
    base: int, extra: Decimal, fraction: tuple[int, int] | None, mode: Rounding
) -> int:
    """A multiplier's points on ``base`` points: ``extra`` is its ``factor - 1``."""
    if fraction is not None and base < MAX_BASE:
        numerator, denominator = fraction
        return round_fraction(base * numerator, denominator, mode)
    return round_points(Decimal(base) * extra, mode)
