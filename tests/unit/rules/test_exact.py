"""The engine's fast paths agree exactly with the plain computations they replace."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from kopilka.domain.money import Rounding, round_points
from kopilka.domain.rules.allocation import allocate
from kopilka.domain.rules.conditions import _ordinal, birthday_distance, birthday_in_year
from kopilka.domain.rules.exact import HUNDRED, extra_points, percent_points, ratio

percents = st.decimals(
    min_value=Decimal("0.0001"), max_value=Decimal(100), places=4, allow_nan=False
)
factors = st.decimals(min_value=Decimal("1.0001"), max_value=Decimal(100), places=4)
modes = st.sampled_from(list(Rounding))


@given(st.integers(0, 10**13), percents, st.integers(1, 10**9), modes)
def test_percent_points_equal_the_decimal_formula(
    amount: int, percent: Decimal, value: int, mode: Rounding
) -> None:
    """Integer percent points equal round(amount x percent / (100 x value)) in Decimal."""
    expected = round_points(Decimal(amount) * percent / (HUNDRED * value), mode)
    assert percent_points(amount, percent, ratio(percent), value, mode) == expected


@given(st.integers(0, 10**18), factors, modes)
def test_multiplier_points_equal_the_decimal_formula(
    base: int, factor: Decimal, mode: Rounding
) -> None:
    """Integer multiplier points equal round(base x (factor - 1)) in Decimal."""
    extra = factor - 1
    assert extra_points(base, extra, ratio(extra), mode) == round_points(
        Decimal(base) * extra, mode
    )


def test_ratio_refuses_what_it_cannot_prove() -> None:
    """Percents with too many digits or too fine a denominator keep the Decimal path."""
    assert ratio(Decimal("2.5")) == (5, 2)
    assert ratio(Decimal("12345678901")) is None
    assert ratio(Decimal("0.00001")) is None


@given(
    st.dates(date(2001, 1, 1), date(2098, 12, 31)),
    st.dates(date(1904, 1, 1), date(2000, 12, 31)),
    st.integers(0, 31),
    st.integers(0, 31),
)
def test_birthday_distance_matches_the_window(
    today: date, birthday: date, before: int, after: int
) -> None:
    """since <= after or until <= before exactly when today is in the birthday window."""
    in_window = any(
        day - timedelta(days=before) <= today <= day + timedelta(days=after)
        for day in (
            birthday_in_year(birthday, y) for y in (today.year - 1, today.year, today.year + 1)
        )
    )
    since, until = birthday_distance(today, birthday)
    assert (since <= after or until <= before) is in_window


@given(st.integers(2, 9998), st.dates(date(2000, 1, 1), date(2000, 12, 31)))
def test_ordinal_arithmetic_equals_the_birthday_date(year: int, birthday: date) -> None:
    """The compiled birthday_distance's day numbers are those of birthday_in_year's dates
    (29 February on 28 February in common years)."""
    assert _ordinal(year, birthday.month, birthday.day) == (
        birthday_in_year(birthday, year).toordinal()
    )


def test_ordinal_arithmetic_on_29_february() -> None:
    leap_day = date(2000, 2, 29)
    for year in (1900, 1904, 2000, 2023, 2024, 2100, 2400):
        assert _ordinal(year, 2, 29) == birthday_in_year(leap_day, year).toordinal()
        assert _ordinal(year, 3, 1) == date(year, 3, 1).toordinal()


@given(st.dates(date(1, 1, 1), date(9999, 12, 31)), st.dates(date(1904, 1, 1), date(2004, 12, 31)))
def test_birthday_distance_equals_the_date_arithmetic(today: date, birthday: date) -> None:
    """Whichever way it is computed (compiled: integers), on any date the calendar allows."""

    def ordinal(year: int) -> int | None:
        try:
            return birthday_in_year(birthday, year).toordinal()
        except ValueError:  # year 0 or 10000
            return None

    day, this_year = today.toordinal(), ordinal(today.year)
    try:
        distance = birthday_distance(today, birthday)
    except ValueError:
        assert today.year in (1, 9999)
        return
    assert this_year is not None
    if this_year == day:
        assert distance == (0, 0)
    elif this_year < day:
        assert distance == (day - this_year, ordinal(today.year + 1) - day)  # type: ignore[operator]
    else:
        assert distance == (day - ordinal(today.year - 1), this_year - day)  # type: ignore[operator]


@given(st.integers(0, 10**6), st.lists(st.integers(0, 10**6), min_size=1, max_size=12))
def test_allocate_matches_the_sorted_definition(total: int, weights: list[int]) -> None:
    """Largest remainders first, ties to the earlier position, by a plain sort."""
    whole = sum(weights)
    if whole == 0:
        return
    parts = [total * w // whole for w in weights]
    order = sorted(range(len(weights)), key=lambda i: (-(total * weights[i] % whole), i))
    for i in order[: total - sum(parts)]:
        parts[i] += 1
    assert allocate(total, weights) == parts
