"""Test data for the purchase, event and rules endpoints: a small rules document with
round numbers, basket lines, and publishing through the service (test setup)."""

from __future__ import annotations

from typing import Any

from kopilka.domain.program import Program
from kopilka.services import rules as rules_svc
from kopilka.services.context import ServiceContext

# base: 1 point per full 100 RUB of a line; fruit: 5 per 100 instead; a review: 20 points,
# twice a month; points pay up to half of a purchase, 1 point = 1 RUB
RULES = """\
schema_version: 1
currency: RUB
rules:
  - id: base
    kind: rate
    description: "1 point per 100 RUB"
    priority: 100
    rate: {points: 1, per: "100"}
  - id: fruit
    kind: rate
    description: "Fruit: 5 points per 100 RUB"
    priority: 50
    stacking: exclusive
    rate: {points: 5, per: "100"}
    scope: {categories: [fruit]}
  - id: review
    kind: event
    description: "Review: 20 points"
    event: review
    points: 20
    limit: {count: 2, period: month}
redemption:
  point_value: "1.00"
  max_percent: 50
"""

# the same rules with the base rate doubled, for a preview
RULES_DOUBLE_BASE = RULES.replace("rate: {points: 1,", "rate: {points: 2,")

# two problems: a priority that is no number (line 7), negative points (line 14)
RULES_INVALID = RULES.replace("priority: 100", 'priority: "high"').replace(
    "points: 5,", "points: -5,"
)


def publish_rules(ctx: ServiceContext, program: Program, document: str = RULES) -> int:
    """Publish a rules document through the service; returns its version."""
    return int(rules_svc.publish(ctx, program, document)["version"])


def line(line_id: str, amount: str, *, category: str = "grocery", **more: Any) -> dict[str, Any]:
    """A basket line with a SKU named after it."""
    return {
        "line_id": line_id,
        "sku": f"SKU-{line_id}",
        "amount": amount,
        "category": category,
        **more,
    }


def basket(*lines: dict[str, Any], **more: Any) -> dict[str, Any]:
    """A purchase body: its lines and any other fields (member, receipt_id, ...)."""
    return {"lines": list(lines), **more}
