"""One-time codes through the service, on SQLite and PostgreSQL: a code is sent as a
message to the address typed and accepted once; wrong tries are counted and the last one
kills it; it expires; a newer code replaces it; an address nobody has gets no message and
no code works for it; neither the code nor the address is stored in clear."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from kopilka.domain.errors import CodeRefused
from kopilka.domain.identifiers import IdentifierKind
from kopilka.domain.one_time_codes import CODE_TTL, MAX_ATTEMPTS
from kopilka.services import members as member_svc
from kopilka.services.one_time_codes import CheckCode, SendCode, check_code, send_code
from kopilka.store.tables import messages, one_time_codes
from tests.inbox import Inbox


@pytest.fixture
def inbox(monkeypatch: pytest.MonkeyPatch) -> Inbox:
    return Inbox().install(monkeypatch)


@pytest.fixture
def member(ctx, make_program):
    """A program and a member with a phone and an e-mail address."""
    program = make_program()
    tag = uuid.uuid4().hex[:8]
    phone, email = f"+7915{int(tag, 16) % 10_000_000:07d}", f"olga.{tag}@example.org"
    enrolled = member_svc.enroll(
        ctx,
        program,
        member_svc.Enroll(member_svc.identifiers([("phone", phone), ("email", email)])),
    )
    return program, enrolled.id, phone, email


def refused(ctx, program, challenge: str, code: str) -> CodeRefused:
    with pytest.raises(CodeRefused) as e:
        check_code(ctx, program, CheckCode(challenge, code))
    return e.value


def test_a_code_sent_by_sms_is_accepted_once(ctx, member, inbox):
    """The code goes at once by SMS to the phone, in the page's language; typed back it
    names the member; typed again it is spent."""
    program, member_id, phone, _ = member
    sent = send_code(ctx, program, SendCode(IdentifierKind.PHONE, phone, "ru"))
    assert sent["channel"] == "sms"
    assert sent["sent_to"].endswith(phone[-4:])
    assert phone not in sent["sent_to"]
    [message] = inbox.to(phone)
    assert message.language == "ru"
    assert "Ваш код" in message.content.text
    code = inbox.code(phone)
    assert code is not None
    assert code not in str(sent)
    assert check_code(ctx, program, CheckCode(sent["challenge_id"], code)) == {
        "member_id": member_id
    }
    again = refused(ctx, program, sent["challenge_id"], code)
    assert again.details == {"verdict": "spent", "attempts_left": 0}


def test_an_e_mail_address_gets_its_code_by_e_mail(ctx, member, inbox):
    """The channel follows the address typed."""
    program, member_id, _, email = member
    sent = send_code(ctx, program, SendCode(IdentifierKind.EMAIL, email, "en"))
    assert sent["channel"] == "email"
    [message] = inbox.to(email)
    assert str(message.channel) == "email"
    assert "Your code" in message.content.text
    code = inbox.code(email)
    assert check_code(ctx, program, CheckCode(sent["challenge_id"], code or ""))["member_id"] == (
        member_id
    )


def test_wrong_codes_count_and_the_fifth_kills_the_code(ctx, member, inbox):
    """Each wrong try is counted (committed although the check fails); after the fifth
    even the right code is refused."""
    program, _, phone, _ = member
    sent = send_code(ctx, program, SendCode(IdentifierKind.PHONE, phone))
    code = inbox.code(phone)
    wrong = "000000" if code != "000000" else "111111"
    for n in range(1, MAX_ATTEMPTS):
        e = refused(ctx, program, sent["challenge_id"], wrong)
        assert e.details == {"verdict": "wrong", "attempts_left": MAX_ATTEMPTS - n}
    assert refused(ctx, program, sent["challenge_id"], wrong).details["verdict"] == "spent"
    assert refused(ctx, program, sent["challenge_id"], code or "").details["verdict"] == "spent"
    with ctx.uow(read_only=True) as uow:
        row = uow.conn.execute(
            select(one_time_codes).where(one_time_codes.c.id == sent["challenge_id"])
        ).one()
    assert row.attempts == MAX_ATTEMPTS
    assert row.ended_at is not None


def test_a_code_expires_after_ten_minutes(ctx, clock, member, inbox):
    """At its time to live the right code is refused as expired."""
    program, _, phone, _ = member
    sent = send_code(ctx, program, SendCode(IdentifierKind.PHONE, phone))
    clock.advance(CODE_TTL)
    e = refused(ctx, program, sent["challenge_id"], inbox.code(phone) or "")
    assert e.details["verdict"] == "expired"
    assert "expired" in str(e)


def test_a_newer_code_replaces_the_older_one(ctx, clock, member, inbox):
    """Asking again ends the first code: only the newest works."""
    program, member_id, phone, _ = member
    first = send_code(ctx, program, SendCode(IdentifierKind.PHONE, phone))
    first_code = inbox.code(phone)
    clock.advance(timedelta(seconds=30))
    second = send_code(ctx, program, SendCode(IdentifierKind.PHONE, phone))
    second_code = inbox.code(phone)
    assert refused(ctx, program, first["challenge_id"], first_code or "").details["verdict"] == (
        "spent"
    )
    accepted = check_code(ctx, program, CheckCode(second["challenge_id"], second_code or ""))
    assert accepted == {"member_id": member_id}


def test_an_address_nobody_has_gets_a_challenge_but_no_message(ctx, member, inbox):
    """The answer looks the same (no telling who is a member), nothing is recorded or
    sent, and no code works."""
    program, _, _, _ = member
    stranger = "+79990001122"
    sent = send_code(ctx, program, SendCode(IdentifierKind.PHONE, stranger))
    assert sent["channel"] == "sms"
    assert inbox.to(stranger) == []
    with ctx.uow(read_only=True) as uow:
        recorded = uow.conn.execute(
            select(messages.c.id).where(messages.c.program_id == program.id)
        ).all()
    assert recorded == []
    for guess in ("000000", "123456"):
        assert refused(ctx, program, sent["challenge_id"], guess).details["verdict"] == "wrong"


def test_a_challenge_of_another_program_is_refused(ctx, member, make_program, inbox):
    """A challenge is checked in its own program only."""
    program, _, phone, _ = member
    sent = send_code(ctx, program, SendCode(IdentifierKind.PHONE, phone))
    other = make_program()
    e = refused(ctx, other, sent["challenge_id"], inbox.code(phone) or "")
    assert e.details["verdict"] == "spent"


def test_neither_the_code_nor_the_address_is_stored_in_clear(ctx, member, inbox):
    """The codes' table holds HMACs only; the message log keeps *** instead of the code
    once the message is sent."""
    program, member_id, phone, _ = member
    send_code(ctx, program, SendCode(IdentifierKind.PHONE, phone))
    code = inbox.code(phone) or ""
    with ctx.uow(read_only=True) as uow:
        rows = uow.conn.execute(
            select(one_time_codes).where(one_time_codes.c.program_id == program.id)
        ).all()
        logged = uow.conn.execute(
            select(messages.c.variables, messages.c.status).where(messages.c.member_id == member_id)
        ).all()
    flat = " ".join(str(v) for row in rows for v in row)
    assert code not in flat
    assert phone not in flat
    assert phone[1:] not in flat
    [(variables, status)] = logged
    assert status == "sent"
    assert variables["code"] == "***"


def test_an_erased_member_gets_no_code(ctx, member, inbox):
    """Erasure ends sign-in: the address finds nobody who may sign in."""
    program, member_id, phone, _ = member
    member_svc.erase(ctx, program, member_id)
    send_code(ctx, program, SendCode(IdentifierKind.PHONE, phone))
    assert inbox.to(phone) == []
