"""Conditions: time windows in the program's zone, birthday, store/channel/member facts, pilots."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from kopilka.domain.rules import bucket, evaluate_purchase

from .factories import basket, line, member, program, rules


def _applies(when: str, at: datetime = datetime(2026, 6, 10, 12, tzinfo=UTC), **kw: object) -> bool:
    doc = f"rules:\n  - {{id: r, kind: bonus, points: 1, when: {when}}}\n"
    who = kw.pop("who", member())
    result = evaluate_purchase(rules(doc), program(), basket(at=at, **kw), who)
    return result.total_points == 1


@pytest.mark.parametrize(
    ("when", "at", "expected"),
    [
        pytest.param(
            "{dates: [{from: 2026-01-01, to: 2026-01-10}]}",
            datetime(2025, 12, 31, 21, 30, tzinfo=UTC),
            True,
            id="jan-1-in-moscow-dec-31-utc",
        ),
        pytest.param(
            "{dates: [{from: 2026-01-01, to: 2026-01-10}]}",
            datetime(2026, 1, 10, 21, 0, tzinfo=UTC),
            False,
            id="jan-11-in-moscow",
        ),
        pytest.param(
            "{days_of_week: [wed]}", datetime(2026, 6, 10, 12, tzinfo=UTC), True, id="wednesday"
        ),
        pytest.param(
            "{days_of_week: [sat, sun]}",
            datetime(2026, 6, 10, 12, tzinfo=UTC),
            False,
            id="not-weekend",
        ),
        pytest.param(
            "{hours: {from: '08:00', to: '11:00'}}",
            datetime(2026, 6, 10, 7, 59, tzinfo=UTC),
            True,
            id="10-59-local",
        ),
        pytest.param(
            "{hours: {from: '08:00', to: '11:00'}}",
            datetime(2026, 6, 10, 8, 0, tzinfo=UTC),
            False,
            id="11-00-local-excluded",
        ),
        pytest.param(
            "{hours: {from: '22:00', to: '02:00'}}",
            datetime(2026, 6, 10, 22, 30, tzinfo=UTC),
            True,
            id="wraps-midnight",
        ),
    ],
)
def test_calendar_conditions_use_program_time_zone(when: str, at: datetime, expected: bool) -> None:
    """Dates, weekdays and hours are judged on the local time of the program (Moscow)."""
    assert _applies(when, at) is expected


@pytest.mark.parametrize(
    ("birthday", "today", "expected"),
    [
        pytest.param(date(2000, 2, 29), date(2027, 2, 28), True, id="feb29-on-feb28-common-year"),
        pytest.param(date(2000, 2, 29), date(2028, 2, 29), True, id="feb29-in-leap-year"),
        pytest.param(date(2000, 2, 29), date(2027, 3, 2), False, id="feb29-window-ends"),
        pytest.param(date(1990, 12, 31), date(2027, 1, 1), True, id="window-across-new-year"),
        pytest.param(date(1990, 6, 20), date(2026, 6, 10), False, id="far-from-birthday"),
    ],
)
def test_birthday_window(birthday: date, today: date, expected: bool) -> None:
    """A birthday window of one day either side, with 29 February on 28 February."""
    at = datetime(today.year, today.month, today.day, 9, tzinfo=UTC)
    when = "{birthday: {days_before: 1, days_after: 1}}"
    assert _applies(when, at, who=member(birthday=birthday)) is expected


def test_no_birthday_never_matches() -> None:
    """A member without a known birthday never gets birthday rules."""
    assert not _applies("{birthday: {days_before: 31, days_after: 31}}")


@pytest.mark.parametrize(
    ("when", "kw", "expected"),
    [
        pytest.param("{stores: [s1]}", {"store": "s1"}, True, id="store"),
        pytest.param("{stores: [s1]}", {"store": "s2"}, False, id="other-store"),
        pytest.param("{channels: [app]}", {"channel": "app"}, True, id="channel"),
        pytest.param("{channels: [app]}", {"channel": "till"}, False, id="other-channel"),
        pytest.param("{partners: [cafe]}", {"partner": "cafe"}, True, id="partner"),
        pytest.param("{payment_methods: [card]}", {"payment_method": "cash"}, False, id="payment"),
        pytest.param(
            "{member: {gender: female}}",
            {"who": member(attributes={"gender": "female"})},
            True,
            id="8-march-female",
        ),
        pytest.param(
            "{member: {gender: female}}",
            {"who": member(attributes={"gender": "male"})},
            False,
            id="8-march-male",
        ),
        pytest.param(
            "{member: {vip: true}}",
            {"who": member(attributes={"vip": 1})},
            False,
            id="true-is-not-1",
        ),
        pytest.param("{tiers: [gold]}", {"who": member(tier="gold")}, True, id="tier"),
        pytest.param(
            "{segments: [students, pensioners]}",
            {"who": member(segments=frozenset({"students"}))},
            True,
            id="segment",
        ),
        pytest.param("{segments: [students]}", {}, False, id="no-segment"),
    ],
)
def test_purchase_and_member_conditions(when: str, kw: dict[str, object], expected: bool) -> None:
    """Store, channel, partner, payment method and member facts gate a rule."""
    assert _applies(when, **kw) is expected


PILOT = """
rules:
  - id: pilot
    kind: rate
    rate: {percent: 10}
    pilot: {share_percent: 50, stores: [s1]}
"""


def test_pilot_share_and_control_group() -> None:
    """Members outside the share but otherwise eligible are reported as the rule's control."""
    ruleset = rules(PILOT)
    seen = {"in": 0, "control": 0}
    for n in range(200):
        who = member(f"m{n}")
        result = evaluate_purchase(ruleset, program(), basket(line("1", 1000), store="s1"), who)
        in_pilot = bucket("pilot", who.member_id) < 5000
        assert (result.total_points == 100) is in_pilot
        assert result.control_group == (() if in_pilot else ("pilot",))
        seen["in" if in_pilot else "control"] += 1
    assert min(seen.values()) > 60


def test_pilot_outside_its_stores_is_neither_treated_nor_control() -> None:
    """A pilot limited to some stores does not apply, nor count control, elsewhere."""
    for n in range(20):
        result = evaluate_purchase(
            rules(PILOT), program(), basket(line("1", 1000), store="s9"), member(f"m{n}")
        )
        assert (result.total_points, result.control_group) == (0, ())


def test_bucket_is_stable_and_in_range() -> None:
    """The pilot bucket is a pure function of rule and member, within 0..9999."""
    assert bucket("r", "m") == bucket("r", "m")
    assert all(0 <= bucket("r", f"m{n}") < 10_000 for n in range(100))
