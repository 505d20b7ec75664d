"""The ``categories:`` section of a rules document: the names members read for category
codes, checked like the rest of the document (each problem at its line and field), and
for display only (a document's purchase results are the same with or without it)."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest

import kopilka.domain.rules as rules_pkg
from kopilka.demo.catalogue import PRODUCTS
from kopilka.domain.errors import ValidationError
from kopilka.domain.rules import evaluate_purchase, parse_ruleset
from kopilka.domain.rules.categories import category_name
from tests.unit.rules.factories import basket, line, member, program

EXAMPLE = Path(rules_pkg.__file__).parent / "examples" / "grocery.yaml"
DOC = """\
rules:
  - id: base
    kind: rate
    rate: {points: 1, per: "100"}
categories:
  dairy: {ru: " Молочное ", en: Dairy}
  "12": {ru: Двенадцать, en: Twelve}
"""


def _errors(text: str, fmt: str = "yaml") -> list[dict[str, object]]:
    with pytest.raises(ValidationError) as caught:
        parse_ruleset(text, fmt)
    return list(caught.value.details["errors"])


def test_names_are_read_by_code_and_language() -> None:
    """Each code's names, trimmed; a document without the section has none."""
    ruleset = parse_ruleset(DOC)
    assert ruleset.category_names == {
        "dairy": {"ru": "Молочное", "en": "Dairy"},
        "12": {"ru": "Двенадцать", "en": "Twelve"},
    }
    assert parse_ruleset(DOC.split("categories:", maxsplit=1)[0]).category_names == {}


def test_a_json_document_names_categories_too() -> None:
    """The section reads the same in a JSON document."""
    doc = {"rules": [], "categories": {"bread": {"ru": "Хлеб", "en": "Bread"}}}
    ruleset = parse_ruleset(json.dumps(doc, ensure_ascii=False, indent=2), "json")
    assert ruleset.category_names == {"bread": {"ru": "Хлеб", "en": "Bread"}}


def test_a_name_in_the_language_else_the_code() -> None:
    """What a page shows: the name in its language; a code without names as it is."""
    names = parse_ruleset(DOC).category_names
    assert category_name(names, "dairy", "ru") == "Молочное"
    assert category_name(names, "dairy", "en") == "Dairy"
    assert category_name(names, "coffee", "ru") == "coffee"


BAD = [
    ("categories: [dairy]\n", 1, "categories", "mapping"),
    ("categories:\n  12: {ru: a, en: b}\n", 2, "categories.12", "in quotes"),
    ('categories:\n  " dairy": {ru: a, en: b}\n', 2, "categories. dairy", "spaces"),
    ('categories:\n  "": {ru: a, en: b}\n', 2, "categories.", "1 to 64"),
    (f"categories:\n  {'c' * 65}: {{ru: a, en: b}}\n", 2, f"categories.{'c' * 65}", "1 to 64"),
    ("categories:\n  dairy: Dairy\n", 2, "categories.dairy", "{ru: ..., en: ...}"),
    ("categories:\n  dairy: {ru: Молочное}\n", 2, "categories.dairy.en", "Field required"),
    ('categories:\n  dairy: {ru: "  ", en: Dairy}\n', 2, "categories.dairy.ru", "blank"),
    ("categories:\n  dairy: {ru: a, en: b, de: c}\n", 2, "categories.dairy.de", "Extra inputs"),
    ("categories:\n  dairy: {ru: 12, en: b}\n", 2, "categories.dairy.ru", "valid string"),
    (f"categories:\n  dairy: {{ru: {'я' * 101}, en: b}}\n", 2, "categories.dairy.ru", "100"),
]


@pytest.mark.parametrize(("text", "line_no", "path", "fragment"), BAD)
def test_a_bad_section_is_refused_at_its_line_and_field(
    text: str, line_no: int, path: str, fragment: str
) -> None:
    """Each mistake of the section is a located error of the document, as every other."""
    errors = _errors("rules: []\n" + text)
    assert any(
        e["line"] == line_no + 1 and e["path"] == path and fragment in str(e["message"])
        for e in errors
    ), errors


def test_every_problem_of_the_section_is_told_at_once() -> None:
    """Several bad entries are reported together, with the rest of the document's."""
    text = "rules: []\ncategories:\n  a: {ru: x}\n  12: {ru: y, en: z}\nredemption: {step: 0}\n"
    paths = {e["path"] for e in _errors(text)}
    assert paths == {"categories.a.en", "categories.12", "redemption.step"}


def test_at_most_a_thousand_categories() -> None:
    """The section is bounded like the document's other lists."""
    many = "".join(f"  c{n}: {{ru: a, en: b}}\n" for n in range(1001))
    (error,) = _errors("rules: []\ncategories:\n" + many)
    assert error["path"] == "categories"


def _without_names(text: str) -> str:
    """The document with its ``categories:`` section (and the comment above it) cut out."""
    cut = re.sub(r"\n(# [^\n]*\n)*categories:\n(  [^\n]*\n)+", "\n", text)
    assert cut != text
    return cut


def test_the_grocery_example_names_its_categories_and_earns_the_same_without() -> None:
    """The shipped example (the demo's rules) names every category of the demo's shelves,
    and its purchases earn exactly what the document without the names gives."""
    text = EXAMPLE.read_text(encoding="utf-8")
    named, bare = parse_ruleset(text), parse_ruleset(_without_names(text))
    assert {p.category for p in PRODUCTS} <= set(named.category_names)
    assert bare.category_names == {}
    rng = random.Random(24)
    earned = 0
    for n in range(40):
        lines = [
            line(str(i), rub=p.price, category=p.category, brand=p.brand, sku=p.sku)
            for i, p in enumerate(rng.sample(PRODUCTS, k=rng.randint(1, 6)), start=1)
        ]
        who = member(f"m-{n}", tier=rng.choice((None, "gold")))
        shop = basket(*lines)
        a = evaluate_purchase(named, program(), shop, who)
        b = evaluate_purchase(bare, program(), shop, who)
        assert (a.total_points, a.awards) == (b.total_points, b.awards)
        earned += a.total_points
    assert earned > 0  # the baskets did earn, so the comparison says something
