"""Earning on purchases: base rates, exclusions, stacking, multipliers, bonuses and caps."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kopilka.domain.money import Rounding
from kopilka.domain.rules import UsageCounters, evaluate_purchase

from .factories import BASE_ONE_PER_100, basket, line, member, program, rules


def _points(doc: str, *lines_: object, prog: object = None, **kwargs: object) -> int:
    result = evaluate_purchase(
        rules(doc), prog or program(), basket(*lines_), kwargs.pop("who", member()), **kwargs
    )
    return result.total_points


@pytest.mark.parametrize(
    ("rub", "expected"),
    [
        pytest.param(99, 0, id="below-first-100"),
        pytest.param(100, 1, id="exactly-100"),
        pytest.param("199.99", 1, id="only-full-hundreds"),
        pytest.param(1250, 12, id="1250-rub"),
    ],
)
def test_golden_one_point_per_full_100_rub(rub: str | int, expected: int) -> None:
    """Golden: 1 point per FULL 100 RUB of the purchase."""
    assert _points(BASE_ONE_PER_100, line("1", rub)) == expected


def test_full_hundreds_count_on_the_whole_purchase() -> None:
    """Whole multiples are counted on the rule's total, then attributed to lines exactly."""
    result = evaluate_purchase(
        rules(BASE_ONE_PER_100), program(), basket(line("1", 150), line("2", 150)), member()
    )
    assert result.total_points == 3
    assert sorted(result.points_by_line().values()) == [1, 2]


@pytest.mark.parametrize(
    ("rounding", "expected"),
    [
        pytest.param(Rounding.DOWN, 12, id="down"),
        pytest.param(Rounding.HALF_UP, 13, id="half-up"),
        pytest.param(Rounding.UP, 13, id="up"),
    ],
)
def test_golden_ten_percent_at_one_point_one_rub(rounding: Rounding, expected: int) -> None:
    """Golden: 10% in points at 1 point = 1 RUB, rounded with the program's mode."""
    doc = "rules:\n  - {id: ten, kind: rate, rate: {percent: 10}}\n"
    assert _points(doc, line("1", "125.50"), prog=program(rounding=rounding)) == expected


LIFETIME = """
rules:
  - id: silver
    kind: rate
    rate: {percent: 5}
    priority: 20
  - id: gold
    kind: rate
    rate: {percent: 7}
    priority: 10
    stacking: exclusive
    when: {lifetime_spend: {min: "15000"}}
"""


@pytest.mark.parametrize(
    ("lifetime_rub", "expected"),
    [
        pytest.param(0, 50, id="new-member-5pct"),
        pytest.param(14999, 50, id="just-below-5pct"),
        pytest.param(15000, 70, id="passed-15000-7pct"),
    ],
)
def test_golden_five_rising_to_seven_percent(lifetime_rub: int, expected: int) -> None:
    """Golden: 5% in points, 7% once lifetime purchases reach 15,000 RUB."""
    who = member(lifetime_spend_minor=lifetime_rub * 100)
    assert _points(LIFETIME, line("1", 1000), who=who) == expected


EXCLUSIONS = """
options: {no_points_on_discounted: true}
exclude: {categories: [tobacco, gift_cards]}
rules:
  - {id: base, kind: rate, rate: {percent: 10}}
"""


@pytest.mark.parametrize(
    ("the_line", "expected"),
    [
        pytest.param(line("1", 1000), 100, id="ordinary"),
        pytest.param(line("1", 1000, category="tobacco"), 0, id="tobacco-excluded"),
        pytest.param(line("1", 1000, category="gift_cards"), 0, id="gift-card-excluded"),
        pytest.param(line("1", 1000, discounted=True), 0, id="discounted-option"),
    ],
)
def test_excluded_items_earn_nothing(the_line: object, expected: int) -> None:
    """Excluded categories and (with the option) discounted items earn no points."""
    assert _points(EXCLUSIONS, the_line) == expected


def test_part_paid_with_points_never_earns() -> None:
    """The part of a line paid with points is removed from its earning base."""
    result = evaluate_purchase(
        rules(EXCLUSIONS),
        program(),
        basket(line("1", 1000), line("2", 500)),
        member(),
        points_redeemed_discount_by_line={"1": 40000},
    )
    assert result.points_by_line() == {"1": 60, "2": 50}


