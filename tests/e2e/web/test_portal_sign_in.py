"""The portal's sign-in by one-time code: the phone or e-mail typed, the code read from
the message sent to it, typed back; wrong, expired and spent codes refused with words that
say what to do; an address nobody has answered like any other; both languages."""

from __future__ import annotations

from datetime import timedelta

from kopilka.domain.identifiers import mask
from kopilka.domain.one_time_codes import CODE_TTL
from tests.e2e.web.world import INBOX, hidden_fields, send_code_to, text_of, type_code


def test_a_member_signs_in_with_the_code_sent_to_their_phone(world, anon):
    """The code page names the phone masked and the code's life; the code from the SMS
    signs the member in; the code is on no page and in no cookie."""
    sent = send_code_to(anon, world, world.phone)
    assert sent.status_code == 303
    assert sent.headers["location"] == "/portal/sign-in/code"
    page = text_of(anon.get("/portal/sign-in/code").text)
    assert f"If {mask('phone', world.phone)} belongs to a membership" in page
    assert world.phone not in page
    assert "by SMS" in page
    assert "valid for 10 minutes" in page
    [message] = INBOX.to(world.phone)
    assert str(message.channel) == "sms"
    code = INBOX.code(world.phone)
    assert code is not None
    assert code not in page
    assert all(code not in v for v in anon.cookies.values())
    done = type_code(anon, code)
    assert done.status_code == 303
    assert done.headers["location"] == "/portal"
    assert "Hello, Anna" in text_of(anon.get("/portal").text)


def test_a_member_signs_in_by_e_mail_too(world, anon):
    """An e-mail address (any case) gets its code by e-mail."""
    assert send_code_to(anon, world, world.email.upper()).status_code == 303
    assert "by e-mail" in text_of(anon.get("/portal/sign-in/code").text)
    code = INBOX.code(world.email)
    assert type_code(anon, code or "").status_code == 303
    assert anon.get("/portal").status_code == 200


def test_an_address_nobody_has_is_answered_like_any_other(world, anon):
    """The same code page (nobody learns who is a member), no message, and every code is
    wrong."""
    stranger = "+79990001122"
    assert send_code_to(anon, world, stranger).status_code == 303
    assert f"If {mask('phone', stranger)} belongs to a membership" in text_of(
        anon.get("/portal/sign-in/code").text
    )
    assert INBOX.to(stranger) == []
    refused = type_code(anon, "123456")
    assert refused.status_code == 401
    assert "This code is not right. Check it and try again. 4 tries left." in text_of(refused.text)
    assert anon.get("/portal").status_code == 303


def test_five_wrong_codes_kill_the_code(world, anon):
    """The tries left count down; the fifth wrong code ends it (no form, a link to a new
    code), and the right code no longer signs in."""
    send_code_to(anon, world, world.phone)
    code = INBOX.code(world.phone) or ""
    wrong = "000000" if code != "000000" else "111111"
    for left in (4, 3, 2, 1):
        page = text_of(type_code(anon, wrong).text)
        assert f"{left} {'try' if left == 1 else 'tries'} left." in page
    last = type_code(anon, wrong)
    assert last.status_code == 401
    assert "This code no longer works. Ask for a new one." in text_of(last.text)
    assert 'action="/portal/sign-in/code"' not in last.text
    assert "Send a new code" in last.text
    assert type_code(anon, code).status_code == 401


def test_an_expired_code_is_refused(world, anon, clock):
    """Ten minutes later the code says it has expired."""
    send_code_to(anon, world, world.phone)
    clock.advance(CODE_TTL + timedelta(seconds=1))
    refused = type_code(anon, INBOX.code(world.phone) or "")
    assert refused.status_code == 401
    assert "This code has expired. Ask for a new one." in text_of(refused.text)


def test_a_malformed_address_is_refused_with_what_is_wrong(world, anon):
    """Neither a phone nor an e-mail: 422 with the reason, the typed text kept, no code."""
    refused = send_code_to(anon, world, "call me")
    assert refused.status_code == 422
    assert "phone must contain only digits" in text_of(refused.text)
    assert 'value="call me"' in refused.text
    assert INBOX.sent == []


def test_the_code_page_without_a_code_sends_to_the_sign_in_page(anon):
    """Nothing asked yet: back to the first step."""
    response = anon.get("/portal/sign-in/code")
    assert response.status_code == 303
    assert response.headers["location"] == "/portal/sign-in"


def test_the_code_form_needs_its_token(world, anon):
    """A code posted without the session's CSRF token is 403."""
    send_code_to(anon, world, world.phone)
    response = anon.post("/portal/sign-in/code", data={"code": INBOX.code(world.phone)})
    assert response.status_code == 403
    assert anon.get("/portal").status_code == 303


def test_in_russian_the_pages_and_the_message_are_russian(world, anon):
    """The message is written in the page's language; the pages and refusals are Russian."""
    anon.cookies.set("kopilka_lang", "ru")
    first = text_of(anon.get("/portal/sign-in").text)
    assert "Телефон или e-mail" in first
    assert "Прислать код" in first
    send_code_to(anon, world, world.phone)
    page = text_of(anon.get("/portal/sign-in/code").text)
    assert "мы отправили на него код из 6 цифр по SMS" in page
    [message] = INBOX.to(world.phone)
    assert message.language == "ru"
    refused = text_of(
        type_code(anon, "000000" if INBOX.code(world.phone) != "000000" else "1").text
    )
    assert "Код неверный" in refused
    fields = hidden_fields(anon.get("/portal/sign-in").text, "/portal/sign-in")
    bad = anon.post("/portal/sign-in", data={**fields, "address": "call me"})
    assert "телефон" in text_of(bad.text).lower()
