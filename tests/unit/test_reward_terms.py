"""A reward's limits, validity and coupon terms refuse a bad value when they are made
(domain/rewards.py), each naming its field, and a validity's window is the one its rules
give (table-driven; the same rules at the till and in the expiry job are
tests/integration/rewards/test_redeem.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from kopilka.domain.errors import ValidationError
from kopilka.domain.rewards import CouponKind, CouponTerms, Limits, Period, Validity

AT = datetime(2026, 6, 10, 9, 0, tzinfo=UTC)
H, D = timedelta(hours=1), timedelta(days=1)

# (case, what is made, the field the refusal names)
REFUSALS: list[tuple[str, Callable[[], object], str]] = [
    ("member limit zero", lambda: Limits(per_member=0), "limits.per_member"),
    ("total limit negative", lambda: Limits(total=-1), "limits.total"),
    ("period limit zero", lambda: Limits(per_period=0, period=Period.DAY), "limits.per_period"),
    ("period limit without its period", lambda: Limits(per_period=1), "limits.period"),
    ("period without its count", lambda: Limits(period=Period.WEEK), "limits.period"),
    ("negative delay", lambda: Validity(-timedelta(seconds=1)), "validity.activation_delay"),
    ("zero days", lambda: Validity(valid_days=0), "validity.valid_days"),
    ("negative days", lambda: Validity(valid_days=-3), "validity.valid_days"),
    ("percent zero", lambda: CouponTerms(CouponKind.PERCENT, 0), "coupon.amount"),
    ("percent over 100", lambda: CouponTerms(CouponKind.PERCENT, 101), "coupon.amount"),
    ("fixed zero", lambda: CouponTerms(CouponKind.FIXED, 0), "coupon.amount"),
    ("negative minimum", lambda: CouponTerms(CouponKind.FIXED, 1, -1), "coupon.min_basket_minor"),
]


@pytest.mark.parametrize(("make", "field"), [c[1:] for c in REFUSALS], ids=[c[0] for c in REFUSALS])
def test_a_bad_limit_validity_or_coupon_is_refused_naming_its_field(
    make: Callable[[], object], field: str
) -> None:
    """Each bad value is a ValidationError (422 at the API) naming the field."""
    with pytest.raises(ValidationError) as refused:
        make()
    assert refused.value.details["field"] == field


# (case, validity, when an issue at AT becomes usable, and when it ends: None never)
WINDOWS = [
    ("for good", Validity(), AT, None),
    ("days", Validity(valid_days=3), AT, AT + 3 * D),
    ("delay, then days", Validity(2 * H, valid_days=1), AT + 2 * H, AT + 2 * H + D),
    ("delay, for good", Validity(H), AT + H, None),
    ("fixed end", Validity(valid_until=AT + 5 * D), AT, AT + 5 * D),
    ("fixed end first", Validity(valid_days=10, valid_until=AT + 2 * D), AT, AT + 2 * D),
    ("days first", Validity(valid_days=1, valid_until=AT + 5 * D), AT, AT + D),
    ("delay, then fixed end", Validity(H, valid_until=AT + D), AT + H, AT + D),
    ("fixed end passed", Validity(valid_until=AT - D), AT, AT - D),
]


@pytest.mark.parametrize(
    ("validity", "starts", "ends"), [c[1:] for c in WINDOWS], ids=[c[0] for c in WINDOWS]
)
def test_window_of_each_validity_rule(
    validity: Validity, starts: datetime, ends: datetime | None
) -> None:
    """The delay moves the start; the days count from the start; a fixed end wins when it
    is earlier than the days (and the days when they end first)."""
    assert validity.window(AT) == (starts, ends)
