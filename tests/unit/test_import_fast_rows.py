"""The importer's fast receipt path: the same Receipt as parse_receipt, or a fall-back.

``FastReceipts.receipt`` must return exactly what ``parse_receipt`` returns for valid
rows, and ``None`` (never a different receipt, never an error) for anything else, so
that the checked path still reports every bad row as before.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from kopilka.domain.basket import BasketLine
from kopilka.domain.errors import ValidationError
from kopilka.domain.program import Program
from kopilka.services.imports.rows import (
    PURCHASE_COLUMNS,
    FastReceipts,
    parse_receipt,
    trusted_line,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
AT = datetime(2026, 2, 1, 10, 30, tzinfo=UTC)
COL = {n: i for i, n in enumerate(PURCHASE_COLUMNS)}


def row(**cells: Any) -> tuple[Any, ...]:
    values: list[Any] = [None] * len(PURCHASE_COLUMNS)
    for name, value in cells.items():
        values[COL[name]] = value
    return tuple(values)


def good_line(n: int, **extra: Any) -> tuple[Any, ...]:
    cells = {
        "receipt_id": "R1",
        "member_card": "c-0001",
        "occurred_at": "2026-02-01T10:30:00+03:00",
        "store": " s1 ",
        "line_id": str(n),
        "sku": f"SKU{n}",
        "category": "dairy",
        "brand": "acme",
        "quantity": "1",
        "amount": "199.90",
    }
    cells.update(extra)
    return row(**cells)


def both(rows: list[tuple[Any, ...]], program: Program | None = None) -> tuple[Any, Any]:
    program = program or Program(id=1, code="p", name="P")
    numbered = [(i + 2, r) for i, r in enumerate(rows)]
    fast = FastReceipts(program, NOW).receipt("R1", numbered, len(rows))
    try:
        slow: Any = parse_receipt("R1", numbered, len(rows), program, NOW)
    except ValidationError as e:
        slow = e
    return fast, slow


VARIANTS: list[dict[str, Any]] = [
    {},
    {"amount": "5"},
    {"amount": " 0012.5 "},
    {"amount": "0.00"},
    {"amount": Decimal("10.50")},
    {"amount": 7},
    {"quantity": None},
    {"quantity": "0.125"},
    {"quantity": Decimal("2.000")},
    {"quantity": 3},
    {"category": None, "brand": "   "},
    {"discounted": "yes", "tags": "a; b;;c"},
    {"discounted": "нет"},
    {"tags": "x" * 100},
    {"store": None},
    {"channel": "web", "payment_method": "card"},
    {"partner": " ozon ", "payment_method": "sbp"},
    {"occurred_at": AT},
    {"occurred_at": AT.replace(tzinfo=None)},
    {"occurred_at": AT.astimezone(timezone(timedelta(hours=5)))},
    {"redeemed_points": "20"},
    {"redeemed_points": 20},
    {"member_card": None, "member_id": "42"},
    {"member_card": None, "member_phone": "8 (912) 345-67-89"},
    {"member_card": None, "member_email": " Anna@Example.COM "},
    {"member_card": None, "member_external_id": "ext:1"},
    # everything below is invalid somewhere: parse_receipt reports it
    {"amount": "1.234"},
    {"amount": "-1"},
    {"amount": "abc"},
    {"amount": ""},
    {"amount": None},
    {"amount": 1.5},
    {"amount": True},
    {"amount": "1e3"},
    {"amount": "1_000"},
    {"amount": "9999999999999"},
    {"amount": "999999999999.99"},
    {"amount": "\u0661\u0662.50"},  # Arabic-Indic digits: not [0-9]
    {"amount": "12.\u00b2"},
    {"amount": "12."},
    {"amount": ".5"},
    {"amount": "1.2.3"},
    {"amount": " 1.5\n"},
    {"quantity": "0"},
    {"quantity": "-1"},
    {"quantity": "1.0001"},
    {"quantity": "NaN"},
    {"quantity": "  "},
    {"quantity": True},
    {"quantity": 1.5},
    {"line_id": "   "},
    {"line_id": None},
    {"line_id": "x" * 65},
    {"sku": 12},
    {"category": "c" * 65},
    {"discounted": "maybe"},
    {"tags": ";".join(str(i) for i in range(21))},
    {"channel": "phone"},
    {"partner": "p" * 65},
    {"occurred_at": "yesterday"},
    {"occurred_at": None},
    {"occurred_at": "2099-01-01T00:00:00+00:00"},
    {"occurred_at": "2026-02-01T10:30:00"},
    {"redeemed_points": "-5"},
    {"redeemed_points": "2.5"},
    {"member_card": None},
    {"member_card": "!"},
    {"member_card": None, "member_id": "0"},
    {"member_id": "42"},
    {"receipt_id": "R1"},
]


@pytest.mark.parametrize("variant", VARIANTS, ids=[repr(v)[:60] for v in VARIANTS])
def test_fast_path_equals_parse_receipt_or_falls_back(variant: dict[str, Any]) -> None:
    fast, slow = both([good_line(1), good_line(2, **variant), good_line(3)])
    if isinstance(slow, ValidationError):
        assert fast is None
    elif fast is not None:
        assert fast == slow
        assert [str(ln.quantity) for ln in fast.basket.lines] == [
            str(ln.quantity) for ln in slow.basket.lines
        ]


def test_the_common_rows_take_the_fast_path() -> None:
    for variant in VARIANTS[:25]:
        fast, slow = both([good_line(1, **variant), good_line(2, **variant)])
        assert fast is not None, variant
        assert fast == slow


def test_receipt_cells_that_differ_between_lines_fall_back() -> None:
    fast, slow = both([good_line(1), good_line(2, store="s2")])
    assert fast is None
    assert isinstance(slow, ValidationError)
    assert slow.details["line"] == 3
    # given on the first line only, or repeated with other spacing: the same receipt
    fast, slow = both([good_line(1), good_line(2, store=None, member_card=" c-0001")])
    assert fast is not None
    assert fast == slow


def test_duplicate_line_ids_fall_back() -> None:
    fast, slow = both([good_line(1), good_line(1)])
    assert fast is None
    assert isinstance(slow, ValidationError)


def test_three_decimal_currency() -> None:
    program = Program(id=1, code="p", name="P", currency="KWD")
    for amount in ("1.5", "1.234", "12", "1.2345"):
        fast, slow = both([good_line(1, amount=amount)], program)
        if isinstance(slow, ValidationError):
            assert fast is None
        else:
            assert fast == slow


def test_random_rows_agree() -> None:
    rnd = random.Random(5)
    pieces: dict[str, list[Any]] = {
        "amount": ["1", "1.5", "01.50", " 2.00", "2.001", "", "x", Decimal("3.3"), 4, 2.5],
        "quantity": ["1", "0.5", "2.0", "0", None, "1.0005", Decimal("1.5")],
        "category": ["dairy", None, " a ", "", "q" * 70],
        "line_id": ["1", "2", " 3", "", "L" * 65],
        "tags": [None, "a;b", " ; "],
        "discounted": [None, "y", "true", "bad"],
        "store": [None, "s1", "s2"],
    }
    for _ in range(400):
        lines = []
        for n in range(rnd.randint(1, 4)):
            extra = {k: rnd.choice(v) for k, v in pieces.items() if rnd.random() < 0.3}
            lines.append(good_line(n + 1, **extra))
        fast, slow = both(lines)
        if isinstance(slow, ValidationError):
            assert fast is None
        elif fast is not None:
            assert fast == slow


def test_trusted_line_equals_the_checked_constructor_and_keeps_its_checks() -> None:
    args = ("1", "SKU", Decimal("1.5"), 1990, "dairy", "acme", True, frozenset({"t"}))
    line = trusted_line(*args)
    assert line == BasketLine(*args)
    assert line.quantity == Decimal("1.5")
    assert line.tags == frozenset({"t"})
    bad: list[tuple[Any, ...]] = [
        ("", *args[1:]),
        (*args[:2], Decimal("0"), *args[3:]),
        (*args[:2], Decimal("NaN"), *args[3:]),
        (*args[:3], -1, *args[4:]),
        (*args[:3], 10**15, *args[4:]),
        (*args[:3], True, *args[4:]),
    ]
    for wrong in bad:
        with pytest.raises(ValidationError):
            trusted_line(*wrong)


@pytest.mark.parametrize("receipt_id", ["R00000001", 'we"ird\\id', "чек-1", "a b\t"])
def test_the_import_key_is_what_the_generic_code_writes(receipt_id: str) -> None:
    import json

    from kopilka.ledger.idempotency import request_hash
    from kopilka.services.imports.booking import import_hash, key_response

    rid = json.dumps(receipt_id)
    assert import_hash(rid) == request_hash("purchase_import", {"receipt_id": receipt_id})
    assert key_response(rid, 7, 12, 0) == json.dumps(
        {
            "receipt_id": receipt_id,
            "member_id": 7,
            "points_earned": 12,
            "points_redeemed": 0,
            "imported": True,
        }
    )


def test_partner_and_payment_method_are_read_from_their_columns() -> None:
    """A receipt's ``partner`` and ``payment_method`` cells reach its basket (they drive
    rules and are stored with the purchase), on the fast path and the checked one alike;
    the partner used to be dropped."""
    fast, slow = both([good_line(1, partner=" ozon ", payment_method="sbp"), good_line(2)])
    for receipt in (fast, slow):
        assert (receipt.basket.partner, receipt.basket.payment_method) == ("ozon", "sbp")
