"""The analytics dashboard in a real browser (Debian's Chromium through Playwright), in
English and Russian: an analyst signs in, follows the navigation to Analytics, picks a range
and weekly periods with the form's plain inputs, and reads the charts (each an image named
by its title) with the issued points in the table beside the chart, and a chart's CSV link
answers the table's numbers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from kopilka.domain.clock import FrozenClock
from kopilka.services import analytics, audit
from kopilka.services.context import ServiceContext
from kopilka.store.db import make_engine
from kopilka.store.migrate import upgrade
from kopilka.web import i18n
from tests.conftest import START
from tests.e2e.web.test_browser import pytestmark, serving  # noqa: F401
from tests.e2e.web.world import World, build_world, make_app

WORDS = {
    "en": {
        "key": "API key",
        "sign_in": "Sign in",
        "nav": "Analytics",
        "periods": "Periods",
        "week": "by week",
        "show": "Show",
        "from": "From",
        "to": "To",
        "chart": "Points issued, redeemed and expired by period",
        "csv": "Download as CSV",
    },
    "ru": {
        "key": "API-ключ",
        "sign_in": "Войти",
        "nav": "Аналитика",
        "periods": "Периоды",
        "week": "по неделям",
        "show": "Показать",
        "from": "From",
        "to": "To",
        "chart": "Баллы начисленные, списанные и сгоревшие по периодам",
        "csv": "Скачать CSV",
    },
}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, World]]:
    """The web world with its rollups built, served by uvicorn."""
    url = f"sqlite:///{tmp_path_factory.mktemp('analytics') / 'kopilka.db'}"
    upgrade(url)
    engine = make_engine(url)
    world = build_world(ServiceContext(engine, FrozenClock(START)))
    analytics.refresh(world.ctx, world.program)
    with serving(make_app(world.kopilka)) as base:
        yield base, world
    engine.dispose()


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_the_analyst_picks_a_range_and_reads_the_charts(
    served: tuple[str, World], browser: Any, lang: str
) -> None:
    """The points chart is an image named by its title; the table beside it has the
    week's issued points as verify sums them, written as the language writes numbers."""
    from playwright.sync_api import expect

    base, world = served
    w = WORDS[lang]
    issued = -audit.verify_ledger(world.ctx, world.program.id).totals["issued"]
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.add_cookies([{"name": "kopilka_lang", "value": lang, "url": base}])
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        page.goto(f"{base}/admin/sign-in")
        page.get_by_label(w["key"]).fill(world.keys["analyst"])
        page.get_by_role("button", name=w["sign_in"]).click()
        page.get_by_role("link", name=w["nav"], exact=True).click()
        page.locator("#a-from").fill("2026-03-01")
        page.locator("#a-to").fill("2026-03-31")
        page.locator("#a-grain").select_option("week")
        page.locator("form[action='/admin/analytics'] button[type=submit]").click()
        expect(page).to_have_url(
            f"{base}/admin/analytics?from=2026-03-01&to=2026-03-31&grain=week&by=none"
        )
        expect(page.get_by_role("img", name=w["chart"])).to_be_visible()
        section = page.locator("section#points, section[aria-labelledby='h-points']")
        with i18n.using(lang):
            figure = i18n.number(issued)
        rows = section.locator("table tbody tr").all_inner_texts()
        assert any(figure in row and "2026-03-09" in row for row in rows), rows
        link = section.get_by_role("link", name=w["csv"])
        answer = page.request.get(f"{base}{link.get_attribute('href')}")
        assert answer.ok
        assert f"2026-03-09,{issued}," in answer.text()
    finally:
        context.close()
