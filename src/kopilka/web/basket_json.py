"""The console's rules preview takes a basket as JSON typed by an operator: this module
turns that free JSON object into a :class:`~kopilka.domain.basket.Basket`, checking its
shape here, at the console's edge (the API's pydantic models and the importer's row parser,
``services/imports/rows.py``, do the same for their own input). Refusals are
:class:`ValidationError` on the field, with the rules of ``domain.ids`` and
``domain.basket`` (ASCII amounts, bounds per line and per receipt)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from kopilka.domain.basket import (
    MAX_ID_LENGTH,
    MAX_LINE_AMOUNT,
    MAX_LINE_AMOUNT_MINOR,
    MAX_QUANTITY,
    MAX_RECEIPT_AMOUNT,
    Basket,
    BasketLine,
    Channel,
)
from kopilka.domain.clock import ensure_utc
from kopilka.domain.errors import ValidationError
from kopilka.domain.ids import check_id
from kopilka.domain.money import currency_exponent, format_money, parse_money
from kopilka.domain.program import Program

MAX_REF = 128
_ASCII_QUANTITY = re.compile(r"[0-9]+(?:\.[0-9]+)?")


def text(data: dict[str, Any], name: str, *, required: bool = False, limit: int = 64) -> str | None:
    value = data.get(name)
    if value is None or value == "":
        if required:
            raise ValidationError(f"{name} is required", field=name)
        return None
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise ValidationError(f"{name} must be text", field=name)
    value = str(value).strip()
    if not value or len(value) > limit:
        raise ValidationError(f"{name} must be 1-{limit} characters", field=name)
    return value


def ident(data: dict[str, Any], name: str, *, required: bool = False) -> str | None:
    """An id the caller chose (receipt, return, line, event, store), trimmed, in the one
    grammar of :mod:`kopilka.domain.ids`; ``None`` when absent and not ``required``."""
    value = text(data, name, required=required)
    return None if value is None else check_id(value, name)


def quantity(value: Any, field: str) -> Decimal:
    """A positive quantity below :data:`MAX_QUANTITY` with at most 3 decimals; text must
    be ASCII digits (``Decimal`` alone would read "١٢" as 12)."""
    if isinstance(value, str) and not _ASCII_QUANTITY.fullmatch(value.strip()):
        raise ValidationError(f"{field} must be a decimal number in ASCII digits", field=field)
    try:
        q = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ValidationError(f"{field} is not a number", field=field) from None
    if not q.is_finite() or q <= 0 or q >= MAX_QUANTITY or q != q.quantize(Decimal("0.001")):
        raise ValidationError(
            f"{field} must be a positive number below {MAX_QUANTITY} with at most 3 decimals",
            field=field,
        )
    return q


def line_amount(value: Any, currency: str, field: str) -> int:
    """A line's amount in minor units: :func:`parse_money`, and below
    :data:`MAX_LINE_AMOUNT` units of the currency."""
    minor = parse_money(value, currency, field=field)
    if minor >= MAX_LINE_AMOUNT.scaleb(currency_exponent(currency)):
        raise ValidationError(
            f"{field} must be below {MAX_LINE_AMOUNT} {currency} a line", field=field
        )
    return minor


def check_total(total_minor: int, currency: str) -> None:
    """Refuse a receipt whose lines together cost :data:`MAX_RECEIPT_AMOUNT` or more."""
    if total_minor >= MAX_RECEIPT_AMOUNT.scaleb(currency_exponent(currency)):
        raise ValidationError(
            f"the lines total {format_money(total_minor, currency)} {currency}; "
            f"a receipt must total below {MAX_RECEIPT_AMOUNT}",
            field="lines",
        )


def instant(value: Any, field: str, now: datetime) -> datetime:
    if value is None:
        return now
    try:
        at = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
        at = ensure_utc(at)
    except ValueError:
        raise ValidationError(
            f"{field} must be an ISO 8601 time with a zone", field=field
        ) from None
    if at > now + timedelta(minutes=5):
        raise ValidationError(f"{field} is in the future", field=field)
    return at


def parse_basket(data: dict[str, Any], program: Program, now: datetime) -> Basket:
    """A Basket from a purchase body; amounts are decimal strings in the program currency."""
    raw_lines = data.get("lines")
    if not isinstance(raw_lines, list) or not raw_lines:
        raise ValidationError("a purchase needs at least one line", field="lines")
    lines = []
    for i, raw in enumerate(raw_lines):
        if not isinstance(raw, dict):
            raise ValidationError(f"lines[{i}] must be an object", field=f"lines[{i}]")
        tags = raw.get("tags") or []
        if not isinstance(tags, list) or len(tags) > 20:
            raise ValidationError(f"lines[{i}].tags must be a list", field=f"lines[{i}].tags")
        lines.append(
            BasketLine(
                line_id=ident(raw, "line_id", required=True) or "",
                sku=text(raw, "sku", required=True) or "",
                quantity=quantity(raw.get("quantity", 1), f"lines[{i}].quantity"),
                amount_minor=line_amount(
                    raw.get("amount", ""), program.currency, f"lines[{i}].amount"
                ),
                category=text(raw, "category") or "",
                brand=text(raw, "brand") or "",
                discounted=bool(raw.get("discounted", False)),
                tags=frozenset(str(t)[:64] for t in tags),
            )
        )
    try:
        channel = Channel(data.get("channel") or "till")
    except ValueError:
        raise ValidationError("channel must be till, web or app", field="channel") from None
    check_total(sum(ln.amount_minor for ln in lines), program.currency)
    return Basket(
        lines=tuple(lines),
        occurred_at=instant(data.get("occurred_at"), "occurred_at", now),
        store=text(data, "store"),
        channel=channel,
        partner=text(data, "partner"),
        payment_method=text(data, "payment_method"),
    )


_ZERO = Decimal(0)
_NEW = object.__new__
_SET = tuple(
    BasketLine.__dict__[name].__set__  # the slots' own setters (the dataclass is frozen)
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


def trusted_line(
    line_id: str,
    sku: str,
    qty: Decimal,
    amount_minor: int,
    category: str,
    brand: str,
    discounted: bool,
    tags: frozenset[str],
) -> BasketLine:
    """A :class:`BasketLine` from values a bulk reader has already validated as
    :func:`parse_basket` would (``qty`` from :func:`quantity`), built without the
    dataclass machinery: about three times cheaper. The line's invariants are still
    checked; if any does not hold, the checked constructor raises the domain's error."""
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
    line = _NEW(BasketLine)
    s0, s1, s2, s3, s4, s5, s6, s7 = _SET
    s0(line, line_id)
    s1(line, sku)
    s2(line, qty)
    s3(line, amount_minor)
    s4(line, category)
    s5(line, brand)
    s6(line, discounted)
    s7(line, tags)
    return line


def points_field(data: dict[str, Any], name: str) -> int:
    value = data.get(name) or 0
    if isinstance(value, bool) or not isinstance(value, int) or not (0 <= value <= 10**9):
        raise ValidationError(f"{name} must be a whole number of points (0-10^9)", field=name)
    return value
