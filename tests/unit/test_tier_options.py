"""The tiers: section's program options (issue 22): where qualifying points come from,
downgrading on a return, and anniversary reviews. Their checks name the line and the field;
their decisions are golden cases as a table."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kopilka.domain.errors import ValidationError
from kopilka.domain.rules.document import parse_ruleset
from kopilka.domain.rules.tiers_section import tier_policy
from kopilka.domain.tiers import (
    Metrics,
    PointsSource,
    ReviewSchedule,
    Threshold,
    Tier,
    TierPolicy,
    WindowKind,
    downgrade_on_return,
    next_anniversary,
)

SECTION = """
rules: []
tiers:
  window: {kind: rolling, months: 12}
  review: {schedule: anniversary}
  qualifying_points: {from: [purchases, events, adjustments]}
  downgrade: {mode: at_review, on_return: true}
  levels:
    - {code: silver, name: {ru: Серебряный, en: Silver}}
    - code: gold
      name: {ru: Золотой, en: Gold}
      entry: {points: 500}
      keep: {points: 300}
"""


def test_options_compile_into_the_policy():
    """Each option reaches the policy; without them a program counts purchases only, is
    reviewed by its window's schedule and keeps a tier through returns until the review."""
    policy = tier_policy(SECTION, "yaml")
    assert policy is not None
    assert policy.points_from == frozenset(PointsSource)
    assert policy.schedule is ReviewSchedule.ANNIVERSARY
    assert policy.downgrade_on_return
    plain = tier_policy(
        SECTION.replace("  review: {schedule: anniversary}\n", "")
        .replace("  qualifying_points: {from: [purchases, events, adjustments]}\n", "")
        .replace(", on_return: true", ""),
        "yaml",
    )
    assert plain is not None
    assert plain.points_from == frozenset({PointsSource.PURCHASES})
    assert plain.schedule is ReviewSchedule.ROLLING
    assert not plain.downgrade_on_return
    calendar = tier_policy(
        SECTION.replace("kind: rolling, months: 12", "kind: calendar_year").replace(
            "  review: {schedule: anniversary}\n", ""
        ),
        "yaml",
    )
    assert calendar is not None
    assert calendar.schedule is ReviewSchedule.PERIOD_END


# (case, text replaced, by, line, path, message)
ERRORS = [
    (
        "anniversary-with-calendar-window",
        "kind: rolling, months: 12",
        "kind: calendar_year",
        5,
        "tiers.review.schedule",
        "needs a rolling or lifetime window",
    ),
    (
        "period-end-with-rolling-window",
        "schedule: anniversary",
        "schedule: period_end",
        5,
        "tiers.review.schedule",
        "needs a calendar_year or calendar_quarter window",
    ),
    (
        "unknown-schedule",
        "schedule: anniversary",
        "schedule: birthday",
        5,
        "tiers.review.schedule",
        "",
    ),
    (
        "unknown-source",
        "from: [purchases, events, adjustments]",
        "from: [purchases, referrals]",
        6,
        "tiers.qualifying_points.from[1]",
        "",
    ),
    (
        "source-twice",
        "from: [purchases, events, adjustments]",
        "from: [events, events]",
        6,
        "tiers.qualifying_points",
        "named once",
    ),
    (
        "no-source",
        "from: [purchases, events, adjustments]",
        "from: []",
        6,
        "tiers.qualifying_points.from",
        "",
    ),
    (
        "on-return-without-at-review",
        "mode: at_review, on_return: true",
        "mode: never, on_return: true",
        7,
        "tiers.downgrade.on_return",
        "only for the at_review mode",
    ),
]


@pytest.mark.parametrize(
    ("old", "new", "line", "path", "message"),
    [case[1:] for case in ERRORS],
    ids=[case[0] for case in ERRORS],
)
def test_option_errors_name_line_and_field(old, new, line, path, message):
    """A wrong option is refused at its line and field, like any part of the document."""
    with pytest.raises(ValidationError) as err:
        parse_ruleset(SECTION.replace(old, new))
    errors = err.value.details["errors"]
    assert any(
        e["line"] == line and e["path"] == path and message in e["message"] for e in errors
    ), errors


