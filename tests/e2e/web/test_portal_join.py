"""The portal's "Join the program": a visitor gives a phone or e-mail and the consents,
types the code sent there, and is enrolled (a card issued, ``member.enrolled`` written)
and signed in; an address a member has is told to sign in, but only after its code; a
program that takes no sign-ups offers none; both languages."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from kopilka.domain.errors import NotFoundError
from kopilka.domain.identifiers import mask
from kopilka.domain.portal import PortalSettings, luhn_digit
from kopilka.services import members as member_svc
from kopilka.services import portal_settings as portal_svc
from kopilka.services.outbox import member_events
from tests.e2e.web.world import INBOX, World, hidden_fields, text_of

NEWCOMER = "+79995550101"


@pytest.fixture
def open_world(world: World) -> World:
    """The world's program takes sign-ups in the portal."""
    command = portal_svc.SetPortalSettings(PortalSettings(self_enrolment=True), "test")
    portal_svc.set_portal_settings(world.ctx, world.program, command)
    return world


def ask_code(c: TestClient, world: World, address: str, *consents: str) -> Any:
    """The join form's first step: the address and the consents ticked."""
    fields = hidden_fields(c.get("/portal/join").text, "/portal/join")
    ticked = {f"consent_{p}": "yes" for p in consents}
    data = {**fields, "program": world.program.code, "address": address, **ticked}
    return c.post("/portal/join", data=data)


def type_join_code(c: TestClient, code: str) -> Any:
    """The second step: the code typed."""
    fields = hidden_fields(c.get("/portal/join/code").text, "/portal/join/code")
    return c.post("/portal/join/code", data={**fields, "code": code})


def test_a_visitor_joins_with_a_phone_and_is_signed_in(open_world, anon):
    """The code goes by SMS to the phone typed (the page names it masked); typed back, it
    enrolls the visitor with the phone, a 16-digit card number and their answers given in
    the portal, writes member.enrolled, and signs them in to the welcome notice."""
    world = open_world
    assert "Join the program" in text_of(anon.get("/portal/sign-in").text)
    sent = ask_code(anon, world, "8 999 555-01-01", "personal_data", "marketing_sms")
    assert sent.status_code == 303
    assert sent.headers["location"] == "/portal/join/code"
    page = text_of(anon.get("/portal/join/code").text)
    assert f"We sent a 6-digit code to {mask('phone', NEWCOMER)} by SMS." in page
    assert NEWCOMER not in page
    code = INBOX.code(NEWCOMER)
    assert code is not None
    done = type_join_code(anon, code)
    assert done.status_code == 303, done.text
    assert done.headers["location"] == "/portal?done=joined"
    home = text_of(anon.get("/portal?done=joined").text)
    assert "Welcome! You are a member now" in home
    member = member_svc.lookup(world.ctx, world.program, "phone", NEWCOMER)
    [card] = member.identifiers["card"]
    assert len(card) == 16
    assert card[-1] == luhn_digit(card[:-1])
    assert card in home
    answers = {
        c.purpose: c for c in member_svc.current_consents(world.ctx, world.program, member.id)
    }
    assert answers["personal_data"].granted
    assert answers["marketing_sms"].granted
    assert not answers["marketing_email"].granted
    assert {c.channel for c in answers.values()} == {"portal"}
    events = member_events(world.ctx, world.program, member.id)
    assert [e["type"] for e in events] == ["member.enrolled"]


def test_an_address_a_member_has_is_told_to_sign_in_after_its_code(open_world, anon):
    """The first step looks the same (a code is sent: it is the member's own address);
    only the right code reveals the membership, and nobody is enrolled."""
    world = open_world
    assert ask_code(anon, world, world.email.upper(), "personal_data").status_code == 303
    assert "by e-mail" in text_of(anon.get("/portal/join/code").text)
    refused = type_join_code(anon, INBOX.code(world.email) or "")
    assert refused.status_code == 409
    page = text_of(refused.text)
    assert "already belongs to a membership. Sign in with it instead." in page
    assert 'href="/portal/sign-in"' in refused.text
    assert anon.get("/portal").status_code == 303  # not signed in by it


def test_a_wrong_code_counts_a_try_and_enrolls_nobody(open_world, anon):
    """Wrong codes count down as at sign-in; a sign-in code is no code to join."""
    world = open_world
    ask_code(anon, world, NEWCOMER, "personal_data")
    code = INBOX.code(NEWCOMER) or ""
    wrong = "000000" if code != "000000" else "111111"
    refused = type_join_code(anon, wrong)
    assert refused.status_code == 401
    assert "4 tries left." in text_of(refused.text)
    with pytest.raises(NotFoundError):
        member_svc.lookup(world.ctx, world.program, "phone", NEWCOMER)


def test_personal_data_consent_is_needed_and_nothing_is_sent_without_it(open_world, anon):
    """422 naming the consent, the form kept, no code sent; a malformed address too."""
    refused = ask_code(anon, open_world, NEWCOMER, "marketing_email")
    assert refused.status_code == 422
    assert "agree to the processing of your personal data" in text_of(refused.text)
    assert 'name="consent_marketing_email" value="yes" checked' in refused.text
    bad = ask_code(anon, open_world, "call me", "personal_data")
    assert bad.status_code == 422
    assert "phone must contain only digits" in text_of(bad.text)
    assert INBOX.sent == []


def test_a_program_that_takes_no_sign_ups_offers_none(world, anon):
    """Without the setting the program is not offered on the join page (other programs
    of the test database may be), and the form refuses to send it a code."""
    offered = anon.get("/portal/join")
    assert f'value="{world.program.code}"' not in offered.text
    fields = hidden_fields(anon.get("/portal/sign-in").text, "/portal/sign-in")
    data = {**fields, "program": world.program.code, "address": NEWCOMER}
    refused = anon.post("/portal/join", data={**data, "consent_personal_data": "yes"})
    assert refused.status_code in (404, 422)
    assert INBOX.sent == []


def test_in_russian_the_pages_and_the_code_are_russian(open_world, anon):
    """The form, the code page, the message and the new member's language are Russian."""
    world = open_world
    anon.cookies.set("kopilka_lang", "ru")
    form = text_of(anon.get("/portal/join").text)
    assert "Вступить в программу" in form
    ask_code(anon, world, NEWCOMER, "personal_data")
    assert "Мы отправили код из 6 цифр" in text_of(anon.get("/portal/join/code").text)
    [message] = INBOX.to(NEWCOMER)
    assert message.language == "ru"
    assert type_join_code(anon, INBOX.code(NEWCOMER) or "").status_code == 303
    member = member_svc.lookup(world.ctx, world.program, "phone", NEWCOMER)
    assert member.attributes.get("language") == "ru"
