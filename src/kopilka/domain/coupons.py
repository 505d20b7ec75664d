"""Coupons and vouchers at the till: each one's discount spread over the lines it applies
to, exactly, as the shop's order discount and the points discount are spread.

The purchase's lines are taken net of the order discount. The coupons apply one after
another, in the order the request lists them, each on the lines as the ones before left
them: a coupon's discount (:func:`kopilka.domain.rewards.coupon_discount`: a percent of its
lines, rounded down, or a fixed amount, never more than its lines) is spread over its lines
in proportion to their amounts with :func:`~kopilka.domain.rules.allocation.allocate` (ties
to the line first in the canonical order of
:func:`~kopilka.domain.rules.earning.content_key`), so the parts add up to it to the
kopeck. The lines then earn, pay with points and are refunded on what is left. A coupon's
minimum basket is measured on the lines before any coupon.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from kopilka.domain.basket import Basket, BasketLine
from kopilka.domain.errors import CouponInvalid
from kopilka.domain.messages import msg
from kopilka.domain.money import format_money
from kopilka.domain.rewards import CouponTerms, coupon_discount
from kopilka.domain.rules.allocation import allocate
from kopilka.domain.rules.earning import content_key

MAX_COUPONS = 5  # coupons per purchase


@dataclass(frozen=True, slots=True)
class CouponUse:
    """One coupon applied to a basket: its code, its issued reward's id, its discount and
    the discount's parts by line id (lines without a part are absent)."""

    code: str
    issued_id: int
    discount_minor: int
    by_line: dict[str, int]


def _applies(terms: CouponTerms, line: BasketLine) -> bool:
    return not terms.categories or line.category in terms.categories


def apply_coupons(
    basket: Basket, coupons: Sequence[tuple[str, int, CouponTerms]], currency: str
) -> tuple[Basket, list[CouponUse]]:
    """The basket with each coupon's discount taken off its lines, and the uses; refused
    (:class:`CouponInvalid`) when the basket is under a coupon's minimum (``min_basket``)
    or no line is one a coupon applies to (``no_lines``). ``coupons``: (code, issued id,
    terms) in the request's order; ``basket``: its lines net of the order discount."""
    if not coupons:
        return basket, []
    before = basket.total_minor
    lines = list(basket.lines)
    uses: list[CouponUse] = []
    for code, issued_id, terms in coupons:
        if before < terms.min_basket_minor:
            raise CouponInvalid(
                msg(
                    "coupon %(code)s needs a basket of at least %(min)s",
                    code=code,
                    min=format_money(terms.min_basket_minor, currency),
                ),
                reason="min_basket",
                code=code,
            )
        mine = sorted(
            (n for n, line in enumerate(lines) if _applies(terms, line) and line.amount_minor),
            key=lambda n: content_key(lines[n]),
        )
        eligible = sum(lines[n].amount_minor for n in mine)
        if not eligible:
            raise CouponInvalid(
                msg("coupon %(code)s applies to no line of this purchase", code=code),
                reason="no_lines",
                code=code,
            )
        discount = coupon_discount(terms, eligible, before)
        parts = allocate(discount, [lines[n].amount_minor for n in mine])
        by_line: dict[str, int] = {}
        for n, part in zip(mine, parts, strict=True):
            if part:
                line = lines[n]
                lines[n] = replace(line, amount_minor=line.amount_minor - part)
                by_line[line.line_id] = part
        uses.append(CouponUse(code, issued_id, discount, by_line))
    return replace(basket, lines=tuple(lines)), uses