def _policy(**options: object) -> TierPolicy:
    def tier(code: str, entry: int | None, keep: int | None) -> Tier:
        return Tier(code, code, code, Threshold(entry), Threshold(keep))

    tiers = (
        tier("silver", None, None),
        tier("gold", 1_500_000, 1_000_000),
        tier("plat", 5_000_000, 4_000_000),
    )
    return TierPolicy(tiers, **{"downgrade_on_return": True, **options})  # type: ignore[arg-type]


AS_OF = datetime(2026, 6, 1, tzinfo=UTC)

# (case, options, earned, spend before the return, after it, -> earned after the return)
RETURNS = [
    ("pushed-below-keep", {}, "gold", 1_200_000, 800_000, "silver"),
    ("still-above-keep", {}, "gold", 1_600_000, 1_100_000, None),
    ("already-below-before", {}, "gold", 900_000, 500_000, None),
    ("lands-where-kept", {}, "plat", 4_200_000, 1_200_000, "gold"),
    ("soft-landing-one-level", {"soft_landing": True}, "plat", 4_200_000, 0, "gold"),
    ("option-off", {"downgrade_on_return": False}, "gold", 1_200_000, 0, None),
    ("no-tier", {}, None, 100, 0, None),
]


@pytest.mark.parametrize(
    ("options", "earned", "before", "after", "to"),
    [case[1:] for case in RETURNS],
    ids=[case[0] for case in RETURNS],
)
def test_return_golden_cases(options, earned, before, after, to):
    """A return downgrades at once only when it is what pushed the member below the
    retention bar, landing as a review lands; never otherwise."""
    policy = _policy(window=WindowKind.LIFETIME, **options)
    got = downgrade_on_return(
        policy, earned, AS_OF, (Metrics(before), None), (Metrics(after), None)
    )
    assert got == to


def test_return_in_a_calendar_window_spares_a_tier_last_year_keeps():
    """With a calendar window, a return of this year's purchase does not take a tier the
    year just judged keeps, however little this year holds."""
    policy = _policy(window=WindowKind.YEAR)
    last_year, this_year = Metrics(1_100_000), Metrics(1_600_000)
    after = (last_year, Metrics(0))
    assert downgrade_on_return(policy, "gold", AS_OF, (last_year, this_year), after) is None
    # judged on a year that missed the bar, the return of this year's purchase is what
    # takes gold away (this year alone held it)
    missed = Metrics(100)
    assert downgrade_on_return(
        policy, "gold", AS_OF, (missed, this_year), (missed, Metrics(0))
    ) == ("silver")


@pytest.mark.parametrize(
    ("reached", "after", "zone", "due"),
    [
        (
            datetime(2026, 3, 15, 9, tzinfo=UTC),
            datetime(2026, 3, 15, 9, tzinfo=UTC),
            "UTC",
            datetime(2027, 3, 15, tzinfo=UTC),
        ),
        (
            datetime(2026, 3, 15, 9, tzinfo=UTC),
            datetime(2027, 3, 15, 3, tzinfo=UTC),
            "UTC",
            datetime(2028, 3, 15, tzinfo=UTC),
        ),
        (
            datetime(2028, 2, 29, 9, tzinfo=UTC),
            datetime(2028, 2, 29, 9, tzinfo=UTC),
            "UTC",
            datetime(2029, 2, 28, tzinfo=UTC),
        ),
        # 23:00 UTC on 31 December is 11:00 on 1 January in Kamchatka (UTC+12)
        (
            datetime(2026, 12, 31, 23, tzinfo=UTC),
            datetime(2027, 1, 1, tzinfo=UTC),
            "Asia/Kamchatka",
            datetime(2027, 12, 31, 12, tzinfo=UTC),
        ),
    ],
    ids=["a-year-on", "after-a-review", "29-february", "local-date"],
)
def test_next_anniversary(reached, after, zone, due):
    """The next review is the local date of reaching the tier, a year (or years) on, at
    local midnight; 29 February falls on 28 February."""
    assert next_anniversary(reached, after, zone) == due
