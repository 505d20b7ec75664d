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
from typing import Protocol, runtime_checkable

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


@runtime_checkable
class KeepsConnection(Protocol):
    """An adapter that keeps its connection open from one message to the next of a batch;
    whoever picked it closes it after the batch."""

    def close(self) -> None: ...


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
        # one connection (and one TLS handshake and login) for a batch's messages
        self._client: smtplib.SMTP | None = None

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

    def _open(self) -> smtplib.SMTP:
        s = self.settings
        client: smtplib.SMTP
        if s.smtp_ssl:
            client = smtplib.SMTP_SSL(
                s.smtp_host, s.smtp_port, timeout=s.smtp_timeout, context=self._tls()
            )
        else:
            client = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout)
        try:
            if s.smtp_starttls and not s.smtp_ssl:
                client.starttls(context=self._tls())
            if s.smtp_username:
                client.login(s.smtp_username, s.smtp_password or "")
        except BaseException:
            client.close()
            raise
        self._client = client
        return client

    def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()

    def send(self, message: Outgoing) -> str | None:
        """Send through the SMTP server, on the connection an earlier message of the batch
        opened when there is one; a refused recipient is a permanent failure."""
        mail = self.compose(message)
        try:
            kept = self._client
            try:
                (kept or self._open()).send_message(mail)
            except (smtplib.SMTPServerDisconnected, ConnectionError):
                if kept is None:
                    raise
                # the server closed the connection kept from an earlier message (an idle
                # timeout): once more, on a new one
                self._drop()
                self._open().send_message(mail)
        except smtplib.SMTPRecipientsRefused:
            # the server reset the transaction; the connection serves the next message
            raise SendFailed("smtp: recipient refused", permanent=True) from None
        except smtplib.SMTPAuthenticationError as e:
            self._drop()
            raise SendFailed(f"smtp: authentication failed ({e.smtp_code})") from None
        except smtplib.SMTPResponseException as e:
            self._drop()
            raise SendFailed(f"smtp: {e.smtp_code}", permanent=500 <= e.smtp_code < 600) from None
        except (smtplib.SMTPException, OSError) as e:
            self._drop()
            raise SendFailed(f"smtp: {type(e).__name__}") from None
        return str(mail["Message-ID"])

    def close(self) -> None:
        """End the session politely (QUIT) and close the connection, if one is open."""
        client, self._client = self._client, None
        if client is None:
            return
        try:
            client.quit()
        except (smtplib.SMTPException, OSError):
            client.close()


class HttpSender:
    """A generic provider: ``POST url`` with ``Authorization: Bearer <token>`` and the
    JSON ``{"id", "channel", "to", "language", "topic", "subject", "text"}``; a 2xx answer
    is a sending (its JSON ``id``, if any, the provider's reference), 4xx but 429 a
    permanent refusal, anything else retried."""

    def __init__(self, url: str, token: str | None, timeout: float) -> None:
        self.url = url
        self.token = token
        self.timeout = timeout
        # kept-alive connections for a batch's messages
        self._client: httpx.Client | None = None

    def close(self) -> None:
        """Close the batch's connections."""
        client, self._client = self._client, None
        if client is not None:
            client.close()

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
            if self._client is None:
                self._client = httpx.Client(timeout=self.timeout)
            answer = self._client.post(self.url, json=body, headers=headers)
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
