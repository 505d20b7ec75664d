"""A purchase as the rules engine sees it: lines with money in integer minor units.

A :class:`Basket` is validated once when built (unique line ids, non-negative amounts, at
least one and at most :data:`MAX_LINES` lines, an aware timestamp normalised to UTC), so the
evaluators can trust it and stay fast.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from kopilka.domain.errors import ValidationError

MAX_LINES = 1000
MAX_LINE_AMOUNT_MINOR = 10**14  # parse_money's ceiling in kopecks: far above any real line
# What one line and one receipt may cost at most, in units of the program's currency, both
# exclusive: 9,999,999.99 a line, 99,999,999.99 a receipt. The API, the CLI and the importer
# refuse more (the API's schema says so), so that a typo or a forged receipt cannot mint
# billions of points: under a rate of 1 point per currency unit a receipt earns < 10^8.
MAX_LINE_AMOUNT = Decimal(10**7)
MAX_RECEIPT_AMOUNT = Decimal(10**8)
# a quantity is below this, with at most 3 decimals (0.125 kg)
MAX_QUANTITY = Decimal(10**6)
MAX_ID_LENGTH = 128


class Channel(enum.StrEnum):
    """Where the purchase happened."""

    TILL = "till"
    WEB = "web"
    APP = "app"


@dataclass(frozen=True, slots=True)
class BasketLine:
    """One receipt line: ``amount_minor`` is the line total the customer pays before points."""

    line_id: str
    sku: str
    quantity: Decimal
    amount_minor: int
    category: str = ""
    brand: str = ""
    discounted: bool = False
    tags: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        _check_id(self.line_id, "line_id", self.line_id)
        _check_id(self.sku, "sku", self.line_id)
        if not isinstance(self.quantity, Decimal) or not self.quantity.is_finite():
            raise ValidationError(
                "quantity must be a finite Decimal", field="quantity", line=self.line_id
            )
        if self.quantity <= 0:
            raise ValidationError("quantity must be > 0", field="quantity", line=self.line_id)
        if isinstance(self.amount_minor, bool) or not isinstance(self.amount_minor, int):
            raise ValidationError(
                "amount must be an integer number of minor units",
                field="amount_minor",
                line=self.line_id,
            )
        if not 0 <= self.amount_minor <= MAX_LINE_AMOUNT_MINOR:
            raise ValidationError(
                "amount must not be negative or absurdly large",
                field="amount_minor",
                line=self.line_id,
            )
        if not isinstance(self.tags, frozenset):
            object.__setattr__(self, "tags", frozenset(self.tags))


@dataclass(frozen=True, slots=True)
class Basket:
    """A whole purchase: its lines and where, how and when it happened (UTC)."""

    lines: tuple[BasketLine, ...]
    occurred_at: datetime
    store: str | None = None
    channel: Channel = Channel.TILL
    partner: str | None = None
    payment_method: str | None = None

    def __post_init__(self) -> None:
        lines = tuple(self.lines)
        object.__setattr__(self, "lines", lines)
        if not lines:
            raise ValidationError("a basket needs at least one line", field="lines")
        if len(lines) > MAX_LINES:
            raise ValidationError(f"a basket has at most {MAX_LINES} lines", field="lines")
        seen: set[str] = set()
        for line in lines:
            if line.line_id in seen:
                raise ValidationError(
                    f"duplicate line id {line.line_id!r}", field="line_id", line=line.line_id
                )
            seen.add(line.line_id)
        at = self.occurred_at
        if at.tzinfo is None or at.utcoffset() is None:
            raise ValidationError("occurred_at must be timezone-aware", field="occurred_at")
        object.__setattr__(self, "occurred_at", at.astimezone(UTC))
        try:
            object.__setattr__(self, "channel", Channel(self.channel))
        except ValueError:
            raise ValidationError(
                f"unknown channel {self.channel!r}; expected till, web or app", field="channel"
            ) from None

    @property
    def total_minor(self) -> int:
        """What the customer pays for the whole basket before points."""
        return sum(line.amount_minor for line in self.lines)


def _check_id(value: str, name: str, line_id: str) -> None:
    if not isinstance(value, str) or not value or len(value) > MAX_ID_LENGTH:
        raise ValidationError(
            f"{name} must be a non-empty string of at most {MAX_ID_LENGTH} characters",
            field=name,
            line=line_id,
        )
