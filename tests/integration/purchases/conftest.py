"""Factories for purchase tests: a program with published rules, and basket bodies."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest

from kopilka.domain.program import Program
from kopilka.services import points, rules
from kopilka.services.points import Earn

_receipts = itertools.count(1)

SIMPLE_RULES = """
schema_version: 1
rules:
  - {id: base, kind: rate, rate: {points: 1, per: "100"}}
  - {id: dairy-x2, kind: multiplier, factor: 2, scope: {categories: [dairy]}}
  - {id: big-basket, kind: bonus, points: 50, min_amount: "3000"}
  - {id: review, kind: event, event: review, points: 20, limit: {count: 2, period: month}}
exclude: {categories: [tobacco]}
redemption: {max_percent: 50, step: 10}
"""


@pytest.fixture
def rules_program(ctx, make_program) -> Callable[..., Program]:
    """A program (1 point = 1 RUB) with a published rules document."""

    def make(document: str = SIMPLE_RULES, **spec: Any) -> Program:
        program = make_program(**spec)
        rules.publish(ctx, program, document, actor="test")
        return program

    return make


@pytest.fixture
def funded(ctx) -> Callable[[Program, int, int], None]:
    """Give a member some available points."""

    def fund(program: Program, member_id: int, amount: int) -> None:
        points.earn(ctx, program, Earn(member_id, amount, key=f"fund-{member_id}-{amount}"))

    return fund


def basket(member_id: int, *lines: tuple[str, str, str], **extra: Any) -> dict[str, Any]:
    """A purchase body: lines are (line_id, amount, category)."""
    return {
        "receipt_id": extra.pop("receipt_id", f"R{next(_receipts)}"),
        "member_id": member_id,
        "lines": [
            {
                "line_id": lid,
                "sku": f"SKU-{lid}",
                "quantity": "1",
                "amount": amount,
                "category": cat,
            }
            for lid, amount, cat in lines
        ],
        **extra,
    }
