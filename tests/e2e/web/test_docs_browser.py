"""The API documentation in a real browser, offline: Debian's Chromium, headless, with every
request to another origin refused, against uvicorn serving the whole API application."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from kopilka.api.app import create_app
from kopilka.domain.clock import FrozenClock
from kopilka.services.context import ServiceContext
from kopilka.store.db import make_engine
from kopilka.store.migrate import upgrade
from tests.conftest import START
from tests.e2e.web.test_browser import CHROMIUM, CHROMIUM_ARGS, pytestmark, serving
from tests.e2e.web.world import build_world

__all__ = ["pytestmark"]  # browser-marked, and skipped the same way without Chromium


@pytest.fixture(scope="module")
def api_served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """uvicorn on a free local port, in a thread, serving ``create_app`` on a fresh SQLite."""
    url = f"sqlite:///{tmp_path_factory.mktemp('docs') / 'kopilka.db'}"
    upgrade(url)
    engine = make_engine(url)
    world = build_world(ServiceContext(engine, FrozenClock(START)))
    with serving(create_app(world.kopilka)) as base:
        yield base
    engine.dispose()


@pytest.fixture
def offline_page(api_served: str) -> Iterator[tuple[object, list[str]]]:
    """A page whose requests to any other origin are aborted, and listed."""
    from playwright.sync_api import sync_playwright

    origin = urlsplit(api_served).netloc
    refused: list[str] = []

    def only_local(route: object) -> None:
        address = route.request.url  # type: ignore[attr-defined]
        if urlsplit(address).netloc == origin or address.startswith("data:"):
            route.continue_()  # type: ignore[attr-defined]
        else:
            refused.append(address)
            route.abort()  # type: ignore[attr-defined]

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.set_default_timeout(15_000)
            page.route("**/*", only_local)
            yield page, refused
        finally:
            browser.close()


def test_swagger_ui_renders_the_operations_offline(api_served, offline_page) -> None:
    """/docs shows the API's operations with no other origin reachable, and asks none."""
    from playwright.sync_api import expect

    page, refused = offline_page
    page.goto(f"{api_served}/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Kopilka API")
    operations = page.locator(".opblock")
    expect(operations.first).to_be_visible()
    assert operations.count() > 20
    expect(page.locator(".opblock-summary-path", has_text="/v1/purchases/quote")).to_be_visible()
    page.screenshot(path="/tmp/kopilka-docs-offline.png")
    assert refused == []


def test_redoc_renders_the_operations_offline(api_served, offline_page) -> None:
    """/redoc shows the API reference with no other origin reachable, and asks none."""
    from playwright.sync_api import expect

    page, refused = offline_page
    page.goto(f"{api_served}/redoc")
    # ReDoc lays out the whole document (some 150 operations) before its title shows: on a
    # loaded CI host that took over the default 5 s once
    expect(page.locator("h1", has_text="Kopilka API")).to_be_visible(timeout=30_000)
    expect(page.get_by_text("/v1/purchases/quote").first).to_be_attached()
    page.screenshot(path="/tmp/kopilka-redoc-offline.png")
    assert refused == []


def test_landing_page_leads_to_the_docs(api_served, offline_page) -> None:
    """From / a newcomer reaches the console, the portal and the API documentation by links;
    the page is styled by the server's own stylesheet."""
    from playwright.sync_api import expect

    page, refused = offline_page
    page.goto(api_served + "/")
    expect(page.get_by_role("link", name="Admin console")).to_have_attribute("href", "/admin")
    expect(page.get_by_role("link", name="Member portal")).to_have_attribute("href", "/portal")
    header = page.locator("header.top")
    expect(header).to_have_css("background-color", "rgb(24, 50, 79)")  # kopilka.css loaded
    page.screenshot(path="/tmp/kopilka-landing.png", full_page=True)
    page.get_by_role("link", name="API documentation").click()
    expect(page).to_have_url(f"{api_served}/docs")
    expect(page.locator(".opblock").first).to_be_visible()
    assert refused == []
