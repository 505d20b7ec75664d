"""The ``categories:`` section of a rules document: the names members read for the
category codes the tills send, in both languages::

    categories:
      dairy: {ru: Молочное, en: Dairy}
      vegetables: {ru: Овощи, en: Vegetables}

It is for display only (the portal's favourite categories, a coupon's categories, an
offer's): the earning never reads it, so names change nothing a purchase earns. A code
without a name is shown as it is. Checked with the rest of the document
(``document.parse_ruleset`` reports its errors at their lines and fields).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any

import pydantic
from pydantic import Field, field_validator

from kopilka.domain.messages import msg
from kopilka.domain.rules.pydantic_messages import located_message
from kopilka.domain.rules.schema import Strict
from kopilka.domain.rules.source import Path

MAX_CATEGORIES = 1000
MAX_CODE = 64  # a basket line's category is at most 64 characters (the API's bound)

Problem = Callable[[Path, str], None]
CategoryNames = Mapping[str, Mapping[str, str]]
"""A category code -> its names by language (``{"ru": ..., "en": ...}``)."""


class CategoryName(Strict):
    """A category's names: both languages, neither blank."""

    ru: Annotated[str, Field(min_length=1, max_length=100)]
    en: Annotated[str, Field(min_length=1, max_length=100)]

    @field_validator("ru", "en")
    @classmethod
    def _written(cls, value: str) -> str:
        if not value.strip():
            raise ValueError(msg("a name cannot be blank"))
        return value.strip()


def check_categories(raw: Any, problem: Problem) -> dict[str, dict[str, str]]:
    """Validate a ``categories:`` value; each problem is reported through
    ``problem(path, message)`` with its path under ``categories``. The names by code (the
    codes without problems), empty when the section is absent."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        problem(("categories",), msg("write categories as a mapping: code: {ru: ..., en: ...}"))
        return {}
    if len(raw) > MAX_CATEGORIES:
        problem(("categories",), msg("at most %(max)s categories", max=MAX_CATEGORIES))
        return {}
    names: dict[str, dict[str, str]] = {}
    for code, value in raw.items():
        # the document's lines are found by the key as written (an unquoted 12 too)
        where: Path = ("categories", str(code))
        if not isinstance(code, str):
            problem(where, msg("a category code is text: write it in quotes"))
            continue
        if not code or len(code) > MAX_CODE or code != code.strip():
            problem(
                where,
                msg(
                    "a category code is 1 to %(max)s characters, without spaces at either end",
                    max=MAX_CODE,
                ),
            )
            continue
        if not isinstance(value, Mapping):
            problem(where, msg("write a category's names as {ru: ..., en: ...}"))
            continue
        try:
            name = CategoryName.model_validate(value)
        except pydantic.ValidationError as exc:
            for err in exc.errors(include_url=False):
                problem((*where, *err["loc"]), located_message(err))
            continue
        names[code] = {"ru": name.ru, "en": name.en}
    return names


def category_name(names: CategoryNames, code: str, language: str) -> str:
    """What a member reads for ``code`` in ``language``: its name there, else the code."""
    found = names.get(code)
    return (found.get(language) or code) if found is not None else code
