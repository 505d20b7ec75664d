"""Self-enrolment through the service, on SQLite and PostgreSQL: a code to join goes to
any address (a member's or nobody's), is accepted only as a code to join and only for the
address it went to; joining enrolls through the API's enrolment; a program that takes no
sign-ups refuses; the setting is audited."""

from __future__ import annotations

import uuid

import pytest

from kopilka.domain.errors import (
    CodeRefused,
    DuplicateIdentifier,
    PermissionDenied,
    ValidationError,
)
from kopilka.domain.identifiers import IdentifierKind
from kopilka.domain.portal import PortalSettings
from kopilka.services import audit_log
from kopilka.services import members as member_svc
from kopilka.services import portal_settings as portal_svc
from kopilka.services import self_enrolment as join_svc
from kopilka.services.one_time_codes import CheckCode, SendCode, check_code
from tests.inbox import Inbox

PHONE = IdentifierKind.PHONE


@pytest.fixture
def inbox(monkeypatch: pytest.MonkeyPatch) -> Inbox:
    return Inbox().install(monkeypatch)


@pytest.fixture
def program(ctx, make_program):
    """A program that takes sign-ups in the portal."""
    made = make_program()
    command = portal_svc.SetPortalSettings(PortalSettings(self_enrolment=True), "cli:test")
    portal_svc.set_portal_settings(ctx, made, command)
    return made


def a_phone() -> str:
    return f"+7916{int(uuid.uuid4().hex[:8], 16) % 10_000_000:07d}"


def joining(challenge: str, code: str, phone: str, *consents: str) -> join_svc.Join:
    given = frozenset(consents or ("personal_data",))
    return join_svc.Join(challenge, code, PHONE, phone, given, "en")


def test_a_code_to_join_goes_to_an_address_nobody_has_and_enrolls_it(ctx, program, inbox):
    """Unlike a sign-in code, the code goes to a new address; typed back, the visitor is a
    member with that phone and a card, in the portal's channel."""
    phone = a_phone()
    sent = join_svc.send_join_code(ctx, program, SendCode(PHONE, phone))
    code = inbox.code(phone)
    assert code is not None
    joined = join_svc.join(ctx, program, joining(sent["challenge_id"], code, phone))
    member = member_svc.get_member(ctx, program, joined["member_id"])
    assert member.identifiers["phone"] == [phone]
    assert member.identifiers["card"] == [joined["card"]]
    again = joining(sent["challenge_id"], code, phone)
    with pytest.raises(CodeRefused):  # the code is spent
        join_svc.join(ctx, program, again)


def test_a_code_to_join_signs_nobody_in_and_binds_its_address(ctx, program, inbox):
    """A member's address gets a code to join, but that code is no sign-in code; typed for
    another address it is refused; typed for its own, the member is told to sign in."""
    phone = a_phone()
    member_svc.enroll(ctx, program, member_svc.Enroll(member_svc.identifiers([("phone", phone)])))
    sent = join_svc.send_join_code(ctx, program, SendCode(PHONE, phone))
    code = inbox.code(phone) or ""
    with pytest.raises(CodeRefused):
        check_code(ctx, program, CheckCode(sent["challenge_id"], code))
    sent = join_svc.send_join_code(ctx, program, SendCode(PHONE, phone))
    code = inbox.code(phone) or ""
    with pytest.raises(CodeRefused) as e:
        join_svc.join(ctx, program, joining(sent["challenge_id"], code, a_phone()))
    assert e.value.details["verdict"] == "spent"
    sent = join_svc.send_join_code(ctx, program, SendCode(PHONE, phone))
    with pytest.raises(DuplicateIdentifier):
        join_svc.join(ctx, program, joining(sent["challenge_id"], inbox.code(phone) or "", phone))


def test_a_program_without_self_enrolment_sends_nothing(ctx, make_program, inbox):
    """No settings stored: no sign-ups online, no message."""
    closed = make_program()
    assert portal_svc.portal_settings(ctx, closed) == PortalSettings()
    with pytest.raises(PermissionDenied):
        join_svc.send_join_code(ctx, closed, SendCode(PHONE, a_phone()))
    assert inbox.sent == []
    assert closed.id not in {p.id for p in portal_svc.open_to_join(ctx)}


def test_the_consents_are_checked_when_the_command_is_built():
    """Personal data is needed; a purpose the portal does not ask is refused."""
    with pytest.raises(ValidationError):
        join_svc.Join("c", "123456", PHONE, "+79990000000", frozenset({"marketing_sms"}))
    with pytest.raises(ValidationError):
        join_svc.Join("c", "123456", PHONE, "+79990000000", frozenset({"personal_data", "x"}))


def test_the_setting_is_audited_and_validated(ctx, program):
    """Before and after in the audit log; a stored document with a stranger key or a
    non-boolean switch is refused when read."""
    [entry] = audit_log.audit_page(ctx, program.id, action="portal.settings")["items"]
    assert (entry.actor, entry.before, entry.after) == ("cli:test", None, {"self_enrolment": True})
    for bad in ({"self_enrolment": "yes"}, {"self_enrollment": True}):
        with pytest.raises(ValidationError):
            PortalSettings.from_json(bad)
