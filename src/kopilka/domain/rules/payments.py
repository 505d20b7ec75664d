"""How a purchase is paid, as the rules see it: the shop's order discount spread over the
lines, the payments by tender checked against what is due, and the promo codes checked
against the rules document.

- **Order discount**: a discount of the shop's own on the whole order (a promotion outside
  Kopilka) is spread over the lines in proportion to their amounts, exactly, with
  :func:`~kopilka.domain.rules.allocation.allocate` (ties to the line first in the canonical
  order of :func:`~kopilka.domain.rules.earning.content_key`, as the points discount), and
  the lines then earn on what is left: :func:`apply_order_discount`.
- **Payments**: ``(tender, amount)`` pairs. The money tenders must add up to what is due after
  the order and points discounts; a ``points`` payment, when listed, must be the points
  discount (the server's, never the till's arithmetic): :func:`check_payments`. A rate may
  earn on the part paid with some tenders only (``tenders:``); the points part never earns.
- **Promo codes**: a code must be defined in the rules document and valid on the purchase's
  local date: :func:`check_promo_codes`. Its limits of uses are counted by the caller.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import date

from kopilka.domain.basket import Basket, BasketLine
from kopilka.domain.errors import PromoCodeInvalid, ValidationError
from kopilka.domain.messages import msg
from kopilka.domain.money import format_money
from kopilka.domain.rules.allocation import allocate
from kopilka.domain.rules.earning import content_key
from kopilka.domain.rules.model import PromoCodeSpec, RuleSet
from kopilka.domain.rules.schema import TENDERS

POINTS_TENDER = "points"
MAX_PAYMENTS = 20
MAX_PROMO_CODES = 10

__all__ = [
    "MAX_PAYMENTS",
    "MAX_PROMO_CODES",
    "POINTS_TENDER",
    "TENDERS",
    "apply_order_discount",
    "check_payments",
    "check_promo_codes",
    "effective_basket",
    "main_tender",
    "order_discount_by_line",
]


def order_discount_by_line(basket: Basket) -> dict[str, int]:
    """The basket's order discount spread over its lines by amount (minor units, by line id;
    lines without a share are absent). Refused when it exceeds the basket's total."""
    discount = basket.order_discount_minor
    if not discount:
        return {}
    total = basket.total_minor
    if discount > total:
        raise ValidationError(
            msg("the order discount must not exceed the lines' total"), field="order_discount"
        )
    lines = sorted(basket.lines, key=content_key)
    parts = allocate(discount, [line.amount_minor for line in lines])
    return {line.line_id: part for line, part in zip(lines, parts, strict=True) if part}


def apply_order_discount(basket: Basket) -> Basket:
    """The basket as the rules evaluate it: each line's amount less its share of the order
    discount (:func:`order_discount_by_line`), the discount then spent. Without an order
    discount, the very basket."""
    shares = order_discount_by_line(basket)
    if not basket.order_discount_minor:
        return basket
    lines: list[BasketLine] = [
        replace(line, amount_minor=line.amount_minor - shares.get(line.line_id, 0))
        for line in basket.lines
    ]
    return replace(basket, lines=tuple(lines), order_discount_minor=0)


def effective_basket(basket: Basket) -> Basket:
    """The basket as the rules evaluate it (quote, commit and preview alike): the order
    discount spread over its lines, and, when only payments are given, the money tender that
    paid the most as its payment method (the purchase's ``payment_method`` stays filled)."""
    basket = apply_order_discount(basket)
    if basket.payment_method is None and basket.payments:
        tender = main_tender(basket.payments)
        if tender is not None:
            basket = replace(basket, payment_method=tender)
    return basket


def check_payments(basket: Basket, points_discount_minor: int, currency: str) -> None:
    """Refuse payments that do not pay the basket: the money tenders must add up to its
    total (net of the order discount) less the points discount, and a ``points`` payment,
    when listed, must be the points discount. No payments: nothing to check."""
    if not basket.payments:
        return
    total = basket.total_minor - basket.order_discount_minor
    money = 0
    points_paid: int | None = None
    for tender, amount in basket.payments:
        if tender not in TENDERS:
            raise ValidationError(
                msg(
                    "unknown tender %(tender)s; expected one of %(tenders)s",
                    tender=repr(tender),
                    tenders=", ".join(TENDERS),
                ),
                field="payments",
            )
        if tender == POINTS_TENDER:
            points_paid = (points_paid or 0) + amount
        else:
            money += amount
    if points_paid is not None and points_paid != points_discount_minor:
        raise ValidationError(
            msg(
                "the points payment is %(paid)s, but the points pay %(discount)s",
                paid=format_money(points_paid, currency),
                discount=format_money(points_discount_minor, currency),
            ),
            field="payments",
        )
    due = total - points_discount_minor
    if money != due:
        raise ValidationError(
            msg(
                "the payments add up to %(paid)s, but %(due)s is due",
                paid=format_money(money, currency),
                due=format_money(due, currency),
            ),
            field="payments",
        )


def main_tender(payments: Iterable[tuple[str, int]]) -> str | None:
    """The money tender that paid the most (the first on a tie): the purchase's
    ``payment_method`` when only payments are given."""
    best: tuple[str, int] | None = None
    for tender, amount in payments:
        if tender != POINTS_TENDER and (best is None or amount > best[1]):
            best = (tender, amount)
    return best[0] if best else None


def check_promo_codes(
    ruleset: RuleSet | None, codes: Iterable[str], local_date: date
) -> list[PromoCodeSpec]:
    """The specs of ``codes``, sorted; a code the rules do not define or out of its dates is
    refused (:class:`PromoCodeInvalid`, ``details.reason``)."""
    found: list[PromoCodeSpec] = []
    for code in sorted(codes):
        spec = ruleset.promo_codes.get(code) if ruleset is not None else None
        if spec is None:
            raise PromoCodeInvalid(
                msg("unknown promo code %(code)s", code=repr(code)), code=code, reason="unknown"
            )
        if spec.first_day is not None and local_date < spec.first_day:
            raise PromoCodeInvalid(
                msg(
                    "promo code %(code)s is valid from %(day)s",
                    code=repr(code),
                    day=spec.first_day.isoformat(),
                ),
                code=code,
                reason="not_yet_valid",
            )
        if spec.last_day is not None and local_date > spec.last_day:
            raise PromoCodeInvalid(
                msg(
                    "promo code %(code)s expired on %(day)s",
                    code=repr(code),
                    day=spec.last_day.isoformat(),
                ),
                code=code,
                reason="expired",
            )
        found.append(spec)
    return found
