"""The basket: what the rules engine may assume about a purchase."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from kopilka.domain.basket import MAX_LINES, Basket, BasketLine, Channel
from kopilka.domain.errors import ValidationError

AT = datetime(2026, 1, 1, tzinfo=UTC)


def _line(line_id: str = "1", **overrides: Any) -> BasketLine:
    fields: dict[str, Any] = {
        "line_id": line_id,
        "sku": "s",
        "quantity": Decimal(1),
        "amount_minor": 100,
    }
    fields.update(overrides)
    return BasketLine(**fields)


def test_valid_basket_normalises_time_to_utc() -> None:
    """An aware timestamp in any zone is stored in UTC; the total sums the lines."""
    msk = timezone(timedelta(hours=3))
    basket = Basket(
        lines=(_line("1"), _line("2", amount_minor=250)),
        occurred_at=datetime(2026, 1, 1, 3, tzinfo=msk),
        channel="web",
    )  # type: ignore[arg-type]
    assert basket.occurred_at == datetime(2026, 1, 1, 0, tzinfo=UTC)
    assert basket.total_minor == 350
    assert basket.channel is Channel.WEB


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        pytest.param({"quantity": Decimal(0)}, "quantity", id="zero-quantity"),
        pytest.param({"quantity": Decimal("NaN")}, "quantity", id="nan-quantity"),
        pytest.param({"amount_minor": -1}, "amount_minor", id="negative-amount"),
        pytest.param({"amount_minor": True}, "amount_minor", id="bool-amount"),
        pytest.param({"line_id": ""}, "line_id", id="empty-id"),
    ],
)
def test_bad_line_is_refused(overrides: dict[str, Any], field: str) -> None:
    """A line with a bad quantity, amount or id is refused, naming the field."""
    with pytest.raises(ValidationError) as caught:
        _line(**overrides)
    assert caught.value.details["field"] == field


@pytest.mark.parametrize(
    ("lines", "at", "channel", "fragment"),
    [
        pytest.param((), AT, "till", "at least one line", id="empty"),
        pytest.param((_line("1"), _line("1")), AT, "till", "duplicate line id", id="dup-ids"),
        pytest.param(
            tuple(_line(str(i)) for i in range(MAX_LINES + 1)),
            AT,
            "till",
            "at most",
            id="too-many-lines",
        ),
        pytest.param((_line(),), datetime(2026, 1, 1), "till", "timezone-aware", id="naive"),
        pytest.param((_line(),), AT, "fax", "unknown channel", id="bad-channel"),
    ],
)
def test_bad_basket_is_refused(
    lines: tuple[BasketLine, ...], at: datetime, channel: str, fragment: str
) -> None:
    """Empty, oversized, duplicated, naive-time or unknown-channel baskets are refused."""
    with pytest.raises(ValidationError, match=fragment):
        Basket(lines=lines, occurred_at=at, channel=channel)  # type: ignore[arg-type]
