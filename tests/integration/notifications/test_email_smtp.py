"""E-mail through a real SMTP server started in the test (aiosmtpd): the message a member
is sent arrives with its subject, a plain-text and an HTML part in the member's language,
the unsubscribe headers of a marketing message; over STARTTLS with a login (a throwaway CA
made by trustme), and a wrong password is a failed attempt kept for a retry."""

from __future__ import annotations

import dataclasses
import email
import socket
import ssl
import time
from collections.abc import Iterator
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from kopilka.domain.notifications import Channel, NotificationPolicy, QuietHours
from kopilka.services import notifications as notif
from kopilka.services.context import MessagingSettings
from kopilka.services.notifications import Notify, deliver, notify
from kopilka.services.notifications.channels import Outgoing, SmtpSender
from kopilka.services.notifications.templates import Rendered

USER, PASSWORD = "kopilka", "s3cret-pass"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Inbox:
    """The aiosmtpd handler: keeps each message it receives."""

    def __init__(self) -> None:
        self.received: list[EmailMessage] = []
        self.recipients: list[list[str]] = []
        self.peers: list[tuple[str, int]] = []  # the client's end of each message's connection

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        mail = email.message_from_bytes(envelope.content, policy=default_policy)
        assert isinstance(mail, EmailMessage)
        self.received.append(mail)
        self.recipients.append(list(envelope.rcpt_tos))
        self.peers.append(tuple(session.peer))
        return "250 OK"


def authenticator(
    server: Any, session: Any, envelope: Any, mechanism: str, data: Any
) -> AuthResult:
    ok = (
        isinstance(data, LoginPassword)
        and data.login == USER.encode()
        and data.password == PASSWORD.encode()
    )
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def plain_server() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[Inbox, int, Path]]:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_tls)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    inbox, port = Inbox(), free_port()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        tls_context=server_tls,
        require_starttls=True,
        auth_required=True,
        authenticator=authenticator,
    )
    controller.start()
    try:
        yield inbox, port, ca_file
    finally:
        controller.stop()


def smtp_ctx(ctx: Any, **settings: Any) -> Any:
    return dataclasses.replace(
        ctx,
        messaging=MessagingSettings(
            email="smtp", smtp_from="Kopilka <club@shop.example>", smtp_timeout=5, **settings
        ),
    )


def quiet_free(ctx: Any, program: Any) -> None:
    notif.set_policy(ctx, program, NotificationPolicy(quiet_hours=QuietHours.never()), "admin")


def record(ctx: Any, program: Any, **fields: Any) -> int:
    with ctx.uow() as uow:
        out = notify(uow, program, Notify(program_id=program.id, **fields), ctx.now())
        uow.commit()
    return int(out["id"])


def part(mail: EmailMessage, kind: str) -> str:
    body = mail.get_body((kind,))
    assert body is not None, f"no {kind} part"
    return str(body.get_content())


def test_a_reminder_arrives_with_subject_and_both_parts_in_russian(
    ctx, make_program, enroll, plain_server
):
    """An expiry reminder to a member (program default: Russian) arrives at their address
    with the Russian subject, a plain-text and an HTML part both telling the points and the
    date, ``Content-Language: ru``, and no unsubscribe header (it is transactional)."""
    inbox, port = plain_server
    ctx = smtp_ctx(ctx, smtp_port=port)
    program = make_program(name="Копилка Плюс")
    quiet_free(ctx, program)
    m = enroll(program, first_name="Анна")
    record(
        ctx,
        program,
        member_id=m,
        topic="expiry_reminder",
        variables={"points": 120, "date": "31.03.2026", "balance": 560},
    )
    assert [d["status"] for d in deliver(ctx, program)] == ["sent"]
    (mail,) = inbox.received
    assert mail["Subject"] == "120 баллов сгорят 31.03.2026"
    assert mail["Content-Language"] == "ru"
    assert mail["From"] == "Kopilka <club@shop.example>"
    assert inbox.recipients[0][0].endswith("@example.org")
    text, html = part(mail, "plain"), part(mail, "html")
    assert "Анна, 120 ваших баллов Копилка Плюс сгорят 31.03.2026" in text
    assert "<strong>31.03.2026</strong>" in html
    assert '<html lang="ru">' in html
    assert mail["List-Unsubscribe"] is None


