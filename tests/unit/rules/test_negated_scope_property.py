"""Property: a scope with ``{not: [...]}`` lists takes, in the engine's precompiled plan,
exactly the lines its :class:`Matcher` matches."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from kopilka.domain.rules import evaluate_purchase
from tests.unit.rules.factories import basket, line, member, program, rules

VALUES = ("a", "b", "c")
FACETS = ("categories", "skus", "brands", "tags")

# each facet: not written, a list, or {not: [...]}
facet_lists = st.one_of(
    st.none(),
    st.lists(st.sampled_from(VALUES), min_size=1, max_size=2, unique=True),
    st.builds(
        lambda values: {"not": values},
        st.lists(st.sampled_from(VALUES), min_size=1, max_size=2, unique=True),
    ),
)
scopes = st.fixed_dictionaries(dict.fromkeys(FACETS, facet_lists))
lines_of = st.lists(
    st.tuples(
        st.sampled_from(VALUES),
        st.sampled_from(VALUES),
        st.sampled_from(VALUES),
        st.frozensets(st.sampled_from(VALUES), max_size=2),
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=200, deadline=None)
@given(scope=scopes, raw_lines=lines_of)
def test_plan_and_matcher_agree_on_negated_scopes(
    scope: dict[str, object], raw_lines: list[tuple[str, str, str, frozenset[str]]]
) -> None:
    """One point per unit on the scope's lines: the lines that earn are those the rule's
    matcher matches, whatever mix of lists and negations the scope has."""
    written = {k: v for k, v in scope.items() if v is not None}
    ruleset = rules(
        "rules:\n  - id: unit\n    kind: rate\n    rate: {points: 1, per_unit: true}\n"
        f"    scope: {json.dumps(written)}\n"
    )
    lines = [
        line(str(n), 10, category=c, sku=s, brand=b, tags=t)
        for n, (c, s, b, t) in enumerate(raw_lines)
    ]
    matcher = ruleset.rule("unit").scope
    expected = {ln.line_id: 1 for ln in lines if matcher.matches(ln)}
    result = evaluate_purchase(ruleset, program(), basket(*lines), member())
    assert result.points_by_line() == expected
