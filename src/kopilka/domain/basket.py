"""A purchase as the rules engine sees it: lines with money in integer minor units.

A :class:`Basket` is validated once when built (unique line ids, non-negative amounts, at
least one and at most :data:`MAX_LINES` lines, an aware timestamp normalised to UTC), so the
evaluators can trust it and stay fast.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from kopilka.domain.errors import ValidationError
from kopilka.domain.messages import msg
from kopilka.domain.money import currency_exponent, format_money

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
# a purchase or event may be stamped this far ahead of the server's clock (tills drift)
FUTURE_LEEWAY = timedelta(minutes=5)


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
                msg("quantity must be a finite Decimal"), field="quantity", line=self.line_id
            )
        if self.quantity <= 0:
            raise ValidationError(msg("quantity must be > 0"), field="quantity", line=self.line_id)
        if isinstance(self.amount_minor, bool) or not isinstance(self.amount_minor, int):
            raise ValidationError(
                msg("amount must be an integer number of minor units"),
                field="amount_minor",
                line=self.line_id,
            )
        if not 0 <= self.amount_minor <= MAX_LINE_AMOUNT_MINOR:
            raise ValidationError(
                msg("amount must not be negative or absurdly large"),
                field="amount_minor",
                line=self.line_id,
            )
        if not isinstance(self.tags, frozenset):
            object.__setattr__(self, "tags", frozenset(self.tags))

    @staticmethod
    def trusted(
        line_id: str,
        sku: str,
        qty: Decimal,
        amount_minor: int,
        category: str,
        brand: str,
        discounted: bool,
        tags: frozenset[str],
    ) -> BasketLine:
        """A line from values an edge has already validated (the API's schema, the
        importer's row reader), built without the dataclass machinery: about three times
        cheaper. The line's invariants are still checked; if any does not hold, the checked
        constructor raises the domain's error."""
        if (
            type(line_id) is not str
            or type(sku) is not str
            or not 0 < len(line_id) <= MAX_ID_LENGTH
            or not 0 < len(sku) <= MAX_ID_LENGTH
            or type(qty) is not Decimal
            or not qty.is_finite()
            or not qty > _ZERO
            or type(amount_minor) is not int
            or not 0 <= amount_minor <= MAX_LINE_AMOUNT_MINOR
            or type(tags) is not frozenset
            or type(discounted) is not bool
        ):
            return BasketLine(line_id, sku, qty, amount_minor, category, brand, discounted, tags)
        line: BasketLine = _NEW(BasketLine)
        s0, s1, s2, s3, s4, s5, s6, s7 = LINE_SLOT_SETTERS
        s0(line, line_id)
        s1(line, sku)
        s2(line, qty)
        s3(line, amount_minor)
        s4(line, category)
        s5(line, brand)
        s6(line, discounted)
        s7(line, tags)
        return line


_ZERO = Decimal(0)
_NEW = object.__new__
# the slots' own setters (the dataclass is frozen), in field order: for a constructor that
# has already checked every invariant of a line (``trusted`` here, the importer's fast rows)
LINE_SLOT_SETTERS = tuple(
    BasketLine.__dict__[name].__set__
    for name in (
        "line_id",
        "sku",
        "quantity",
        "amount_minor",
        "category",
        "brand",
        "discounted",
        "tags",
    )
)


@dataclass(frozen=True, slots=True)
class Basket:
    """A whole purchase: its lines and where, how and when it happened (UTC)."""

    lines: tuple[BasketLine, ...]
    occurred_at: datetime
    store: str | None = None
    channel: Channel = Channel.TILL
    partner: str | None = None
    payment_method: str | None = None
    # how it was paid: (tender, amount in minor units), the part paid with points included
    # or not (see ``kopilka.domain.rules.payments``); empty: not told
    payments: tuple[tuple[str, int], ...] = ()
    # the promo codes the purchase carries (upper case)
    promo_codes: frozenset[str] = frozenset()
    # the shop's own discount on the whole order, not yet spread over the lines
    order_discount_minor: int = 0
    # codes of the member's issued coupons and vouchers used at the till (as typed)
    coupons: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        lines = tuple(self.lines)
        object.__setattr__(self, "lines", lines)
        if not isinstance(self.promo_codes, frozenset):
            object.__setattr__(self, "promo_codes", frozenset(self.promo_codes))
        object.__setattr__(self, "payments", tuple(self.payments))
        object.__setattr__(self, "coupons", tuple(self.coupons))
        for tender, amount in self.payments:
            if type(amount) is not int or amount < 0 or not isinstance(tender, str):
                raise ValidationError(
                    msg("a payment is a tender and an amount >= 0"), field="payments"
                )
        discount = self.order_discount_minor
        if type(discount) is not int or discount < 0:
            raise ValidationError(
                msg("the order discount must not be negative"), field="order_discount"
            )
        if not lines:
            raise ValidationError(msg("a basket needs at least one line"), field="lines")
        if len(lines) > MAX_LINES:
            raise ValidationError(
                msg("a basket has at most %(max)s lines", max=MAX_LINES), field="lines"
            )
        seen: set[str] = set()
        for line in lines:
            if line.line_id in seen:
                raise ValidationError(
                    msg("duplicate line id %(line)s", line=repr(line.line_id)),
                    field="line_id",
                    line=line.line_id,
                )
            seen.add(line.line_id)
        at = self.occurred_at
        if at.tzinfo is None or at.utcoffset() is None:
            raise ValidationError(msg("occurred_at must be timezone-aware"), field="occurred_at")
        object.__setattr__(self, "occurred_at", at.astimezone(UTC))
        try:
            object.__setattr__(self, "channel", Channel(self.channel))
        except ValueError:
            raise ValidationError(
                msg(
                    "unknown channel %(channel)s; expected till, web or app",
                    channel=repr(self.channel),
                ),
                field="channel",
            ) from None

    @property
    def total_minor(self) -> int:
        """What the customer pays for the whole basket before points."""
        return sum(line.amount_minor for line in self.lines)


def _check_id(value: str, name: str, line_id: str) -> None:
    if not isinstance(value, str) or not value or len(value) > MAX_ID_LENGTH:
        raise ValidationError(
            msg(
                "%(name)s must be a non-empty string of at most %(max)s characters",
                name=name,
                max=MAX_ID_LENGTH,
            ),
            field=name,
            line=line_id,
        )


def check_occurred_at(at: datetime, now: datetime, field: str = "occurred_at") -> datetime:
    """``at``, refused (ValidationError) when it is more than :data:`FUTURE_LEEWAY` after
    ``now``: a purchase or event cannot have happened in the future."""
    if at > now + FUTURE_LEEWAY:
        raise ValidationError(msg("%(field)s is in the future", field=field), field=field)
    return at


def check_receipt_total(total_minor: int, currency: str) -> None:
    """Refuse a receipt whose lines together cost :data:`MAX_RECEIPT_AMOUNT` or more."""
    if total_minor >= MAX_RECEIPT_AMOUNT.scaleb(currency_exponent(currency)):
        raise ValidationError(
            msg(
                "the lines total %(total)s %(currency)s; a receipt must total below %(max)s",
                total=format_money(total_minor, currency),
                currency=currency,
                max=MAX_RECEIPT_AMOUNT,
            ),
            field="lines",
        )
