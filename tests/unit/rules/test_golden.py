"""Differential test: the engine answers exactly what it answered when the fixture was written.

See ``golden_cases.py`` for what is recorded and how to regenerate it (only for an intended
change of results). Thousands of cases over the bench's 50-rule document, the grocery example
and 60 random documents: every award (rule, version, line, points, description, visibility,
in order), the usage, the control group, the most points payable, the spread of a points
discount and the purchase evaluated again with it, errors included.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import pytest

from kopilka.domain.rules import parse_ruleset

from .golden_cases import FIXTURE, cases, describe_input, digest, outcome, seed


@cache
def _fixture() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(FIXTURE.read_text(encoding="utf-8"))
    return data


def _names() -> list[str]:
    return sorted(_fixture()["documents"])


def test_fixture_covers_the_bench_and_grocery_documents() -> None:
    names = _names()
    assert "bench" in names
    assert "grocery" in names
    assert len(names) > 50


@pytest.mark.parametrize("name", _names())
def test_outcomes_match_the_recorded_ones(name: str) -> None:
    documents = _fixture()["documents"]
    recorded = _fixture()["recorded"][name]
    doc = documents[name]
    rules = parse_ruleset(doc["text"], doc["format"])
    generated = list(cases(rules, seed(documents, name), doc["cases"]))
    # a change of the generator, not of the engine, would show here
    assert digest([describe_input(case) for case in generated]) == recorded["inputs"]
    assert len(generated) == len(recorded["digests"])
    for n, case in enumerate(generated):
        result = outcome(rules, case)
        if n < doc["full"]:
            assert result == recorded["full"][n], f"{name} case {n}"
        assert digest(result) == recorded["digests"][n], f"{name} case {n}: {result}"
