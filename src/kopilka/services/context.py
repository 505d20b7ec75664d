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
__all__ = ["DeliverySettings", "ServiceContext", "SqliteWriterLock", "is_unavailable"]

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


@dataclass
class ServiceContext:
    """Built once by the composition root (``kopilka.app``) and passed to every service."""

    engine: Engine
    clock: Clock = field(default_factory=SystemClock)
    # False only in the control test that shows the race the row locks prevent
    lock_rows: bool = True
    delivery: DeliverySettings = field(default_factory=DeliverySettings)

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
