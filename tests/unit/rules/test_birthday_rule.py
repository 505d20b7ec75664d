"""The ``birthday`` event rule in a rules document: accepted with points, ``when`` and its
own ``expires``, grouped under the event for the job; a ``match`` (the event has no
attributes) is an error at its line and field, reported beside the document's other
errors."""

from __future__ import annotations

import pytest

from kopilka.domain.errors import ValidationError
from kopilka.domain.rules import parse_ruleset

GOOD = """\
schema_version: 1
rules:
  - id: birthday-gift
    kind: event
    event: birthday
    points: 300
    when: {tiers: [gold], segments: {not: [staff]}}
    expires: {days: 30}
"""


def test_a_birthday_rule_is_an_event_rule_with_its_own_expiry():
    """The rule is filed under the ``birthday`` event with its points and expiry."""
    ruleset = parse_ruleset(GOOD)
    (rule,) = ruleset.events["birthday"]
    assert rule.id == "birthday-gift"
    assert rule.points == 300
    assert "birthday-gift" in ruleset.expiries


def test_match_on_a_birthday_rule_is_refused_at_its_line():
    """``match`` is reported at its own line (7) and path, and an unrelated error of the
    same document (a negative point count at line 11) is reported with it."""
    text = """\
schema_version: 1
rules:
  - id: birthday-gift
    kind: event
    event: birthday
    points: 300
    match: {tier: gold}
  - id: other
    kind: event
    event: review
    points: -1
"""
    with pytest.raises(ValidationError) as err:
        parse_ruleset(text)
    errors = [(e["line"], e["path"], str(e["message"])) for e in err.value.details["errors"]]
    assert errors[0] == (
        7,
        "rules[0].match",
        "a birthday rule has no event attributes to match; use when",
    )
    assert [line for line, _, _ in errors] == [7, 11]
