"""``Award`` is a named tuple when the rules run as Python and a native class when they run
compiled (see ``kopilka.domain.rules.context.Award``): both behave alike wherever awards are
read (fields, iteration and unpacking, ``len``, indexing, equality, hashing, ``repr``)."""

from __future__ import annotations

import pytest

import kopilka.domain.rules.context as context
from kopilka.domain.rules import COMPILED, Award, EarnResult, UsageDelta

FIELDS = ("rule_id", "ruleset_version", "line_id", "points", "description", "visible")
# the active class, and interpreted also the class the compiled build makes native
CLASSES = [Award, *([context._AwardClass] if hasattr(context, "_AwardClass") else [])]


def test_the_active_award_class_depends_on_the_build() -> None:
    if COMPILED:
        assert not issubclass(Award, tuple)
        assert not hasattr(context, "_AwardClass")
    else:
        assert issubclass(Award, tuple)
        assert Award._fields == FIELDS  # type: ignore[attr-defined]


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: "tuple" if issubclass(c, tuple) else "class")
def test_awards_read_like_tuples_of_their_fields(cls: type[Award]) -> None:
    award = cls("rule", 3, "line-1", 25, "Rule text", False)
    values = ("rule", 3, "line-1", 25, "Rule text", False)
    assert tuple(award) == values
    assert list(award) == list(values)
    rule_id, version, line_id, points, description, visible = award
    assert (rule_id, version, line_id, points, description, visible) == values
    assert tuple(getattr(award, name) for name in FIELDS) == values
    assert len(award) == 6
    assert [award[n] for n in range(6)] == list(values)
    assert award.as_tuple() == values
    assert award == values
    assert award == cls(*values)
    assert award != cls("rule", 3, "line-1", 26, "Rule text", False)
    assert award != ("rule", 3)
    assert award != "rule"
    assert hash(award) == hash(values)
    assert len({award, cls(*values)}) == 1
    assert repr(award) == (
        "Award(rule_id='rule', ruleset_version=3, line_id='line-1', points=25, "
        "description='Rule text', visible=False)"
    )
    assert cls("event", 1, None, 5, "").visible is True  # the default
    assert cls("event", 1, None, 5, "").line_id is None


def test_the_active_award_is_read_only() -> None:
    award = Award("rule", 3, "line-1", 25, "Rule text")
    with pytest.raises(AttributeError):
        award.points = 1  # type: ignore[misc]


def test_results_keep_their_dataclass_behaviour() -> None:
    usage = UsageDelta(points_by_rule={"a": 1})
    assert usage == UsageDelta({"a": 1}, {})
    assert UsageDelta().points_by_rule == {}
    assert UsageDelta().events_by_rule == {}
    assert UsageDelta().points_by_rule is not UsageDelta().points_by_rule
    result = EarnResult(2, (Award("a", 2, "1", 5, "A"),), usage)
    assert result == EarnResult(2, (Award("a", 2, "1", 5, "A"),), usage, ())
    assert result.control_group == ()
    assert result.total_points == 5
    assert repr(result).startswith("EarnResult(ruleset_version=2, awards=(Award(rule_id='a'")
    with pytest.raises(AttributeError):
        result.awards = ()  # type: ignore[misc]
    with pytest.raises(AttributeError):
        usage.points_by_rule = {}  # type: ignore[misc]
