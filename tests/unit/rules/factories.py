"""Test data builders for the rules engine: baskets, members, programs and documents."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from kopilka.domain.basket import Basket, BasketLine
from kopilka.domain.money import Rounding
from kopilka.domain.program import Program
from kopilka.domain.rules import MemberContext, RuleSet, parse_ruleset

NOON_UTC = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)  # a Wednesday


def program(**overrides: Any) -> Program:
    """A RUB program, 1 point = 1 RUB, rounding down, Moscow time, unless overridden."""
    fields: dict[str, Any] = {
        "id": 1,
        "code": "test",
        "name": "Test",
        "currency": "RUB",
        "point_value_minor": 100,
        "rounding": Rounding.DOWN,
        "timezone": "Europe/Moscow",
    }
    fields.update(overrides)
    return Program(**fields)


def line(line_id: str = "1", rub: str | int = 100, **overrides: Any) -> BasketLine:
    """A basket line of ``rub`` roubles (major units), category ``grocery`` by default."""
    fields: dict[str, Any] = {
        "line_id": line_id,
        "sku": f"sku-{line_id}",
        "quantity": Decimal(1),
        "amount_minor": int(Decimal(str(rub)) * 100),
        "category": "grocery",
        "brand": "acme",
    }
    fields.update(overrides)
    return BasketLine(**fields)


def basket(*lines: BasketLine, at: datetime = NOON_UTC, **overrides: Any) -> Basket:
    """A till basket of the given lines (one 100 RUB line when none given)."""
    return Basket(lines=lines or (line(),), occurred_at=at, **overrides)


def member(member_id: str = "m-1", **overrides: Any) -> MemberContext:
    """A member with no history unless overridden."""
    return MemberContext(member_id=member_id, **overrides)


def rules(body: str, version: int = 1) -> RuleSet:
    """Parse an indented YAML snippet as a rules document."""
    return parse_ruleset(textwrap.dedent(body), "yaml", version=version)


BASE_ONE_PER_100 = """
rules:
  - id: base
    kind: rate
    rate: {points: 1, per: "100"}
"""
