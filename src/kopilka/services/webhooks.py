"""Webhook subscriptions and their channel: a program's events POSTed to a URL, signed per
the Standard Webhooks specification (``webhook-id``, ``webhook-timestamp``,
``webhook-signature``; the ``standardwebhooks`` package signs).

An address in a private, loopback, link-local or reserved network is refused (when the
subscription is added, and again before each delivery, as a name may resolve elsewhere
later), a guard against server-side request forgery, unless ``allow_private_webhooks``
(``KOPILKA_WEBHOOKS_ALLOW_PRIVATE``) allows it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ipaddress
import secrets
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypedDict
from urllib.parse import urlsplit

import aiohttp
import httpx
import orjson
from standardwebhooks.webhooks import Webhook

from kopilka.domain.errors import NotFoundError, ValidationError
from kopilka.domain.messages import msg
from kopilka.domain.program import Program
from kopilka.services.context import ServiceContext
from kopilka.services.delivery import Sent
from kopilka.services.outbox import PAYLOADS, EventEnvelope
from kopilka.store.repos.delivery import DeliveryRepo, SubscriptionRow

CHANNEL_PREFIX = "webhook:"


class Subscription(TypedDict):
    """A subscription as it is listed (the secret is shown once, when it is added)."""

    id: int
    url: str
    event_types: list[str]
    created_at: str


class SubscriptionAdded(Subscription):
    """A new subscription, with its secret (the receiver verifies signatures with it)."""

    secret: str


@dataclass(frozen=True, slots=True)
class AddSubscription:
    """Send the program's events of ``event_types`` (empty: every type) to ``url``, signed
    with ``secret`` (None: a new one, ``whsec_`` and 32 random bytes in base64)."""

    url: str
    event_types: tuple[str, ...] = ()
    secret: str | None = None


def new_secret() -> str:
    """A fresh signing secret in the Standard Webhooks form."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def check_url(url: str, allow_private: bool) -> None:
    """Refuse (ValidationError) what is not an http(s) URL with a host, or whose host
    resolves to a private, loopback, link-local, multicast or reserved address (unless
    ``allow_private``)."""
    try:
        parts = urlsplit(url)
        port = parts.port  # a port out of range or not a number raises here
    except ValueError:
        raise ValidationError(
            msg("a webhook URL is http:// or https:// with a host"), field="url"
        ) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError(msg("a webhook URL is http:// or https:// with a host"), field="url")
    if len(url) > 2000:
        raise ValidationError(msg("a webhook URL is at most 2000 characters"), field="url")
    if allow_private:
        return
    try:
        infos = socket.getaddrinfo(parts.hostname, port or 443, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):  # a name IDNA cannot encode (a label over 63) too
        raise ValidationError(
            msg("%(host)s does not resolve", host=parts.hostname), field="url"
        ) from None
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if not address.is_global:
            raise ValidationError(
                msg(
                    "%(host)s is in a private or loopback network (%(address)s); "
                    "KOPILKA_WEBHOOKS_ALLOW_PRIVATE allows it",
                    host=parts.hostname,
                    address=str(address),
                ),
                field="url",
            )


def _check_types(types: Sequence[str]) -> list[str]:
    unknown = sorted(set(types) - set(PAYLOADS))
    if unknown:
        known = ", ".join(sorted(PAYLOADS))
        raise ValidationError(
            msg(
                "unknown event type %(type)s; the types are: %(known)s",
                type=repr(unknown[0]),
                known=known,
            ),
            field="event_types",
        )
    return sorted(set(types))


def _listed(r: SubscriptionRow) -> Subscription:
    return {
        "id": r.id,
        "url": r.url,
        "event_types": r.event_types,
        "created_at": r.created_at.isoformat(),
    }


def add_subscription(
    ctx: ServiceContext, program: Program, cmd: AddSubscription
) -> SubscriptionAdded:
    """Subscribe ``cmd.url`` to the program's events; answers the secret once."""
    check_url(cmd.url, ctx.delivery.allow_private_webhooks)
    types = _check_types(cmd.event_types)
    secret = cmd.secret or new_secret()
    try:
        Webhook(secret)
    except Exception:
        raise ValidationError(
            msg("the secret is not a Standard Webhooks secret"), field="secret"
        ) from None
    with ctx.uow() as uow:
        repo = DeliveryRepo(uow.conn)
        sub_id = repo.add_subscription(program.id, cmd.url, types, secret, ctx.now())
        row = repo.subscription(sub_id)
        uow.commit()
    assert row is not None
    return {**_listed(row), "secret": secret}


def list_subscriptions(ctx: ServiceContext, program: Program) -> list[Subscription]:
    """The program's subscriptions (without their secrets)."""
    with ctx.uow(read_only=True) as uow:
        return [_listed(r) for r in DeliveryRepo(uow.conn).subscriptions(program.id)]


