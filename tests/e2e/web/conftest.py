"""Fixtures of the web UI tests: a world per test on each backend, and signed-in clients."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from kopilka.services.context import ServiceContext
from tests.e2e.web.world import INBOX, World, build_world, client, sign_in
from tests.inbox import Inbox


@pytest.fixture(autouse=True)
def inbox(monkeypatch: pytest.MonkeyPatch) -> Inbox:
    """Messages (the portal's one-time codes) go to :data:`INBOX`, read by
    ``portal_sign_in``, instead of the log adapter."""
    INBOX.sent.clear()
    return INBOX.install(monkeypatch)


@pytest.fixture
def world(ctx: ServiceContext) -> World:
    return build_world(ctx)


@pytest.fixture
def anon(world: World) -> TestClient:
    """A client with no session."""
    return client(world)


@pytest.fixture
def as_role(world: World) -> Callable[[str], TestClient]:
    """A client signed in to the console with the key of a role."""

    def make(role: str) -> TestClient:
        c = client(world)
        response = sign_in(c, world.keys[role])
        assert response.status_code == 303, response.text
        return c

    return make


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Debian's Chromium driven by Playwright, one per test module (never a downloaded one)."""
    from playwright.sync_api import sync_playwright

    from tests.e2e.web.test_browser import CHROMIUM, CHROMIUM_ARGS

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()
