"""Paid membership in the domain: the ``paid:`` plans of a tiers section (compiled, and
refused with their line and field), a term's end in calendar months or days, a renewal
from the current end, and the paid floor in the effective tier and its lapse."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kopilka.domain.errors import ValidationError
from kopilka.domain.memberships import (
    MembershipStatus,
    Plan,
    add_term,
    is_active,
    renewal_start,
)
from kopilka.domain.rules.document import parse_ruleset
from kopilka.domain.rules.tiers_section import tier_policy
from kopilka.domain.tiers import Threshold, Tier, TierPolicy, effective, effective_until

SECTION = """
rules: []
tiers:
  levels:
    - {code: silver, name: {ru: Серебряный, en: Silver}}
    - code: gold
      name: {ru: Золотой, en: Gold}
      entry: {spend: "15000"}
  paid:
    - code: gold_year
      tier: gold
      price: "1990.50"
      term: {months: 12}
      name: {ru: Золотой на год, en: Gold for a year}
"""


def test_paid_plans_compile():
    """A plan's price becomes minor units, its term months, its names both languages."""
    policy = tier_policy(SECTION, "yaml")
    assert policy is not None
    assert policy.plans == (
        Plan("gold_year", "gold", 199050, 12, 0, "Золотой на год", "Gold for a year"),
    )
    assert policy.plan("gold_year") is policy.plans[0]
    assert policy.plan("nope") is None


@pytest.mark.parametrize(
    ("change", "replacement", "line", "path", "message"),
    [
        ("tier: gold", "tier: platinum", 11, "tiers.paid[0].tier", "unknown tier"),
        ('price: "1990.50"', 'price: "1990.505"', 12, "tiers.paid[0].price", "decimal places"),
        (
            "term: {months: 12}",
            "term: {months: 1, days: 3}",
            13,
            "tiers.paid[0].term",
            "exactly one",
        ),
        ("term: {months: 12}", "term: {}", 13, "tiers.paid[0].term", "exactly one"),
        ("code: gold_year", "code: Gold Year", 10, "tiers.paid[0].code", "should match pattern"),
    ],
    ids=["unknown-tier", "sub-kopeck", "months-and-days", "no-term", "bad-code"],
)
def test_paid_plan_errors_name_line_and_field(change, replacement, line, path, message):
    """A wrong plan is refused with its line and field, like any part of the document."""
    with pytest.raises(ValidationError) as err:
        parse_ruleset(SECTION.replace(change, replacement))
    errors = err.value.details["errors"]
    assert any(
        e["line"] == line and e["path"] == path and message in e["message"] for e in errors
    ), errors


def test_duplicate_plan_code_refused():
    """Two plans with one code: the second is named."""
    doubled = SECTION + SECTION[SECTION.index("    - code: gold_year") :]
    with pytest.raises(ValidationError) as err:
        parse_ruleset(doubled)
    assert any(
        e["path"] == "tiers.paid[1].code" and "duplicate" in e["message"]
        for e in err.value.details["errors"]
    )


@pytest.mark.parametrize(
    ("start", "months", "days", "end"),
    [
        (datetime(2026, 1, 31, tzinfo=UTC), 1, 0, datetime(2026, 2, 28, tzinfo=UTC)),
        (datetime(2028, 1, 31, tzinfo=UTC), 1, 0, datetime(2028, 2, 29, tzinfo=UTC)),
        (datetime(2026, 11, 15, tzinfo=UTC), 3, 0, datetime(2027, 2, 15, tzinfo=UTC)),
        (datetime(2026, 3, 1, tzinfo=UTC), 12, 0, datetime(2027, 3, 1, tzinfo=UTC)),
        (datetime(2026, 12, 30, tzinfo=UTC), 0, 7, datetime(2027, 1, 6, tzinfo=UTC)),
    ],
)
def test_term_end(start, months, days, end):
    """Calendar months clamp to the month's last day; days add on."""
    assert add_term(start, Plan("p", "gold", 100, months, days)) == end


def test_renewal_runs_on_from_the_current_end():
    """A renewal during the term starts at its end; after it, now."""
    now = datetime(2026, 5, 1, tzinfo=UTC)
    later = now + timedelta(days=10)
    assert renewal_start(later, now) == later
    assert renewal_start(now - timedelta(days=1), now) == now


def test_is_active():
    """A cancelled membership runs to its end; a refunded one is over."""
    end = datetime(2026, 5, 1, tzinfo=UTC)
    before = end - timedelta(seconds=1)
    assert is_active(MembershipStatus.CANCELLED, end, before)
    assert not is_active(MembershipStatus.ACTIVE, end, end)
    assert not is_active(MembershipStatus.REFUNDED, end, before)


def _policy() -> TierPolicy:
    return TierPolicy(
        tuple(
            Tier(code, code, code, Threshold(bar), Threshold(bar))
            for code, bar in (("silver", None), ("gold", 100), ("plat", 200))
        )
    )


AT = datetime(2026, 6, 1, tzinfo=UTC)
END = AT + timedelta(days=30)


@pytest.mark.parametrize(
    ("earned", "manual", "paid", "at", "expected", "until"),
    [
        ("silver", None, "gold", AT, "gold", END),
        ("silver", None, "gold", END, "silver", None),
        ("plat", None, "gold", AT, "plat", None),  # earned above the paid tier
        ("silver", "plat", "gold", AT, "plat", None),  # a manual floor above it
        (None, None, "gold", AT, "gold", END),
    ],
    ids=["floor", "term-over", "earned-higher", "manual-higher", "no-earned-tier"],
)
def test_paid_floor_in_the_effective_tier(earned, manual, paid, at, expected, until):
    """The paid tier lifts the effective tier while its term runs, never lowers it, and
    ``effective_until`` says when the stored tier lapses by time alone."""
    policy = _policy()
    assert effective(policy, earned, manual, None, at, paid, END) == expected
    assert effective_until(policy, earned, manual, None, at, paid, END) == until


def test_lapse_is_the_first_floor_end_that_changes_the_tier():
    """A manual gold until day 10 under a paid plat until day 30: the tier lapses on day
    30 (day 10 changes nothing); with the paid plan over first, on the manual's end."""
    policy = _policy()
    day10 = AT + timedelta(days=10)
    assert effective_until(policy, "silver", "gold", day10, AT, "plat", END) == END
    assert effective_until(policy, "silver", "plat", END, AT, "gold", day10) == END
    assert effective_until(policy, "silver", "gold", END, AT, "plat", day10) == day10