def remove_subscription(ctx: ServiceContext, program: Program, subscription_id: int) -> None:
    """Stop delivering to a subscription (its log stays); NotFoundError if it has none."""
    with ctx.uow() as uow:
        if not DeliveryRepo(uow.conn).remove_subscription(program.id, subscription_id, ctx.now()):
            raise _no_subscription(subscription_id)
        uow.commit()


@dataclass(frozen=True, slots=True)
class ChangeSubscription:
    """Point a subscription at another ``url`` and/or other ``event_types`` (None: as it
    is; an empty tuple: every type). Its secret and delivery log stay."""

    subscription_id: int
    url: str | None = None
    event_types: tuple[str, ...] | None = None


def get_subscription(ctx: ServiceContext, program: Program, subscription_id: int) -> Subscription:
    """One subscription of the program (without its secret)."""
    with ctx.uow(read_only=True) as uow:
        return _listed(_own(DeliveryRepo(uow.conn), program, subscription_id))


def change_subscription(
    ctx: ServiceContext, program: Program, cmd: ChangeSubscription
) -> Subscription:
    """Change a subscription's URL (checked as when added) or event types; the events
    dispatched from then on follow the new ones."""
    if cmd.url is not None:
        check_url(cmd.url, ctx.delivery.allow_private_webhooks)
    types = None if cmd.event_types is None else _check_types(cmd.event_types)
    with ctx.uow() as uow:
        repo = DeliveryRepo(uow.conn)
        _own(repo, program, cmd.subscription_id)
        repo.change_subscription(cmd.subscription_id, cmd.url, types)
        row = _own(repo, program, cmd.subscription_id)
        uow.commit()
    return _listed(row)


def _no_subscription(subscription_id: int) -> NotFoundError:
    return NotFoundError(
        msg("no webhook subscription %(id)s", id=subscription_id), field="subscription_id"
    )


def _own(repo: DeliveryRepo, program: Program, subscription_id: int) -> SubscriptionRow:
    sub = repo.subscription(subscription_id)
    if sub is None or sub.program_id != program.id:
        raise _no_subscription(subscription_id)
    return sub


