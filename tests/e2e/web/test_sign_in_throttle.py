"""Failed sign-ins, counted per client address and per card tried: past the limit the
portal and the console answer 429 with Retry-After, even to the right credentials."""

from __future__ import annotations

import dataclasses
import secrets
from datetime import UTC, datetime

import pytest
import time_machine
from fastapi.testclient import TestClient

from kopilka.web.guard import wait_message
from tests.e2e.web.world import World, hidden_fields, make_app, portal_sign_in, sign_in, text_of

LIMIT = "3 per 15 minutes"


@pytest.fixture
def app(world: World):
    """The web UI of ``world`` with a limit of 3 failed sign-ins."""
    settings = world.kopilka.settings.model_copy(update={"sign_in_limit": LIMIT})
    return make_app(dataclasses.replace(world.kopilka, settings=settings))


def visitor(app, address: str) -> TestClient:
    return TestClient(app, follow_redirects=False, client=(address, 50000))


def try_card(c: TestClient, world: World, card: str, phone: str) -> int:
    fields = hidden_fields(c.get("/portal/sign-in").text, "/portal/sign-in")
    data = {**fields, "program": world.program.code, "card": card, "phone": phone}
    return c.post("/portal/sign-in", data=data).status_code


def assert_refused(response, card: str | None = None) -> None:
    assert response.status_code == 429
    wait = int(response.headers["Retry-After"])
    assert 1 <= wait <= 15 * 60
    assert wait_message(wait) in text_of(response.text)
    if card is not None:
        assert card in response.text  # the form keeps the card, as after any refusal


def test_the_portal_refuses_an_address_after_its_failures(world, app):
    c = visitor(app, "10.0.0.1")
    for n in range(3):  # three cards, each tried once
        assert try_card(c, world, f"NOCARD{n}", world.phone) == 401
    assert_refused(portal_sign_in(c, world), world.card)
    assert c.get("/portal").status_code == 303  # not signed in
    assert portal_sign_in(visitor(app, "10.0.0.2"), world).status_code == 303


def test_a_card_is_counted_across_addresses_however_it_is_spelled(world, app):
    spellings = [world.card.lower(), f" {world.card} ", f"{world.card[:4]} {world.card[4:]}"]
    for n, card in enumerate(spellings):
        assert try_card(visitor(app, f"10.0.1.{n}"), world, card, "+70000000000") == 401
    assert_refused(portal_sign_in(visitor(app, "10.0.2.1"), world))


def test_signing_in_clears_the_cards_count(world, app):
    first, second = visitor(app, "10.0.0.1"), visitor(app, "10.0.0.2")
    for c in (first, second):
        assert portal_sign_in(c, world, phone="+70000000000").status_code == 401
        assert portal_sign_in(c, world, phone="+70000000000").status_code == 401
        assert portal_sign_in(c, world).status_code == 303


def test_the_console_refuses_an_address_after_its_failures(world, app):
    c = visitor(app, "10.0.0.1")
    for _ in range(3):
        assert sign_in(c, "kp_000000000000_nothing").status_code == 401
    assert_refused(sign_in(c, world.keys["support"]))
    assert sign_in(visitor(app, "10.0.0.2"), world.keys["support"]).status_code == 303


def test_refusals_do_not_count_waiting_out_the_window_is_enough(world, app):
    c = visitor(app, "10.0.0.1")
    with time_machine.travel(datetime.now(UTC), tick=False) as clock:
        for _ in range(3):
            portal_sign_in(c, world, phone="+70000000000")
        for _ in range(5):
            assert_refused(portal_sign_in(c, world))
            clock.shift(60)
        clock.shift(10 * 60)
        assert portal_sign_in(c, world).status_code == 303


def test_workers_sharing_a_redis_store_share_the_counts(world, redis_store):
    """KOPILKA_SIGN_IN_STORE=redis://...: what one worker counted, the other refuses."""
    settings = world.kopilka.settings.model_copy(
        update={"sign_in_limit": LIMIT, "sign_in_store": redis_store}
    )
    first, second = (make_app(dataclasses.replace(world.kopilka, settings=settings)) for _ in "12")
    address = f"10.{secrets.randbelow(256)}.{secrets.randbelow(256)}.{secrets.randbelow(256)}"
    for app in (first, first, second):
        assert portal_sign_in(visitor(app, address), world, phone="+70000000000").status_code == 401
    assert_refused(portal_sign_in(visitor(first, address), world))
    assert_refused(portal_sign_in(visitor(second, address), world))
