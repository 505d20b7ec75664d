"""Tiers in the domain: the tiers: section's checks, windows in the program's time zone,
and the review's golden cases as a table."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kopilka.domain.errors import ValidationError
from kopilka.domain.rules.document import parse_ruleset
from kopilka.domain.rules.tiers_section import tier_policy
from kopilka.domain.tiers import (
    Downgrade,
    Metrics,
    Threshold,
    Tier,
    TierPolicy,
    WindowKind,
    effective,
    period_bounds,
    progress,
    review,
    review_window,
    upgrade_on_purchase,
)

SECTION = """
rules: []
tiers:
  window: {kind: calendar_year}
  levels:
    - {code: silver, name: {ru: Серебряный, en: Silver}}
    - code: gold
      name: {ru: Золотой, en: Gold}
      entry: {spend: "15000"}
      keep: {spend: "10000"}
"""


def _policy(**options: object) -> TierPolicy:
    def tier(code: str, entry: int | None, keep: int | None) -> Tier:
        return Tier(code, code, code, Threshold(entry), Threshold(keep))

    tiers = (
        tier("silver", None, None),
        tier("gold", 1_500_000, 1_000_000),
        tier("plat", 5_000_000, 4_000_000),
    )
    return TierPolicy(tiers, **options)  # type: ignore[arg-type]


def test_section_compiles_money_to_minor_units():
    """The section becomes a policy: money in minor units, keep defaulting to entry."""
    policy = tier_policy(SECTION, "yaml")
    assert policy is not None
    assert policy.window is WindowKind.YEAR
    assert policy.tiers[1].entry == Threshold(1_500_000)
    assert policy.tiers[1].keep == Threshold(1_000_000)
    assert policy.tiers[0].keep == Threshold()


@pytest.mark.parametrize(
    ("change", "line", "path", "message"),
    [
        ('keep: {spend: "10000"}', 10, "tiers.levels[1].keep.spend", "must not be above"),
        ("kind: calendar_year", 4, "tiers.window", "needs months"),
        ("code: gold", 7, "tiers.levels[1].code", "should match pattern"),
        ('entry: {spend: "15000"}', 9, "tiers.levels[1].entry.spend", "decimal places"),
    ],
    ids=["keep-above-entry", "rolling-without-months", "bad-code", "sub-kopeck"],
)
def test_section_errors_name_line_and_field(change, line, path, message):
    """A wrong tiers: section is refused with the line and the field, like any rule."""
    replacement = {
        'keep: {spend: "10000"}': 'keep: {spend: "20000"}',
        "kind: calendar_year": "kind: rolling",
        "code: gold": "code: Gold!",
        'entry: {spend: "15000"}': 'entry: {spend: "15000.001"}',
    }[change]
    with pytest.raises(ValidationError) as err:
        parse_ruleset(SECTION.replace(change, replacement))
    errors = err.value.details["errors"]
    assert any(
        e["line"] == line and e["path"] == path and message in e["message"] for e in errors
    ), errors


def test_calendar_year_in_kamchatka_starts_at_local_midnight():
    """A calendar year in Asia/Kamchatka (UTC+12) starts at noon UTC on 31 December, and
    a review at that instant judges the year just ended."""
    policy = _policy(window=WindowKind.YEAR)
    at = datetime(2026, 12, 31, 12, 0, tzinfo=UTC)
    assert period_bounds(policy, at, "Asia/Kamchatka") == (
        at,
        datetime(2027, 12, 31, 12, 0, tzinfo=UTC),
    )
    assert review_window(policy, at, "Asia/Kamchatka") == (
        datetime(2025, 12, 31, 12, 0, tzinfo=UTC),
        at,
    )


def test_quarter_and_rolling_windows():
    """A quarter runs to the next quarter's first day; a rolling window has no end."""
    at = datetime(2026, 5, 31, 10, tzinfo=UTC)
    q = period_bounds(_policy(window=WindowKind.QUARTER), at, "UTC")
    assert q == (datetime(2026, 4, 1, tzinfo=UTC), datetime(2026, 7, 1, tzinfo=UTC))
    rolling = period_bounds(_policy(window=WindowKind.ROLLING, window_months=3), at, "UTC")
    assert rolling == (datetime(2026, 2, 28, 10, tzinfo=UTC), None)


