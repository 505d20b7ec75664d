"""Channels: one adapter interface (:class:`Sender`), and its adapters: e-mail over SMTP
(STARTTLS or TLS, authentication; HTML and plain text as one multipart message), a generic
HTTP provider (a JSON POST to a configured URL with a bearer token: SMS gateways and push
services), and a log adapter for development that records that a message went, with the
address masked and never its text (it may hold a one-time code).
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Protocol

import httpx

from kopilka.domain.notifications import Channel, mask_address
from kopilka.services.context import MessagingSettings
from kopilka.services.notifications.templates import Rendered

log = logging.getLogger("kopilka.notifications")


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message as a channel sends it: the ``message_id`` (the messages log's),
    ``address``, ``language``, the rendered parts and, for marketing, the unsubscribe link
    (e-mail puts it in a ``List-Unsubscribe`` header too)."""

    message_id: int
    channel: Channel
    address: str
    language: str
    topic: str
    content: Rendered
    unsubscribe_url: str | None = None


class SendFailed(Exception):
    """A sending failed; ``permanent``: retrying will not help (a refused address)."""

    def __init__(self, why: str, *, permanent: bool = False) -> None:
        super().__init__(why)
        self.why = why
        self.permanent = permanent


class Sender(Protocol):
    """A channel's adapter: sends one message or raises :class:`SendFailed`; answers the
    provider's reference of the sent message (None when it gives none)."""

    def send(self, message: Outgoing) -> str | None: ...


class LogSender:
    """Development: logs that the message was sent (masked address, topic), nothing else."""

    def send(self, message: Outgoing) -> str | None:
        """Log the sending (no text, no code, the address masked)."""
        log.info(
            "message sent",
            extra={
                "message_id": message.message_id,
                "channel": str(message.channel),
                "to": mask_address(message.channel, message.address),
                "topic": message.topic,
            },
        )
        return f"log-{message.message_id}"


class SmtpSender:
    """E-mail over SMTP: a multipart/alternative message (plain text, then HTML), sent
    with STARTTLS or implicit TLS and a login when the settings say so."""

    def __init__(self, settings: MessagingSettings) -> None:
        self.settings = settings

    def _tls(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        if self.settings.smtp_ca_file:
            context.load_verify_locations(self.settings.smtp_ca_file)
        return context

    def compose(self, message: Outgoing) -> EmailMessage[str, str]:
        """The e-mail as it goes out."""
        s = self.settings
        mail: EmailMessage[str, str] = EmailMessage()
        mail["From"] = s.smtp_from
        mail["To"] = message.address
        mail["Subject"] = message.content.subject
        domain = s.smtp_from.rsplit("@", 1)[-1].strip(" >") or "localhost"
        mail["Message-ID"] = make_msgid(f"kopilka.{message.message_id}", domain=domain)
        if message.unsubscribe_url:
            # RFC 8058: mail clients show an unsubscribe button that POSTs to the link
            mail["List-Unsubscribe"] = f"<{message.unsubscribe_url}>"
            mail["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        mail.set_content(message.content.text)
        mail.add_alternative(message.content.html, subtype="html")
        # after the parts: setting the content clears the Content-* headers
        mail["Content-Language"] = message.language
        return mail

    def send(self, message: Outgoing) -> str | None:
        """Send through the SMTP server; a refused recipient is a permanent failure."""
        s = self.settings
        mail = self.compose(message)
        try:
            client: smtplib.SMTP
            if s.smtp_ssl:
                client = smtplib.SMTP_SSL(
                    s.smtp_host, s.smtp_port, timeout=s.smtp_timeout, context=self._tls()
                )
            else:
                client = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout)
            with client:
                if s.smtp_starttls and not s.smtp_ssl:
                    client.starttls(context=self._tls())
                if s.smtp_username:
                    client.login(s.smtp_username, s.smtp_password or "")
                client.send_message(mail)
        except smtplib.SMTPRecipientsRefused:
            raise SendFailed("smtp: recipient refused", permanent=True) from None
        except smtplib.SMTPAuthenticationError as e:
            raise SendFailed(f"smtp: authentication failed ({e.smtp_code})") from None
        except smtplib.SMTPResponseException as e:
            raise SendFailed(f"smtp: {e.smtp_code}", permanent=500 <= e.smtp_code < 600) from None
        except (smtplib.SMTPException, OSError) as e:
            raise SendFailed(f"smtp: {type(e).__name__}") from None
        return str(mail["Message-ID"])


class HttpSender:
    """A generic provider: ``POST url`` with ``Authorization: Bearer <token>`` and the
    JSON ``{"id", "channel", "to", "language", "topic", "subject", "text"}``; a 2xx answer
    is a sending (its JSON ``id``, if any, the provider's reference), 4xx but 429 a
    permanent refusal, anything else retried."""

    def __init__(self, url: str, token: str | None, timeout: float) -> None:
        self.url = url
        self.token = token
        self.timeout = timeout

    def send(self, message: Outgoing) -> str | None:
        """Post the message to the provider."""
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        body = {
            "id": str(message.message_id),
            "channel": str(message.channel),
            "to": message.address,
            "language": message.language,
            "topic": message.topic,
            "subject": message.content.subject,
            "text": message.content.text,
        }
        try:
            answer = httpx.post(self.url, json=body, headers=headers, timeout=self.timeout)
        except httpx.HTTPError as e:
            raise SendFailed(f"http: {type(e).__name__}") from None
        if answer.status_code >= 300:
            permanent = 400 <= answer.status_code < 500 and answer.status_code != 429
            raise SendFailed(f"http: {answer.status_code}", permanent=permanent)
        try:
            ref = answer.json().get("id")
        except (ValueError, AttributeError):
            ref = None
        return None if ref is None else str(ref)[:200]


def sender_for(channel: Channel, settings: MessagingSettings) -> Sender:
    """The adapter the settings name for ``channel``."""
    if channel == Channel.EMAIL:
        return SmtpSender(settings) if settings.email == "smtp" else LogSender()
    kind, url, token = (
        (settings.sms, settings.sms_url, settings.sms_token)
        if channel == Channel.SMS
        else (settings.push, settings.push_url, settings.push_token)
    )
    if kind == "http" and url:
        return HttpSender(url, token, settings.http_timeout)
    return LogSender()
