"""Every job kind the worker runs, and every count its runs answer, has words on the
console's jobs page in both languages: a kind registered later cannot be forgotten."""

from __future__ import annotations

import pytest

from kopilka.services.worker import kinds  # noqa: F401  (registers the kinds)
from kopilka.services.worker.registry import REGISTRY
from kopilka.web import i18n
from kopilka.web.jobs_pages import COUNTS, JOBS


def test_every_registered_kind_has_words() -> None:
    """Each registered kind has a label, and the page names no kind that is not registered."""
    assert REGISTRY, "no job kind registered"
    missing = sorted(set(REGISTRY) - set(JOBS))
    assert missing == [], f"job kinds without words on /admin/jobs: {missing}"
    assert sorted(set(JOBS) - set(REGISTRY)) == []


def test_every_declared_count_has_words() -> None:
    """Each kind declares the counts its runs answer, and each has a label under that kind."""
    for name, kind in REGISTRY.items():
        assert kind.counts, f"job kind {name!r} declares no counts"
        missing = sorted(set(kind.counts) - set(COUNTS.get(name, {})))
        assert missing == [], f"{name}: counts without words: {missing}"


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_the_words_are_translated(lang: str) -> None:
    """Every kind's and count's label has a msgstr in the catalog (Russian differs from the
    English source)."""
    words = [*JOBS.values(), *(w for c in COUNTS.values() for w in c.values())]
    catalog = i18n.translations(lang)
    for message in words:
        translated = catalog.gettext(message)
        assert translated
        if lang == "ru":
            assert translated != message, f"no Russian for {message!r}"