def test_marketing_email_in_english_carries_list_unsubscribe(
    ctx, make_program, enroll, plain_server
):
    """A marketing e-mail to a member whose language is English arrives in English, with
    ``List-Unsubscribe`` (the signed link, also in both parts) and the one-click header."""
    inbox, port = plain_server
    ctx = smtp_ctx(ctx, smtp_port=port, public_url="https://club.shop.example")
    program = make_program(name="Piggy")
    quiet_free(ctx, program)
    m = enroll(program, consents=("marketing_email",), attributes={"language": "en"})
    record(ctx, program, member_id=m, topic="winback", variables={"days": 45, "balance": 300})
    assert [d["status"] for d in deliver(ctx, program)] == ["sent"]
    (mail,) = inbox.received
    assert mail["Subject"] == "We miss you at Piggy"
    assert mail["Content-Language"] == "en"
    link = mail["List-Unsubscribe"].strip("<>")
    assert link.startswith("https://club.shop.example/portal/unsubscribe/")
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert link in part(mail, "plain")
    assert link in part(mail, "html")
    assert "45 days since your last purchase" in part(mail, "plain")


def test_starttls_and_login(ctx, make_program, enroll, tls_server):
    """With STARTTLS required and a login, a one-time code arrives (the client trusts the
    test's CA); with a wrong password the attempt fails and the message stays queued for
    a retry, its error naming the authentication, never the password."""
    inbox, port, ca_file = tls_server
    good = smtp_ctx(
        ctx,
        smtp_port=port,
        smtp_starttls=True,
        smtp_username=USER,
        smtp_password=PASSWORD,
        smtp_ca_file=str(ca_file),
    )
    program = make_program()
    message = record(
        good,
        program,
        to_address="guest@example.org",
        topic="otp_code",
        variables={"code": "771144", "minutes": 10},
        locale="en",
    )
    assert deliver(good, program, [message])[0]["status"] == "sent"
    (mail,) = inbox.received
    assert "771144" in part(mail, "plain")
    assert mail["Subject"] == f"Your {program.name} code"

    bad = dataclasses.replace(
        good, messaging=dataclasses.replace(good.messaging, smtp_password="x")
    )
    second = record(
        bad,
        program,
        to_address="guest@example.org",
        topic="otp_code",
        variables={"code": "990011", "minutes": 10},
    )
    (outcome,) = deliver(bad, program, [second])
    assert outcome["status"] == "queued"
    assert outcome["error"] is not None
    assert "authentication" in outcome["error"]
    assert "x" not in outcome["error"].replace("authentication", "")
    assert len(inbox.received) == 1


def test_a_batch_goes_over_one_connection(ctx, make_program, enroll, tls_server):
    """Three reminders sent by one run of the messages job arrive over one SMTP connection
    (one STARTTLS handshake and one login for the batch), and the connection is closed when
    the batch is done: the next run opens a new one."""
    inbox, port, ca_file = tls_server
    ctx = smtp_ctx(
        ctx,
        smtp_port=port,
        smtp_starttls=True,
        smtp_username=USER,
        smtp_password=PASSWORD,
        smtp_ca_file=str(ca_file),
    )
    program = make_program()
    quiet_free(ctx, program)
    reminder = {"topic": "expiry_reminder", "variables": {"points": 5, "date": "x", "balance": 9}}
    for _ in range(3):
        record(ctx, program, member_id=enroll(program), **reminder)
    assert [d["status"] for d in deliver(ctx, program)] == ["sent"] * 3
    assert len(inbox.received) == 3
    assert len(set(inbox.peers)) == 1
    record(ctx, program, member_id=enroll(program), **reminder)
    assert [d["status"] for d in deliver(ctx, program)] == ["sent"]
    assert len(set(inbox.peers)) == 2


def test_a_kept_connection_the_server_closed_is_opened_again(ctx, enroll):
    """When the server has closed the connection kept from an earlier message (its idle
    timeout), the next message goes over a new connection instead of failing."""
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, timeout=0.3)
    controller.start()
    try:
        sender = SmtpSender(smtp_ctx(ctx, smtp_port=port).messaging)
        content = Rendered("Hello", "<p>html</p>", "text")
        first = Outgoing(1, Channel.EMAIL, "a@example.org", "en", "winback", content)
        sender.send(first)
        time.sleep(1)  # beyond the server's idle timeout: it hangs up
        sender.send(dataclasses.replace(first, message_id=2, address="b@example.org"))
        sender.close()
    finally:
        controller.stop()
    assert inbox.recipients == [["a@example.org"], ["b@example.org"]]
    assert len(set(inbox.peers)) == 2
