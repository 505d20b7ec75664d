"""What every use case needs: a way to open units of work, and the clock."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar, cast

from sqlalchemy import Engine

from kopilka.domain.clock import Clock, SystemClock
from kopilka.ledger.idempotency import JsonObject, run_idempotent, run_idempotent_keyed
from kopilka.store.db import SqliteWriterLock, is_unavailable, writer_lock
from kopilka.store.uow import UnitOfWork

# re-exported for the interfaces, which reach the store only through services (the import
# contract in pyproject.toml): the writer lock's type (api/offload.py) and the test that
# tells a database outage (503, retry) from a bug (500) in the error handlers
__all__ = [
    "DeliverySettings",
    "MessagingSettings",
    "ServiceContext",
    "SqliteWriterLock",
    "is_unavailable",
]

# a use case's result: a JSON object (a TypedDict of services/<capability>.py), which the
# idempotency store keeps as the outcome a retry is answered with
R = TypeVar("R", bound=Mapping[str, object])


@dataclass(frozen=True)
class DeliverySettings:
    """How the outbox's events leave (``kopilka.app`` fills it from the settings):
    ``allow_private_webhooks`` lets a webhook address be in a private or loopback network
    (``KOPILKA_WEBHOOKS_ALLOW_PRIVATE``; off, as a guard against server-side request
    forgery); ``nats_url`` (None: no NATS channel) and its subject prefix; the webhook
    timeout; the retries: ``retry_base`` seconds doubled per attempt up to ``retry_cap``,
    with jitter, until an event is ``retry_for`` seconds old, then dead-lettered."""

    allow_private_webhooks: bool = False
    nats_url: str | None = None
    nats_subject_prefix: str = "kopilka"
    webhook_timeout: float = 5.0
    retry_base: float = 5.0
    retry_cap: float = 3600.0
    retry_for: float = 86400.0


@dataclass(frozen=True)
class MessagingSettings:
    """How members' messages leave (``kopilka.app`` fills it from the ``KOPILKA_SMTP_*``,
    ``KOPILKA_SMS_*`` and ``KOPILKA_PUSH_*`` settings; see docs/notifications.md).

    ``email``: ``smtp`` or ``log``; the SMTP server (``smtp_starttls``: upgrade the plain
    connection; ``smtp_ssl``: TLS from the start; ``smtp_ca_file``: a CA to trust besides
    the system's); ``sms`` and ``push``: ``log`` or ``http`` (a JSON POST to the URL with
    the token as a bearer); ``public_url``: the site's address the unsubscribe links start
    with; ``secret``: what signs them; a failed sending is retried ``max_attempts`` times,
    ``retry_base`` seconds doubled each time."""

    email: str = "log"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    smtp_ssl: bool = False
    smtp_ca_file: str | None = None
    smtp_from: str = "Kopilka <no-reply@localhost>"
    smtp_timeout: float = 10.0
    sms: str = "log"
    sms_url: str | None = None
    sms_token: str | None = None
    push: str = "log"
    push_url: str | None = None
    push_token: str | None = None
    http_timeout: float = 10.0
    public_url: str = "http://127.0.0.1:8000"
    secret: str = "dev-insecure-secret"  # noqa: S105 (the settings' development default)
    max_attempts: int = 5
    retry_base: float = 30.0

    def __repr__(self) -> str:  # never the password nor the tokens
        return f"MessagingSettings(email={self.email!r}, sms={self.sms!r}, push={self.push!r})"


@dataclass
class ServiceContext:
    """Built once by the composition root (``kopilka.app``) and passed to every service."""

    engine: Engine
    clock: Clock = field(default_factory=SystemClock)
    # False only in the control test that shows the race the row locks prevent
    lock_rows: bool = True
    delivery: DeliverySettings = field(default_factory=DeliverySettings)
    messaging: MessagingSettings = field(default_factory=MessagingSettings)

    def uow(self, *, read_only: bool = False) -> UnitOfWork:
        return UnitOfWork(self.engine, read_only=read_only, lock_rows=self.lock_rows)

    def now(self) -> datetime:
        return self.clock.now()

    def writer_lock(self) -> SqliteWriterLock | None:
        """The process's writer lock of this SQLite database (None on PostgreSQL): what the
        API's ``offload`` holds to run a short write on the event loop."""
        return writer_lock(self.engine)

    def idempotent(
        self,
        program_id: int,
        key: str,
        operation: str,
        request: Mapping[str, object],
        effect: Callable[[UnitOfWork], R],
        *,
        caller_key: str | None = None,
        digest: str | None = None,
    ) -> R:
        """Run ``effect`` in a unit of work at most once for ``key`` (see ledger.idempotency);
        with ``caller_key`` (an API caller's Idempotency-Key), at most once for either.

        ``request`` is what is fingerprinted (a command's ``fingerprint()``); ``digest``:
        ``request_hash(operation, request)``, when the caller has it already. The result is
        ``effect``'s, or the outcome stored for ``key`` (the same JSON object: the stored
        format is the result type's)."""
        # the ledger works on plain JSON objects; a result TypedDict is one at run time
        body = cast(JsonObject, request if isinstance(request, dict) else dict(request))
        run = cast(Callable[[UnitOfWork], JsonObject], effect)
        if caller_key is not None:
            return cast(
                R,
                run_idempotent_keyed(
                    self.uow,
                    lambda u: u.idempotency,
                    program_id,
                    caller_key,
                    key,
                    operation,
                    body,
                    self.now(),
                    run,
                    digest=digest,
                ),
            )
        return cast(
            R,
            run_idempotent(
                self.uow,
                lambda u: u.idempotency,
                program_id,
                key,
                operation,
                body,
                self.now(),
                run,
                digest=digest,
            ),
        )
