"""The console's rules preview takes a basket as JSON typed by an operator: this module
turns that JSON object into a :class:`~kopilka.domain.basket.Basket` at the console's edge.

The JSON's shape (lines a list of objects) is checked here; each field is then read by the
same cell parser the importer uses for a receipt (``services/imports/rows.basket``: the id
grammar, ASCII amounts, the bounds per line and per receipt), so the preview refuses what
an import or the API refuses, with the same fields."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime

from kopilka.domain.basket import Basket
from kopilka.domain.errors import ValidationError
from kopilka.domain.money import parse_money
from kopilka.domain.program import Program
from kopilka.services.imports.rows import basket
from kopilka.web.i18n import tr


def parse_basket(data: Mapping[str, object], program: Program, now: datetime) -> Basket:
    """A Basket from the preview form's JSON object; amounts are decimal strings in the
    program's currency."""
    raw_lines = data.get("lines")
    if not isinstance(raw_lines, list) or not raw_lines:
        raise ValidationError(tr("a purchase needs at least one line"), field="lines")
    lines: list[dict[str, object]] = []
    for i, raw in enumerate(raw_lines):
        if not isinstance(raw, dict):
            raise ValidationError(tr("each line must be a JSON object"), field=f"lines[{i}]")
        lines.append(raw)
    return _paid(basket(data, lines, program, now), data, program)


def _paid(found: Basket, data: Mapping[str, object], program: Program) -> Basket:
    """``found`` with the JSON's ``promo_codes``, ``payments`` and ``order_discount``, as
    the API's purchase body gives them."""
    codes = data.get("promo_codes", [])
    if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
        raise ValidationError(tr("promo_codes must be a list of codes"), field="promo_codes")
    raw_payments = data.get("payments", [])
    if not isinstance(raw_payments, list):
        raise ValidationError(
            tr("payments must be a list of objects with a tender and an amount"),
            field="payments",
        )
    payments: list[tuple[str, int]] = []
    for i, raw in enumerate(raw_payments):
        if not isinstance(raw, dict) or not isinstance(raw.get("tender"), str):
            raise ValidationError(
                tr("payments must be a list of objects with a tender and an amount"),
                field=f"payments[{i}]",
            )
        amount = parse_money(str(raw.get("amount")), program.currency, field=f"payments[{i}]")
        payments.append((str(raw["tender"]), amount))
    discount = data.get("order_discount")
    return replace(
        found,
        promo_codes=frozenset(c.upper() for c in codes),
        payments=tuple(payments),
        order_discount_minor=(
            0
            if discount is None
            else parse_money(str(discount), program.currency, field="order_discount")
        ),
    )
