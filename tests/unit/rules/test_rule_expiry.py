"""A rule's own expiry (``expires``): its forms, its errors, and how an earning splits
into lots by it."""

from __future__ import annotations

import pytest

from kopilka.domain.errors import ValidationError
from kopilka.domain.expiry import ExpiryKind, ExpiryPolicy
from kopilka.domain.rules.lot_expiry import split_by_expiry

from .factories import rules


def _doc(expires: str) -> str:
    return f"""\
rules:
  - id: base
    kind: rate
    rate: {{points: 1, per: "100"}}
  - id: promo
    kind: rate
    rate: {{percent: 5}}
    expires: {expires}
"""


@pytest.mark.parametrize(
    ("expires", "policy"),
    [
        pytest.param("{days: 30}", ExpiryPolicy(ExpiryKind.DAYS, 30), id="days"),
        pytest.param("{months: 3}", ExpiryPolicy(ExpiryKind.MONTHS_END, 3), id="months"),
        pytest.param("{years: 1}", ExpiryPolicy(ExpiryKind.YEAR_END, 1), id="years"),
        pytest.param("{end_of: month}", ExpiryPolicy(ExpiryKind.MONTHS_END, 0), id="end-of-month"),
        pytest.param("{end_of: year}", ExpiryPolicy(ExpiryKind.YEAR_END, 0), id="end-of-year"),
    ],
)
def test_each_form_compiles_to_its_policy(expires: str, policy: ExpiryPolicy) -> None:
    """Every documented form gives the rule that expiry; other rules follow the program."""
    ruleset = rules(_doc(expires))
    assert ruleset.rule("promo").expiry == policy
    assert ruleset.rule("base").expiry is None
    assert dict(ruleset.expiries) == {"promo": policy}


@pytest.mark.parametrize(
    ("expires", "path", "fragment"),
    [
        pytest.param("{days: 0}", "rules[1].expires.days", "greater than or equal to 1", id="0d"),
        pytest.param("{days: '30'}", "rules[1].expires.days", "integer", id="text"),
        pytest.param("{months: 1201}", "rules[1].expires.months", "less than", id="too-long"),
        pytest.param("{end_of: week}", "rules[1].expires.end_of", "'month' or 'year'", id="week"),
        pytest.param("{days: 1, months: 1}", "rules[1].expires", "exactly one", id="two-forms"),
        pytest.param("{}", "rules[1].expires", "exactly one", id="none"),
        pytest.param("{weeks: 2}", "rules[1].expires.weeks", "not permitted", id="unknown"),
        pytest.param("30", "rules[1].expires", "valid dictionary", id="not-a-mapping"),
    ],
)
def test_a_bad_expiry_names_its_line_and_field(expires: str, path: str, fragment: str) -> None:
    """A bad ``expires`` is reported at line 8 (where it is written) and its field."""
    with pytest.raises(ValidationError) as info:
        rules(_doc(expires))
    (error,) = info.value.details["errors"]
    assert (error["line"], error["path"]) == (8, path)
    assert fragment in error["message"]


D30 = ExpiryPolicy(ExpiryKind.DAYS, 30)
MONTH = ExpiryPolicy(ExpiryKind.MONTHS_END, 0)
SPLIT_RULES = """\
rules:
  - {id: base, kind: rate, rate: {points: 1, per: "100"}}
  - {id: other, kind: rate, rate: {percent: 1}}
  - {id: d30, kind: rate, rate: {percent: 2}, expires: {days: 30}}
  - {id: d30b, kind: rate, rate: {percent: 3}, expires: {days: 30}}
  - {id: month, kind: rate, rate: {percent: 4}, expires: {end_of: month}}
"""


@pytest.mark.parametrize(
    ("awards", "parts", "part_of_rule"),
    [
        pytest.param([("base", 5), ("other", 2)], None, None, id="program-only-one-lot"),
        pytest.param([("d30", 4)], [(4, D30)], {"d30": 0}, id="rule-expiry-only"),
        pytest.param(
            [("month", 3), ("base", 5), ("d30", 4), ("other", 1), ("d30b", 6)],
            [(6, None), (10, D30), (3, MONTH)],
            {"month": 2, "base": 0, "d30": 1, "other": 0, "d30b": 1},
            id="program-first-same-expiries-share",
        ),
        pytest.param([("base", 5), ("d30", 0)], None, None, id="zero-points-make-no-lot"),
    ],
)
def test_an_earning_splits_into_lots_by_expiry(
    awards: list[tuple[str, int]],
    parts: list[tuple[int, ExpiryPolicy | None]] | None,
    part_of_rule: dict[str, int] | None,
) -> None:
    """One lot per distinct expiry, the program's first; None when all is the program's."""
    split = split_by_expiry(rules(SPLIT_RULES), awards)
    if parts is None:
        assert split is None
        return
    assert split is not None
    assert list(split.parts) == parts
    assert split.part_of_rule == part_of_rule


def test_a_document_without_rule_expiries_never_splits() -> None:
    """The common case costs nothing: no rule has ``expires``, no split is looked for."""
    ruleset = rules(
        SPLIT_RULES.replace(", expires: {days: 30}", "").replace(", expires: {end_of: month}", "")
    )
    assert dict(ruleset.expiries) == {}
    assert split_by_expiry(ruleset, [("d30", 4), ("month", 1)]) is None
