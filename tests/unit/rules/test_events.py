"""Event rules: registration, reviews (more with photos), custom events, per-member limits."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kopilka.domain.errors import ValidationError
from kopilka.domain.rules import UsageCounters, evaluate_event, period_start

from .factories import member, program, rules

EVENTS = """
rules:
  - id: review-photo
    kind: event
    event: review
    priority: 10
    stacking: exclusive
    points: 50
    match: {with_photos: true}
    limit: {count: 3, period: month}
  - {id: review, kind: event, event: review, priority: 20, points: 20,
     limit: {count: 3, period: month}}
  - {id: registration, kind: event, event: registration, points: 100, limit: {count: 1}}
  - {id: quiz, kind: event, event: "custom:quiz", points: 5, limits: {budget: 12}}
"""
AT = datetime(2026, 6, 10, 12, tzinfo=UTC)


def _earn(
    name: str, attrs: dict[str, object] | None = None, **usage: dict[str, int]
) -> dict[str, int]:
    result = evaluate_event(
        rules(EVENTS), program(), name, attrs or {}, member(), usage=UsageCounters(**usage), at=AT
    )
    assert all(a.line_id is None for a in result.awards)
    return result.points_by_rule()


@pytest.mark.parametrize(
    ("name", "attrs", "usage", "expected"),
    [
        pytest.param("review", {}, {}, {"review": 20}, id="plain-review"),
        pytest.param(
            "review",
            {"with_photos": True},
            {},
            {"review-photo": 50},
            id="photo-review-replaces-plain",
        ),
        pytest.param(
            "review",
            {"with_photos": True},
            {"events_in_period": {"review-photo": 3}},
            {"review": 20},
            id="photo-limit-reached-falls-back",
        ),
        pytest.param("registration", {}, {}, {"registration": 100}, id="registration"),
        pytest.param(
            "registration",
            {},
            {"events_in_period": {"registration": 1}},
            {},
            id="registration-once",
        ),
        pytest.param(
            "custom:quiz", {}, {"budget_used": {"quiz": 10}}, {"quiz": 2}, id="custom-event-budget"
        ),
        pytest.param("social_share", {}, {}, {}, id="no-rule-no-points"),
    ],
)
def test_event_rules(
    name: str, attrs: dict[str, object], usage: dict[str, dict[str, int]], expected: dict[str, int]
) -> None:
    """Event rules award once per event within their limits, exclusive ones first."""
    assert _earn(name, attrs, **usage) == expected


def test_event_usage_is_reported() -> None:
    """An awarded event reports one use and its points so the caller can count limits."""
    result = evaluate_event(rules(EVENTS), program(), "review", {}, member(), at=AT)
    assert dict(result.usage.events_by_rule) == {"review": 1}
    assert dict(result.usage.points_by_rule) == {"review": 20}


def test_event_time_must_be_aware() -> None:
    """A naive event time is refused."""
    with pytest.raises(ValidationError):
        evaluate_event(rules(EVENTS), program(), "review", {}, member(), at=datetime(2026, 1, 1))


@pytest.mark.parametrize(
    ("period", "expected"),
    [
        pytest.param("day", datetime(2026, 6, 9, 21, tzinfo=UTC), id="day"),
        pytest.param("week", datetime(2026, 6, 7, 21, tzinfo=UTC), id="week-from-monday"),
        pytest.param("month", datetime(2026, 5, 31, 21, tzinfo=UTC), id="month"),
        pytest.param("year", datetime(2025, 12, 31, 21, tzinfo=UTC), id="year"),
        pytest.param("lifetime", None, id="lifetime"),
    ],
)
def test_period_start_in_program_zone(period: str, expected: datetime | None) -> None:
    """Limit periods start at local midnight in the program's zone (Moscow, UTC+3)."""
    assert period_start(AT, period, "Europe/Moscow") == expected