AS_OF = datetime(2027, 1, 1, tzinfo=UTC)
GRACE_START = datetime(2026, 12, 1, tzinfo=UTC)

# (case, options, earned, spend in the judged window, grace since, -> earned, changed, grace)
REVIEWS = [
    ("kept-above-keep", {}, "gold", 1_000_000, None, "gold", False, None),
    ("upgrade-at-review", {}, "silver", 1_500_000, None, "gold", True, None),
    ("never", {"downgrade": Downgrade.NEVER}, "gold", 0, None, "gold", False, None),
    ("at-review", {"downgrade": Downgrade.AT_REVIEW}, "plat", 0, None, "silver", True, None),
    ("soft-landing", {"soft_landing": True}, "plat", 0, None, "gold", True, None),
    ("lands-where-kept", {}, "plat", 1_200_000, None, "gold", True, None),
    (
        "grace-starts",
        {"downgrade": Downgrade.AFTER_GRACE, "grace_days": 30},
        "gold",
        0,
        None,
        "gold",
        False,
        AS_OF,
    ),
    (
        "grace-running",
        {"downgrade": Downgrade.AFTER_GRACE, "grace_days": 60},
        "gold",
        0,
        GRACE_START,
        "gold",
        False,
        GRACE_START,
    ),
    (
        "grace-over",
        {"downgrade": Downgrade.AFTER_GRACE, "grace_days": 31},
        "gold",
        0,
        GRACE_START,
        "silver",
        True,
        None,
    ),
    (
        "grace-cleared-when-kept",
        {"downgrade": Downgrade.AFTER_GRACE, "grace_days": 30},
        "gold",
        1_000_000,
        GRACE_START,
        "gold",
        False,
        None,
    ),
]


@pytest.mark.parametrize(
    ("options", "earned", "spend", "grace", "to", "changed", "grace_after"),
    [case[1:] for case in REVIEWS],
    ids=[case[0] for case in REVIEWS],
)
def test_review_golden_cases(options, earned, spend, grace, to, changed, grace_after):
    """Each downgrade mode, grace and soft landing decide as documented."""
    decision = review(_policy(**options), earned, Metrics(spend), AS_OF, grace)
    assert (decision.earned, decision.changed, decision.grace_since) == (to, changed, grace_after)


def test_period_under_way_holds_a_tier():
    """A review judging last year never takes away a tier this year's buying holds."""
    decision = review(_policy(), "gold", Metrics(0), AS_OF, None, current=Metrics(1_600_000))
    assert (decision.earned, decision.changed) == ("gold", False)


@pytest.mark.parametrize(
    ("earned", "spend", "reached"),
    [
        (None, 0, "silver"),
        ("silver", 1_499_999, None),
        ("silver", 1_500_000, "gold"),
        ("plat", 0, None),
    ],
)
def test_purchases_only_raise(earned, spend, reached):
    """A purchase lifts a member to the tier the metrics qualify for, never lowers one."""
    assert upgrade_on_purchase(_policy(), earned, Metrics(spend)) == reached


@pytest.mark.parametrize(
    ("earned", "manual", "until", "expected"),
    [
        ("silver", "gold", None, "gold"),
        ("plat", "gold", None, "plat"),
        ("silver", "gold", datetime(2026, 1, 1, tzinfo=UTC), "silver"),
        (None, "vip", None, "vip"),
    ],
    ids=["floor-lifts", "floor-below-earned", "floor-ended", "migrated-free-text"],
)
def test_manual_tier_is_a_floor(earned, manual, until, expected):
    """The effective tier is the higher of the earned one and a manual floor that lasts."""
    assert effective(_policy(), earned, manual, until, datetime(2026, 6, 1, tzinfo=UTC)) == expected


def test_progress_to_next_and_to_keep():
    """Progress names what the next tier lacks and what keeping the current one lacks."""
    p = progress(_policy(window=WindowKind.YEAR), "gold", Metrics(800_000), AS_OF, "Europe/Moscow")
    assert p.next_tier is not None
    assert p.next_tier.code == "plat"
    assert p.to_next == {"spend": 4_200_000}
    assert p.keep_missing == {"spend": 200_000}
    assert p.deadline == datetime(2027, 12, 31, 21, tzinfo=UTC)
