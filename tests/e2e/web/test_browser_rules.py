"""A marketer's main task in a real browser (Debian's Chromium, Playwright), in Russian and
in English: open the rules, add a multiplier with the form, preview it, publish it with
the confirmation. The English run is on a desktop, the Russian one on a 390 px phone, where
no page of the task scrolls sideways."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kopilka.domain.clock import FrozenClock
from kopilka.services import rules as rules_svc
from kopilka.services.context import ServiceContext
from kopilka.store.db import make_engine
from kopilka.store.migrate import upgrade
from kopilka.web.i18n import gettext, using
from tests.conftest import START
from tests.e2e.web.test_browser import pytestmark, serving  # noqa: F401
from tests.e2e.web.world import World, build_world, make_app


@pytest.fixture
def served(tmp_path) -> Iterator[tuple[str, World]]:
    """uvicorn on a free local port, in a thread, serving a fresh world (one per test:
    each publishes a version)."""
    url = f"sqlite:///{tmp_path / 'kopilka.db'}"
    upgrade(url)
    engine = make_engine(url)
    world = build_world(ServiceContext(engine, FrozenClock(START)))
    with serving(make_app(world.kopilka)) as base:
        yield base, world
    engine.dispose()


def no_sideways_scroll(page) -> None:
    """The page is no wider than the window (nothing to scroll sideways on a phone)."""
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], width


@pytest.mark.parametrize(("lang", "width"), [("en", 1280), ("ru", 390)])
def test_marketer_adds_a_multiplier_with_the_form_previews_and_publishes(
    served,
    browser,
    lang,
    width,
):
    """Sign in, open Rules, add a multiplier with the form (by its labels, in the page's
    language), preview the draft on the real member's basket, publish it through the
    confirmation, and find version 2 in force with the rule."""
    from playwright.sync_api import expect

    def t(message: str, **values: object) -> str:
        with using(lang):
            text = gettext(message)
        return text % values if values else text

    base, world = served
    context = browser.new_context(
        viewport={"width": width, "height": 900}, locale="ru-RU" if lang == "ru" else "en-US"
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        page.goto(f"{base}/admin/sign-in")
        page.get_by_label(t("API key")).fill(world.keys["marketer"])
        page.get_by_role("button", name=t("Sign in")).click()
        page.get_by_role("link", name=t("Rules"), exact=True).click()
        expect(page.get_by_role("heading", level=1)).to_have_text(t("Rules"))
        no_sideways_scroll(page)

        page.get_by_role("button", name=t("Add: %(kind)s", kind=t("Multiplier"))).click()
        expect(page.get_by_role("heading", level=1)).to_contain_text(t("New rule"))
        no_sideways_scroll(page)
        page.get_by_label(t("Id"), exact=True).fill("bakery-x3")
        page.get_by_label(t("Multiply the points of the lines in scope by")).fill("3")
        page.get_by_label(t("Categories")).fill("bakery")
        page.get_by_label(t("Saturday")).check()
        page.get_by_label(t("Sunday")).check()
        page.get_by_role("button", name=t("Add the rule to the draft")).click()
        expect(page.get_by_role("status").first).to_contain_text(
            t("Rule %(rule)s is added to the draft: preview it, then publish.", rule="bakery-x3")
        )
        expect(page.get_by_label(t("Rules document"), exact=True)).to_contain_text("bakery-x3")

        page.get_by_role("button", name=t("Preview"), exact=True).click()
        result = page.locator(".result")
        expect(result).to_be_visible()
        # the answer opens at the preview, not at the top of the rules list above it
        assert page.url.endswith("/admin/rules/preview#preview-h")
        expect(result).to_be_in_viewport()
        expect(page.get_by_label(t("Draft rules document"))).to_contain_text("factor: 3")

        page.get_by_role("button", name=t("Validate and publish")).click()
        expect(page.get_by_role("heading", level=1)).to_have_text(
            t("Publish version %(version)s?", version=2)
        )
        expect(page.locator("dl.facts")).to_contain_text("bakery-x3")
        no_sideways_scroll(page)
        page.get_by_role("button", name=t("Publish version %(version)s", version=2)).click()
        expect(page.get_by_role("status").first).to_contain_text(
            t("Version %(version)s is published.", version=2)
        )
        in_force = rules_svc.version_in_force(world.ctx, world.program)
        assert in_force is not None
        assert in_force["version"] == 2
        assert "bakery-x3" in in_force.get("document", "")
    finally:
        context.close()