STACKING = """
rules:
  - {id: base, kind: rate, priority: 100, rate: {points: 1, per: "100"}}
  - id: dairy
    kind: rate
    priority: 10
    stacking: exclusive
    rate: {points: 5, per: "100"}
    scope: {categories: [dairy]}
  - id: acme-bonus
    kind: rate
    priority: 50
    rate: {points: 1, per: "100"}
    scope: {brands: [acme]}
  - {id: x2, kind: multiplier, factor: 2, priority: 5}
  - {id: x3, kind: multiplier, factor: 3, priority: 6}
"""


def test_exclusive_rule_blocks_later_rates_on_its_lines_only() -> None:
    """An exclusive rate replaces later rates on its lines; multipliers add (factor-1) x base."""
    result = evaluate_purchase(
        rules(STACKING),
        program(),
        basket(line("d", 100, category="dairy"), line("g", 100, brand="other")),
        member(),
    )
    by_rule = result.points_by_rule()
    assert by_rule["dairy"] == 5
    assert by_rule["base"] == 1  # only the grocery line
    assert "acme-bonus" not in by_rule  # blocked on the dairy line, no acme elsewhere
    assert (by_rule["x2"], by_rule["x3"]) == (6, 12)  # 1+1+2 = 4x base, not 6x
    assert result.total_points == 24


def test_priority_ties_broken_by_rule_id() -> None:
    """Two exclusive rules with the same priority: the smaller id wins, never document order."""
    doc = """
    rules:
      - {id: zeta, kind: rate, priority: 1, stacking: exclusive, rate: {points: 9, per: "100"}}
      - {id: alpha, kind: rate, priority: 1, stacking: exclusive, rate: {points: 2, per: "100"}}
    """
    assert evaluate_purchase(rules(doc), program(), basket(), member()).points_by_rule() == {
        "alpha": 2
    }


BONUSES = """
exclude: {categories: [tobacco]}
rules:
  - {id: base, kind: rate, rate: {points: 1, per: "100"}}
  - {id: big, kind: bonus, points: 50, min_amount: "3000"}
  - {id: fifth, kind: bonus, points: 30, every_nth_purchase: 5}
  - {id: welcome, kind: bonus, points: 100, first_purchase: true}
  - id: bday
    kind: bonus
    points: 7
    when: {birthday: {days_before: 1, days_after: 1}}
"""


@pytest.mark.parametrize(
    ("lines_", "who", "bonus_rules"),
    [
        pytest.param([line("1", 2999)], member(purchase_count=1), set(), id="below-threshold"),
        pytest.param([line("1", 3000)], member(purchase_count=1), {"big"}, id="threshold"),
        pytest.param(
            [line("1", 2000), line("2", 2000, category="tobacco")],
            member(purchase_count=1),
            set(),
            id="threshold-ignores-excluded",
        ),
        pytest.param([line("1", 100)], member(purchase_count=4), {"fifth"}, id="fifth-purchase"),
        pytest.param([line("1", 100)], member(purchase_count=5), set(), id="sixth-purchase"),
        pytest.param([line("1", 100)], member(purchase_count=0), {"welcome"}, id="first"),
        pytest.param(
            [line("1", 100)],
            member(purchase_count=1, birthday=date(1990, 6, 11)),
            {"bday"},
            id="birthday-window",
        ),
    ],
)
def test_purchase_bonuses(lines_: list[object], who: object, bonus_rules: set[str]) -> None:
    """Threshold, nth-purchase, first-purchase and birthday bonuses fire exactly when due."""
    result = evaluate_purchase(rules(BONUSES), program(), basket(*lines_), who)
    assert set(result.points_by_rule()) - {"base"} == bonus_rules


def test_bonus_spread_over_eligible_lines_by_amount() -> None:
    """A purchase bonus is attributed to eligible lines in proportion to their amounts."""
    result = evaluate_purchase(
        rules(BONUSES),
        program(),
        basket(line("a", 2000), line("b", 1000), line("t", 5000, category="tobacco")),
        member(purchase_count=1),
    )
    big = {a.line_id: a.points for a in result.awards if a.rule_id == "big"}
    assert big == {"a": 33, "b": 17}