def redeliver(
    ctx: ServiceContext,
    program: Program,
    subscription_id: int,
    *,
    event_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> int:
    """Deliver again to the subscription one event, or the events created in [``since``,
    ``until``): their deliveries become pending, due now, with their attempts reset (an
    event from before the subscription, of its types, gets a delivery). The next
    ``outbox`` run sends them. Returns how many."""
    if event_id is None and since is None:
        raise ValidationError(msg("name an event or a time range"), field="event_id")
    if since is not None and until is not None and until <= since:
        raise ValidationError(msg("the range ends before it starts"), field="until")
    with ctx.uow() as uow:
        repo = DeliveryRepo(uow.conn)
        sub = _own(repo, program, subscription_id)
        n = repo.redeliver(
            program.id,
            f"{CHANNEL_PREFIX}{subscription_id}",
            ctx.now(),
            event_id=event_id,
            since=since,
            until=until,
            event_types=sub.event_types,
        )
        uow.commit()
    return n


class DeliveryAttempt(TypedDict):
    """One line of a subscription's delivery log (``status``: the delivery's now,
    ``pending``, ``delivered`` or ``dead``)."""

    event_id: str
    event_type: str
    status: str
    attempt: int
    at: str
    status_code: int | None
    error: str | None
    duration_ms: int


def delivery_log(
    ctx: ServiceContext, program: Program, subscription_id: int, limit: int = 100
) -> list[DeliveryAttempt]:
    """The subscription's attempts, newest first."""
    with ctx.uow(read_only=True) as uow:
        repo = DeliveryRepo(uow.conn)
        _own(repo, program, subscription_id)
        rows = repo.attempts(f"{CHANNEL_PREFIX}{subscription_id}", limit)
    return [
        {
            "event_id": r.event_id,
            "event_type": r.event_type,
            "status": r.delivery_status,
            "attempt": r.attempt,
            "at": r.at.isoformat(),
            "status_code": r.status_code,
            "error": r.error,
            "duration_ms": r.duration_ms,
        }
        for r in rows
    ]


# requests a channel keeps in flight at once (``send_many``)
CONCURRENCY = 32


class WebhookChannel:
    """POSTs each event as JSON to the subscription's URL, signed; a 2xx is delivered.
    ``send`` posts one with the run's client; ``send_many`` posts a batch concurrently
    (at most :data:`CONCURRENCY` at once) over an aiohttp pool of its own, on an
    event loop of its own (the worker is synchronous); ``close`` releases them."""

    def __init__(self, sub: SubscriptionRow, ctx: ServiceContext, client: httpx.Client) -> None:
        self.name = f"{CHANNEL_PREFIX}{sub.id}"
        self.sub = sub
        self._types = frozenset(sub.event_types)
        self._signer = Webhook(sub.secret)
        self._allow_private = ctx.delivery.allow_private_webhooks
        self._timeout = ctx.delivery.webhook_timeout
        self._client = client
        self._loop: asyncio.AbstractEventLoop | None = None
        self._session: aiohttp.ClientSession | None = None

    def wants(self, event_type: str) -> bool:
        """Whether the subscription takes events of this type."""
        return not self._types or event_type in self._types

    def _request(self, event: EventEnvelope) -> tuple[str, dict[str, str]]:
        body = orjson.dumps(event).decode()
        at = datetime.now(UTC)
        headers = {
            "content-type": "application/json",
            "webhook-id": event["id"],
            "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": self._signer.sign(event["id"], at, body),
        }
        return body, headers

    def _refused(self) -> Sent | None:
        try:
            check_url(self.sub.url, self._allow_private)
        except ValidationError as refused:
            return Sent(False, None, str(refused.message))
        return None

    @staticmethod
    def _answer(status_code: int, ms: int) -> Sent:
        if 200 <= status_code < 300:
            return Sent(True, status_code, duration_ms=ms)
        return Sent(False, status_code, f"HTTP {status_code}", ms)

    def send(self, event: EventEnvelope) -> Sent:
        """One signed POST; any answer but a 2xx, and any failure to get one, is a
        failed attempt."""
        refused = self._refused()
        if refused is not None:
            return refused
        body, headers = self._request(event)
        started = time.perf_counter()
        try:
            answer = self._client.post(self.sub.url, content=body, headers=headers)
        except httpx.HTTPError as failed:
            return Sent(False, None, f"{type(failed).__name__}: {failed}"[:500])
        return self._answer(answer.status_code, int((time.perf_counter() - started) * 1000))

    def send_many(self, events: Sequence[EventEnvelope]) -> list[Sent]:
        """Independent events POSTed concurrently; each answer as :meth:`send`'s. The
        address is checked once for the batch (it may resolve elsewhere later: the next
        batch checks again)."""
        refused = self._refused()
        if refused is not None:
            return [refused] * len(events)
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
        return self._loop.run_until_complete(self._post_all(events))

    async def _post_all(self, events: Sequence[EventEnvelope]) -> list[Sent]:
        # aiohttp, not httpx's AsyncClient: on this machine httpx spent ~4.3 ms of CPU in
        # its pool per post, aiohttp ~0.3 ms (bench/README.md, "Outbox delivery")
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=CONCURRENCY),
                timeout=aiohttp.ClientTimeout(total=self._timeout),
                # no proxies from the environment, as the synchronous client
                trust_env=False,
            )
        session = self._session
        gate = asyncio.Semaphore(CONCURRENCY)

        async def post(event: EventEnvelope) -> Sent:
            body, headers = self._request(event)
            async with gate:
                started = time.perf_counter()
                try:
                    async with session.post(
                        self.sub.url, data=body.encode(), headers=headers, allow_redirects=False
                    ) as answer:
                        await answer.read()  # the connection goes back to the pool
                        status = answer.status
                except (aiohttp.ClientError, TimeoutError) as failed:
                    return Sent(False, None, self._failure(failed))
                return self._answer(status, int((time.perf_counter() - started) * 1000))

        return list(await asyncio.gather(*(post(e) for e in events)))

    def _failure(self, failed: BaseException) -> str:
        # the delivery log says what :meth:`send` (httpx) would say, whichever client sent
        if isinstance(failed, aiohttp.ClientConnectorError):
            return f"ConnectError: {failed.os_error}"[:500]
        if isinstance(failed, TimeoutError):
            return f"TimeoutException: no answer within {self._timeout:g} s"
        return f"{type(failed).__name__}: {failed}"[:500]

    def close(self) -> None:
        """Close the pool and the loop of ``send_many`` (the run's client is closed by
        whoever opened it)."""
        if self._loop is None:
            return
        if self._session is not None:
            with contextlib.suppress(Exception):  # a broken pool: nothing is left to keep
                self._loop.run_until_complete(self._session.close())
            self._session = None
        self._loop.close()
        self._loop = None


def open_channels(
    ctx: ServiceContext, program: Program, client: httpx.Client
) -> list[WebhookChannel]:
    """A channel per subscription of the program."""
    with ctx.uow(read_only=True) as uow:
        subs = DeliveryRepo(uow.conn).subscriptions(program.id)
    return [WebhookChannel(s, ctx, client) for s in subs]


def http_client(ctx: ServiceContext) -> httpx.Client:
    """The client webhooks are sent with: the settings' timeout, no redirects followed
    (a redirect could lead into a private network)."""
    return httpx.Client(timeout=ctx.delivery.webhook_timeout, follow_redirects=False)
