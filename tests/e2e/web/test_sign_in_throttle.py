"""Failed sign-ins, counted per client address and per phone or e-mail tried (wrong
one-time codes), and the codes sent, counted the same way: past a limit the portal and
the console answer 429 with Retry-After, even to the right code."""

from __future__ import annotations

import dataclasses
import secrets
from datetime import UTC, datetime

import pytest
import time_machine
from fastapi.testclient import TestClient

from kopilka.web.guard import code_wait_message, wait_message
from tests.e2e.web.world import (
    World,
    make_app,
    portal_sign_in,
    send_code_to,
    sign_in,
    text_of,
    type_code,
)

LIMIT = "3 per 15 minutes"
WRONG = "+70000000000"  # nobody's phone: its code page takes no code


@pytest.fixture
def app(world: World):
    """The web UI of ``world`` with a limit of 3 failed sign-ins (and 10 codes sent)."""
    settings = world.kopilka.settings.model_copy(
        update={"sign_in_limit": LIMIT, "sign_in_code_limit": "10 per 15 minutes"}
    )
    return make_app(dataclasses.replace(world.kopilka, settings=settings))


def visitor(app, address: str) -> TestClient:
    return TestClient(app, follow_redirects=False, client=(address, 50000))


def assert_refused(response, message=wait_message) -> None:
    assert response.status_code == 429
    wait = int(response.headers["Retry-After"])
    assert 1 <= wait <= 15 * 60
    assert message(wait) in text_of(response.text)


def test_the_portal_refuses_a_client_after_its_failures(world, app):
    """Three wrong codes (for three phones) from one client: the next sign-in from there is
    refused before a code is sent, even for the member; another client is not."""
    c = visitor(app, "10.0.0.1")
    for n in range(3):
        assert portal_sign_in(c, world, phone=f"+7000000000{n}").status_code == 401
    refused = send_code_to(c, world, world.phone)
    assert_refused(refused)
    assert world.phone in refused.text  # the form keeps what was typed, as after any refusal
    assert c.get("/portal").status_code == 303  # not signed in
    assert portal_sign_in(visitor(app, "10.0.0.2"), world).status_code == 303


def test_a_phone_is_counted_across_clients_however_it_is_spelled(world, app):
    """Wrong codes for one phone, typed three ways from three clients: a fourth client is
    refused that phone."""
    digits = world.phone[1:]
    spellings = [world.phone, f"+{digits[:1]} ({digits[1:4]}) {digits[4:]}", f" {world.phone} "]
    for n, phone in enumerate(spellings):
        c = visitor(app, f"10.0.1.{n}")
        assert send_code_to(c, world, phone).status_code == 303
        assert type_code(c, "00000").status_code == 401  # five digits: never the code
    assert_refused(send_code_to(visitor(app, "10.0.2.1"), world, world.phone))


def test_signing_in_clears_the_phones_count(world, app):
    """Two wrong codes, then the right one, twice over from two clients: never refused."""
    for address in ("10.0.0.1", "10.0.0.2"):
        c = visitor(app, address)
        for _ in range(2):
            send_code_to(c, world, world.phone)
            assert type_code(c, "00000").status_code == 401
        assert portal_sign_in(c, world).status_code == 303


def test_codes_sent_are_limited_per_client_and_per_address(world):
    """With 2 codes per window: a third code to the phone is refused (429, its own words)
    from any client, and a third code from one client to any address too."""
    settings = world.kopilka.settings.model_copy(update={"sign_in_code_limit": "2 per 15 minutes"})
    app = make_app(dataclasses.replace(world.kopilka, settings=settings))
    for n in range(2):
        assert send_code_to(visitor(app, f"10.0.3.{n}"), world, world.phone).status_code == 303
    assert_refused(send_code_to(visitor(app, "10.0.3.9"), world, world.phone), code_wait_message)
    c = visitor(app, "10.0.4.1")
    for n in range(2):
        assert send_code_to(c, world, f"+7000000001{n}").status_code == 303
    assert_refused(send_code_to(c, world, world.email), code_wait_message)


def test_the_console_refuses_an_address_after_its_failures(world, app):
    """The console's API-key sign-in counts the same way."""
    c = visitor(app, "10.0.0.1")
    for _ in range(3):
        assert sign_in(c, "kp_000000000000_nothing").status_code == 401
    assert_refused(sign_in(c, world.keys["support"]))
    assert sign_in(visitor(app, "10.0.0.2"), world.keys["support"]).status_code == 303


def test_refusals_do_not_count_waiting_out_the_window_is_enough(world, app):
    """Refused tries add nothing: once the window has room the member signs in."""
    c = visitor(app, "10.0.0.1")
    with time_machine.travel(datetime.now(UTC), tick=False) as clock:
        for _ in range(3):
            portal_sign_in(c, world, phone=WRONG)
        for _ in range(5):
            assert_refused(send_code_to(c, world, world.phone))
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
        assert portal_sign_in(visitor(app, address), world, phone=WRONG).status_code == 401
    assert_refused(send_code_to(visitor(first, address), world, world.phone))
    assert_refused(send_code_to(visitor(second, address), world, world.phone))