def test_awards_carry_rule_id_version_and_description() -> None:
    """Every award names its rule, the rule set version and the rule's description."""
    doc = (
        'rules:\n  - {id: base, kind: rate, description: "1/100", rate: {points: 1, per: "100"}}\n'
    )
    ruleset = rules(doc, version=42)
    (award,) = evaluate_purchase(ruleset, program(), basket(), member()).awards
    assert (award.rule_id, award.ruleset_version, award.points, award.description) == (
        "base",
        42,
        1,
        "1/100",
    )


CAPS = """
rules:
  - id: promo
    kind: rate
    rate: {percent: 10}
    limits: {per_purchase: 300, per_member_day: 500, per_member_month: 800, budget: 1000}
"""


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        pytest.param(UsageCounters(), 300, id="per-purchase"),
        pytest.param(UsageCounters(points_today={"promo": 400}), 100, id="per-day"),
        pytest.param(UsageCounters(points_this_month={"promo": 650}), 150, id="per-month"),
        pytest.param(UsageCounters(budget_used={"promo": 950}), 50, id="budget"),
        pytest.param(UsageCounters(budget_used={"promo": 1000}), 0, id="budget-exhausted"),
    ],
)
def test_caps_limit_points_and_report_usage(usage: UsageCounters, expected: int) -> None:
    """Caps shrink a rule's points to what is left, and the usage consumed is returned."""
    result = evaluate_purchase(
        rules(CAPS), program(), basket(line("1", 10000)), member(), usage=usage
    )
    assert result.total_points == expected
    assert dict(result.usage.points_by_rule) == ({"promo": expected} if expected else {})


def test_exhausted_exclusive_rule_does_not_block() -> None:
    """A rule whose budget is spent does not apply, so the rules after it still do."""
    doc = """
    rules:
      - {id: promo, kind: rate, priority: 1, stacking: exclusive, rate: {percent: 10},
         limits: {budget: 10}}
      - {id: base, kind: rate, priority: 2, rate: {points: 1, per: "100"}}
    """
    usage = UsageCounters(budget_used={"promo": 10})
    result = evaluate_purchase(rules(doc), program(), basket(), member(), usage=usage)
    assert result.points_by_rule() == {"base": 1}


MIXED = STACKING + "\n".join(
    row for row in BONUSES.split("rules:\n")[1].splitlines() if "id: base" not in row
)


def test_line_order_does_not_matter_golden() -> None:
    """The same lines in another order give exactly the same awards."""
    lines_ = [
        line(str(i), 101 + i * 37, category="dairy" if i % 2 else "grocery") for i in range(6)
    ]
    ruleset, prog, who = rules(MIXED), program(), member()
    first = evaluate_purchase(ruleset, prog, basket(*lines_), who)
    again = evaluate_purchase(ruleset, prog, basket(*reversed(lines_)), who)
    assert first == again


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(0, 500_000), min_size=1, max_size=12),
    st.lists(st.sampled_from(["dairy", "grocery", "tobacco"]), min_size=12, max_size=12),
    st.randoms(use_true_random=False),
)
def test_evaluation_is_permutation_invariant(
    amounts: list[int], categories: list[str], rnd: object
) -> None:
    """Evaluation gives identical awards under any permutation of the basket lines."""
    lines_ = [
        line(f"l{i}", 0, amount_minor=a, category=categories[i]) for i, a in enumerate(amounts)
    ]
    shuffled = list(lines_)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    ruleset = _MIXED_RULES
    who = member(purchase_count=4)
    first = evaluate_purchase(ruleset, program(), basket(*lines_), who)
    again = evaluate_purchase(ruleset, program(), basket(*shuffled), who)
    assert first == again
    assert first.total_points == sum(first.points_by_line().values())


def test_percent_uses_point_value() -> None:
    """A percentage is converted to points at the point value (1 point = 10 RUB here)."""
    doc = "rules:\n  - {id: ten, kind: rate, rate: {percent: 10}}\n"
    prog = program(point_value_minor=1000)
    assert _points(doc, line("1", 1000), prog=prog) == 10


def test_currency_mismatch_is_refused() -> None:
    """Rules written in RUB are not evaluated for a program in another currency."""
    from kopilka.domain.errors import ValidationError

    with pytest.raises(ValidationError, match="program uses EUR"):
        evaluate_purchase(rules(BASE_ONE_PER_100), program(currency="EUR"), basket(), member())


_MIXED_RULES = rules(MIXED)
