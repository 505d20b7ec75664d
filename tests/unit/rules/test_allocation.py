"""The largest-remainder allocation that attributes bonuses and discounts to lines."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kopilka.domain.rules import allocate


@pytest.mark.parametrize(
    ("total", "weights", "expected"),
    [
        pytest.param(10, [1, 1, 1], [4, 3, 3], id="tie-goes-to-first"),
        pytest.param(100, [50, 30, 20], [50, 30, 20], id="exact-split"),
        pytest.param(7, [0, 5, 5], [0, 4, 3], id="zero-weight-gets-nothing"),
        pytest.param(5, [1, 2, 3], [1, 2, 2], id="largest-remainders"),
        pytest.param(0, [3, 4], [0, 0], id="zero-total"),
        pytest.param(0, [0, 0], [0, 0], id="zero-total-zero-weights"),
        pytest.param(3, [10], [3], id="single-part"),
    ],
)
def test_allocate_table(total: int, weights: list[int], expected: list[int]) -> None:
    """allocate splits proportionally, remainders to the largest fractions, ties by position."""
    assert allocate(total, weights) == expected


@pytest.mark.parametrize(
    ("total", "weights"),
    [
        pytest.param(-1, [1], id="negative-total"),
        pytest.param(1, [-1, 2], id="negative-weight"),
        pytest.param(1, [0, 0], id="positive-over-zero-weights"),
    ],
)
def test_allocate_refuses_bad_input(total: int, weights: list[int]) -> None:
    """allocate refuses negative inputs and a positive total with nothing to carry it."""
    with pytest.raises(ValueError, match=r"must not|cannot"):
        allocate(total, weights)


@given(
    st.integers(0, 10**9),
    st.lists(st.integers(0, 10**7), min_size=1, max_size=50).filter(lambda w: sum(w) > 0),
)
def test_allocate_sums_exactly_and_stays_near_share(total: int, weights: list[int]) -> None:
    """Parts always sum to the total and each is the floor or ceiling of its exact share."""
    parts = allocate(total, weights)
    assert sum(parts) == total
    whole = sum(weights)
    for part, weight in zip(parts, weights, strict=True):
        assert total * weight // whole <= part <= -(-total * weight // whole)


@given(st.lists(st.integers(1, 10**6), min_size=1, max_size=30), st.data())
def test_allocate_never_exceeds_weight_when_total_fits(
    weights: list[int], data: st.DataObject
) -> None:
    """With a total no larger than the weights' sum, no part exceeds its own weight."""
    total = data.draw(st.integers(0, sum(weights)))
    assert all(p <= w for p, w in zip(allocate(total, weights), weights, strict=True))
