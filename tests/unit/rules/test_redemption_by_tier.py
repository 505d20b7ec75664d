"""Redemption limits by tier (``redemption.by_tier``): golden cases of what a member of
each tier may pay with points, and the document's checks with their lines and fields."""

from __future__ import annotations

import pytest

from kopilka.domain.errors import RedemptionNotAllowed, ValidationError
from kopilka.domain.rules import max_redeemable, parse_ruleset, spread_discount
from kopilka.domain.rules.redemption import points_for_amount

from .factories import basket, line, program, rules

TIERED = """
rules:
  - {id: five, kind: rate, rate: {percent: 5}}
redemption:
  max_percent: 30
  max_points: 1000
  step: 10
  by_tier:
    gold: {max_percent: 50}
    plat: {max_percent: 100, max_points: 5000, max_item_percent: 80}
tiers:
  levels:
    - {code: silver, name: {ru: Серебряный, en: Silver}}
    - {code: gold, name: {ru: Золотой, en: Gold}, entry: {spend: "15000"}}
    - {code: plat, name: {ru: Платина, en: Platinum}, entry: {spend: "50000"}}
"""


@pytest.mark.parametrize(
    ("tier", "rub", "expected"),
    [
        pytest.param(None, 1000, 300, id="no-tier-30pct"),
        pytest.param("silver", 1000, 300, id="silver-document-limits"),
        pytest.param("gold", 1000, 500, id="gold-50pct"),
        pytest.param("gold", 10_000, 1000, id="gold-keeps-max-points"),
        pytest.param("plat", 1000, 800, id="plat-80pct-per-item"),
        pytest.param("plat", 10_000, 5000, id="plat-own-max-points"),
        pytest.param("vip-from-before", 1000, 300, id="unknown-code-document-limits"),
    ],
)
def test_golden_ceiling_by_tier(tier: str | None, rub: int, expected: int) -> None:
    """Golden: on a basket of ``rub`` roubles (1 point = 1 RUB, a big balance) a member of
    each tier may pay this many points: the tier's own limits replace the document's, the
    ones it does not give stay."""
    ceiling = max_redeemable(basket(line("1", rub)), rules(TIERED), program(), 10**6, tier)
    assert ceiling == expected


def test_gold_pays_what_silver_may_not() -> None:
    """500 points on a 1,000 RUB basket: refused for silver (at most 30 %), spread for gold;
    an amount of money asked is capped by the tier's ceiling."""
    ruleset, prog, b = rules(TIERED), program(), basket(line("1", 1000))
    with pytest.raises(RedemptionNotAllowed) as refused:
        spread_discount(500, b, ruleset, prog, "silver")
    assert "at most 30" in refused.value.message
    assert spread_discount(500, b, ruleset, prog, "gold") == {"1": 50000}
    assert points_for_amount(90000, b, ruleset, prog, 10**6, "silver") == 300
    assert points_for_amount(90000, b, ruleset, prog, 10**6, "gold") == 500


@pytest.mark.parametrize(
    ("change", "replacement", "line_no", "path", "message"),
    [
        (
            "gold: {max_percent: 50}",
            "platinum: {max_percent: 50}",
            9,
            "redemption.by_tier.platinum",
            "unknown tier",
        ),
        (
            "gold: {max_percent: 50}",
            "gold: {max_percent: 150}",
            9,
            "redemption.by_tier.gold.max_percent",
            "less than or equal to 100",
        ),
        (
            "gold: {max_percent: 50}",
            "gold: {min_points: 5}",
            9,
            "redemption.by_tier.gold.min_points",
            "Extra inputs",
        ),
    ],
    ids=["unknown-tier", "over-100pct", "unknown-limit"],
)
def test_by_tier_errors_name_line_and_field(change, replacement, line_no, path, message):
    """A wrong ``by_tier`` is refused with its line and field like any part of the rules."""
    with pytest.raises(ValidationError) as err:
        parse_ruleset(TIERED.replace(change, replacement))
    errors = err.value.details["errors"]
    assert any(
        e["line"] == line_no and e["path"] == path and message in e["message"] for e in errors
    ), errors


def test_by_tier_without_tiers_refused():
    """Limits by tier in a document without tiers name the tier as unknown."""
    document = TIERED[: TIERED.index("tiers:")]
    with pytest.raises(ValidationError) as err:
        parse_ruleset(document)
    paths = [e["path"] for e in err.value.details["errors"]]
    assert paths == ["redemption.by_tier.gold", "redemption.by_tier.plat"]


def test_by_tier_max_points_below_min_points_refused():
    """A tier's max_points below the document's min_points can never be paid: refused."""
    document = TIERED.replace("step: 10", "step: 10\n  min_points: 100").replace(
        "gold: {max_percent: 50}", "gold: {max_points: 50}"
    )
    with pytest.raises(ValidationError) as err:
        parse_ruleset(document)
    assert any("min_points" in e["message"] for e in err.value.details["errors"])
