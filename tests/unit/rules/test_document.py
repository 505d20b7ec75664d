"""Parsing rules documents: the shipped example, JSON, and errors located by line and path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import kopilka.domain.rules as rules_pkg
from kopilka.domain.errors import ValidationError
from kopilka.domain.rules import parse_ruleset

EXAMPLE = Path(rules_pkg.__file__).parent / "examples" / "grocery.yaml"


def test_grocery_example_parses() -> None:
    """The shipped grocery example parses, with rules sorted by (priority, id)."""
    ruleset = parse_ruleset(EXAMPLE.read_text(encoding="utf-8"))
    assert ruleset.version == 1
    assert ruleset.currency == "RUB"
    keys = [(r.priority, r.id) for r in ruleset.rules]
    assert keys == sorted(keys)
    assert {"base", "review", "app-pilot", "every-5th"} <= {r.id for r in ruleset.rules}
    assert ruleset.redemption.step == 10


def test_json_document_parses_like_yaml() -> None:
    """A JSON document compiles to the same rules as its YAML twin."""
    doc = {"rules": [{"id": "base", "kind": "rate", "rate": {"points": 1, "per": "100"}}]}
    ruleset = parse_ruleset(json.dumps(doc, indent=2), "json", version=7)
    assert ruleset.version == 7
    assert ruleset.rates[0].per_minor == 10000


def test_explicit_version_overrides_document_version() -> None:
    """The published version passed by the caller wins over the document's own."""
    assert parse_ruleset("version: 3\nrules: []\n").version == 3
    assert parse_ruleset("version: 3\nrules: []\n", version=9).version == 9


BAD_RATE = """\
rules:
  - id: base
    kind: rate
    rate: {points: 1, per: "100"}
  - id: fresh
    kind: rate
    rate:
      points: 0
      per: "100"
"""


def _errors(text: str, fmt: str = "yaml") -> list[dict[str, object]]:
    with pytest.raises(ValidationError) as caught:
        parse_ruleset(text, fmt)
    errors: list[dict[str, object]] = caught.value.details["errors"]
    return errors


@pytest.mark.parametrize(
    ("text", "line", "path", "fragment"),
    [
        pytest.param(BAD_RATE, 8, "rules[1].rate.points", "greater than 0", id="zero-points"),
        pytest.param(
            "rules:\n  - id: a\n    kind: rate\n    rate: {percent: 5, points: 1}\n",
            4,
            "rules[0].rate",
            "either",
            id="two-rate-forms",
        ),
        pytest.param(
            "rules:\n  - id: a\n    kind: magic\n",
            3,
            "rules[0].kind",
            "unknown rule kind",
            id="unknown-kind",
        ),
        pytest.param(
            "rules:\n  - id: a\n    kind: bonus\n    points: 5\n    colour: red\n",
            5,
            "rules[0].colour",
            "Extra inputs",
            id="unknown-field",
        ),
        pytest.param(
            "rules:\n  - id: a\n    kind: bonus\n",
            2,
            "rules[0].points",
            "Field required",
            id="missing-field-points-at-rule",
        ),
        pytest.param(
            "rules:\n  - id: a\n    kind: bonus\n    points: 1\n"
            "  - id: a\n    kind: bonus\n    points: 2\n",
            5,
            "rules[1].id",
            "duplicate rule id",
            id="duplicate-id",
        ),
        pytest.param(
            "rules:\n  - id: a\n    kind: bonus\n    points: 1\n    when:\n"
            "      hours: {from: '25:00', to: '10:00'}\n",
            6,
            "rules[0].when.hours.from",
            "HH:MM",
            id="bad-hour",
        ),
        pytest.param(
            "rules:\n  - id: a\n    kind: rate\n    rate: {points: 1, per: '100.001'}\n",
            4,
            "rules[0].rate.per",
            "decimal places",
            id="money-precision",
        ),
        pytest.param(
            "rules: []\nredemption:\n  step: 0\n",
            3,
            "redemption.step",
            "greater than 0",
            id="redemption-step",
        ),
        pytest.param(
            "rules:\n  - id: a\n    id: b\n",
            3,
            "rules[0].id",
            "duplicate key",
            id="duplicate-yaml-key",
        ),
        pytest.param("rules: [\n", 2, "", "invalid YAML", id="syntax-error"),
        pytest.param("- just\n- a list\n", 1, "", "must be a mapping", id="not-a-mapping"),
    ],
)
def test_bad_document_points_at_line_and_path(
    text: str, line: int, path: str, fragment: str
) -> None:
    """Each validation error names the document line and the field path that caused it."""
    errors = _errors(text)
    assert any(
        e["line"] == line and e["path"] == path and fragment in str(e["message"]) for e in errors
    ), errors


def test_all_errors_reported_at_once_in_message() -> None:
    """Several mistakes come back together, and the message reads 'line N: path: problem'."""
    text = BAD_RATE + "redemption:\n  step: 0\n"
    with pytest.raises(ValidationError) as caught:
        parse_ruleset(text)
    assert "line 8: rules[1].rate.points:" in caught.value.message
    assert "line 11: redemption.step:" in caught.value.message
    assert len(caught.value.details["errors"]) == 2


def test_json_syntax_error_has_line() -> None:
    """Malformed JSON is reported at its line."""
    errors = _errors('{\n  "rules": [\n}\n', "json")
    assert errors[0]["line"] == 3


def test_unknown_format_is_refused() -> None:
    """Only yaml and json documents are accepted."""
    with pytest.raises(ValidationError, match="format"):
        parse_ruleset("rules: []", "toml")
