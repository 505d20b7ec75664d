"""Rules documents the YAML reader itself refuses."""

from __future__ import annotations

import time

import pytest

from kopilka.domain.errors import ValidationError
from kopilka.domain.rules import parse_ruleset
from kopilka.domain.rules.source import MAX_DEPTH, MAX_DOCUMENT_BYTES, MAX_VALUES


def test_control_characters_are_a_validation_error_not_a_crash():
    """A document with a character YAML refuses (U+0081) is reported at line 1."""
    with pytest.raises(ValidationError) as err:
        parse_ruleset("rules: []\u0081", fmt="yaml")
    assert "line 1" in str(err.value)


def _refusal(text: str, fmt: str = "yaml") -> dict[str, object]:
    with pytest.raises(ValidationError) as err:
        parse_ruleset(text, fmt=fmt)
    errors = err.value.details["errors"]
    assert len(errors) == 1
    return dict(errors[0])


def test_a_self_referencing_alias_is_refused_at_its_line_not_a_crash():
    """``rules: &a [*a]`` (a list containing itself) is a located validation error, where it
    used to be a RecursionError (a 500 over HTTP)."""
    error = _refusal("redemption: {enabled: false}\nrules: &a [*a]\n")
    assert (error["line"], error["path"]) == (2, "rules")
    assert "anchor &a is not allowed" in str(error["message"])


def test_nested_aliases_are_refused_before_any_expansion():
    """The 'billion laughs' document (each level nine aliases of the one above: 9**8
    strings from 300 bytes) is refused at once instead of being expanded."""
    levels = ['a: ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(8):
        prev, name = chr(97 + i), chr(98 + i)
        levels.append(f"{name}: [{', '.join([f'*{prev}'] * 9)}]")
    # the anchors are left out so that the alias itself is what gets refused
    started = time.perf_counter()
    error = _refusal("\n".join(levels) + "\n")
    assert time.perf_counter() - started < 5  # an expansion would take minutes and gigabytes
    assert (error["line"], error["path"]) == (2, "b[0]")
    assert "alias *a is not allowed" in str(error["message"])


def test_an_anchor_deep_in_a_rule_is_reported_with_its_line_and_field():
    """An anchor on a rule's field names that field and its line."""
    text = "rules:\n  - id: base\n    kind: rate\n    rate: &r {points: 1, per: 100}\n"
    error = _refusal(text)
    assert (error["line"], error["path"]) == (4, "rules[0].rate")


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_deep_nesting_is_refused_not_a_crash(fmt: str):
    """Values nested thousands deep (YAML flow lists or JSON arrays) are a validation
    error naming the depth limit, not a RecursionError."""
    depth = 5000
    text = '{"rules": ' + "[" * depth + "]" * depth + "}"
    error = _refusal(text, fmt)
    assert error["line"] == 1
    assert f"nested more than {MAX_DEPTH} deep" in str(error["message"])


def test_nesting_up_to_the_limit_is_read():
    """The limit refuses only what exceeds it: a list nested to the limit is data (and then
    fails the schema, as any wrong value does)."""
    text = '{"options": ' + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1) + "}"
    with pytest.raises(ValidationError) as err:
        parse_ruleset(text)
    assert "nested" not in str(err.value)
    assert err.value.details["errors"][0]["path"].startswith("options")


def test_a_value_python_cannot_build_is_reported_at_its_line():
    """An integer of 5,000 digits (over Python's conversion limit) is a located
    validation error, where it used to be an unhandled ValueError."""
    error = _refusal("redemption: {enabled: false}\nversion: " + "9" * 5000 + "\n")
    assert error["line"] == 2
    assert "invalid value" in str(error["message"])


def test_the_size_limit_counts_bytes_not_characters():
    """A document under the limit in characters but over it in UTF-8 bytes (Cyrillic
    takes two) is refused, at line 1, before it is parsed."""
    text = "# " + "я" * (MAX_DOCUMENT_BYTES // 2) + "\nrules: []\n"
    assert len(text) < MAX_DOCUMENT_BYTES < len(text.encode())
    error = _refusal(text)
    assert error["line"] == 1
    assert f"larger than {MAX_DOCUMENT_BYTES} bytes" in str(error["message"])


def test_a_document_of_too_many_values_is_refused_at_the_first_one_too_many():
    """A document under the size limit made of the smallest values (a flat list of
    255,000 numbers took 124 MB and seconds to read) stops at value MAX_VALUES + 1."""
    text = "rules: [" + ",\n".join(["1"] * 150_000) + "]\n"  # one a line
    assert len(text) <= MAX_DOCUMENT_BYTES
    error = _refusal(text)
    assert f"more than {MAX_VALUES} values" in str(error["message"])
    # the root mapping, its key "rules" and its list come first; item k is on line k, so
    # the error's line shows where reading stopped (its time is bench/'s business, never
    # an assertion here)
    assert error["line"] == MAX_VALUES + 1 - 3


def test_a_thousand_rules_are_well_under_the_value_limit():
    """The limit leaves room for the largest legal document: 1000 rules of the grocery
    example's kind (about 25 values each) parse."""
    rule = (
        '  - {{id: r{n}, kind: rate, rate: {{points: 1, per: "100"}}, scope: {{skus: [a, b, c]}}}}'
    )
    text = "rules:\n" + "\n".join(rule.format(n=n) for n in range(1000)) + "\n"
    assert len(parse_ruleset(text).rules) == 1000


def test_more_than_one_document_in_the_stream_is_refused():
    """A second YAML document after ``---`` is an error at its line, as before."""
    error = _refusal("rules: []\n---\nrules: []\n")
    assert error["line"] == 2
