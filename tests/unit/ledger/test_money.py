"""Exact money and the one rounding helper for points."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kopilka.domain.errors import ValidationError
from kopilka.domain.money import (
    Rounding,
    currency_exponent,
    format_money,
    parse_money,
    round_points,
)


@pytest.mark.parametrize(
    ("value", "down", "half_up", "up"),
    [
        ("2.5", 2, 3, 3),
        ("2.4999", 2, 2, 3),
        ("2.5000001", 2, 3, 3),
        ("7", 7, 7, 7),
        ("0.001", 0, 0, 1),
        ("0", 0, 0, 0),
        ("123456789012.5", 123456789012, 123456789013, 123456789013),
    ],
)
def test_round_points_modes(value, down, half_up, up):
    """Down floors, half-up rounds .5 away from zero, up ceils; the result is an int."""
    dec = Decimal(value)
    assert round_points(dec, Rounding.DOWN) == down
    assert round_points(dec, Rounding.HALF_UP) == half_up
    assert round_points(dec, Rounding.UP) == up
    assert type(round_points(dec, Rounding.UP)) is int


def test_round_points_accepts_the_mode_as_stored_text():
    """A mode read back from the database as plain text works the same."""
    assert round_points(Decimal("1.5"), "half_up") == 2  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "currency", "minor"),
    [
        ("12.34", "RUB", 1234),
        (" 12.30 ", "RUB", 1230),
        ("12", "RUB", 1200),
        (12, "RUB", 1200),
        (Decimal("1E+2"), "RUB", 10000),
        ("100", "JPY", 100),
        ("1.234", "KWD", 1234),
        ("0", "EUR", 0),
        ("1000000000000", "RUB", 100000000000000),
    ],
)
def test_parse_money_gives_integer_minor_units(value, currency, minor):
    """Decimal amounts become exact integer minor units of their currency."""
    assert parse_money(value, currency) == minor


@pytest.mark.parametrize(
    ("value", "currency"),
    [
        ("NaN", "RUB"),
        ("sNaN", "RUB"),
        ("Infinity", "RUB"),
        ("-inf", "RUB"),
        (Decimal("NaN"), "RUB"),
        ("12.345", "RUB"),  # more decimals than kopecks
        ("100.5", "JPY"),  # yen has no minor unit
        ("1.2345", "KWD"),
        ("-0.01", "RUB"),
        ("-5", "RUB"),
        ("1000000000000.01", "RUB"),  # beyond the sanity bound
        ("abc", "RUB"),
        ("", "RUB"),
        ("1,5", "RUB"),
    ],
)
def test_parse_money_refuses_what_is_not_an_exact_amount(value, currency):
    """NaN, infinities, negatives, excess precision, absurd sizes and junk are refused."""
    with pytest.raises(ValidationError) as err:
        parse_money(value, currency, field="total")
    assert err.value.details["field"] == "total"


@pytest.mark.parametrize(("minor", "currency"), [(1234, "RUB"), (0, "RUB"), (5, "JPY"), (1, "KWD")])
def test_format_money_round_trips(minor, currency):
    """Formatting and parsing back give the same minor units."""
    assert parse_money(format_money(minor, currency), currency) == minor


@given(
    st.integers(min_value=-(10**20), max_value=10**20),
    st.sampled_from(["RUB", "usd", "JPY", "KRW", "KWD", "BHD", "XXX"]),
)
def test_format_money_writes_what_decimal_quantizing_writes(minor, currency):
    """The same text as quantizing a Decimal to the currency's exponent, sign and zeros
    included."""
    exp = currency_exponent(currency)
    expected = str(Decimal(minor).scaleb(-exp).quantize(Decimal(1).scaleb(-exp)))
    assert format_money(minor, currency) == expected
