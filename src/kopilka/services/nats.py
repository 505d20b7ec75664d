"""The NATS JetStream channel: every event published to ``<prefix>.<program>.<type>``
(``KOPILKA_NATS_URL``, ``KOPILKA_NATS_SUBJECT_PREFIX``), with the event's id as the
message id (``Nats-Msg-Id``), so JetStream drops a duplicate sent again within its
de-duplication window.

nats-py is asynchronous; the worker is not: the channel runs its own event loop, one
connection per job run. The stream (``KOPILKA`` by default, subjects ``<prefix>.>``) is
created when missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence

import nats
import orjson
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import StreamConfig
from nats.js.errors import BadRequestError

from kopilka.services.delivery import NATS, Sent
from kopilka.services.outbox import EventEnvelope

TIMEOUT = 5.0


def stream_name(prefix: str) -> str:
    """The stream the channel publishes into: the prefix in capitals, dots as ``_``."""
    return "".join(ch if ch.isalnum() else "_" for ch in prefix).upper() or "KOPILKA"


def subject(prefix: str, event: EventEnvelope) -> str:
    """Where an event goes: ``<prefix>.<program>.<type>`` (the type's dot splits it)."""
    return f"{prefix}.{event['program']}.{event['type']}"


def ack_error(msg: Msg) -> str | None:
    """What a JetStream acknowledgement says went wrong (None: the event is stored, or
    was a duplicate of one stored): a status with no body (503: no stream takes the
    subject), or an ``error`` in its JSON."""
    if not msg.data:
        status = (msg.headers or {}).get("Status", "?")
        if status == "503":
            return "NoRespondersError: no stream takes the subject"
        return f"APIError: status {status}"
    try:
        answer = orjson.loads(msg.data)
    except orjson.JSONDecodeError:
        return "APIError: the acknowledgement is not JSON"
    error = answer.get("error") if isinstance(answer, dict) else None
    if error is None:
        return None
    if isinstance(error, dict):
        return f"APIError: {error.get('code')} {error.get('description', '')}".strip()
    return f"APIError: {error}"


class NatsChannel:
    """Publishes events to JetStream; an acknowledged publish is delivered."""

    name = NATS

    def __init__(self, url: str, prefix: str) -> None:
        self.url = url
        self.prefix = prefix
        self._loop = asyncio.new_event_loop()
        self._nc: Client | None = None
        # the acknowledgements' subscription (its connection, its subject prefix), the
        # publishes waiting for theirs by token, and the last token given
        self._acks: tuple[Client, str] | None = None
        self._waiting: dict[str, asyncio.Future[str | None]] = {}
        self._serial = 0

    def wants(self, event_type: str) -> bool:
        """NATS takes every event."""
        return True

    async def _connect(self) -> JetStreamContext:
        if self._nc is None or not self._nc.is_connected:
            self._nc = await nats.connect(
                self.url, connect_timeout=TIMEOUT, max_reconnect_attempts=0, allow_reconnect=False
            )
            js = self._nc.jetstream(timeout=TIMEOUT)
            # an error: it exists (perhaps with other settings an operator gave it)
            with contextlib.suppress(BadRequestError):
                await js.add_stream(
                    StreamConfig(name=stream_name(self.prefix), subjects=[f"{self.prefix}.>"])
                )
        return self._nc.jetstream(timeout=TIMEOUT)

    async def _publish(self, event: EventEnvelope) -> None:
        js = await self._connect()
        await js.publish(
            subject(self.prefix, event),
            orjson.dumps(event),
            headers={"Nats-Msg-Id": event["id"]},
        )

    def send(self, event: EventEnvelope) -> Sent:
        """Publish one event and wait for JetStream's acknowledgement."""
        try:
            self._loop.run_until_complete(self._publish(event))
        except Exception as failed:  # every failure of the server or the network is an attempt's
            return Sent(False, None, f"{type(failed).__name__}: {failed}"[:500])
        return Sent(True)

    def send_many(self, events: Sequence[EventEnvelope]) -> list[Sent]:
        """Publish a batch pipelined: every publish sent before any acknowledgement is
        awaited (JetStream acknowledges each; the publishes are in flight together), each
        answered by its own acknowledgement."""
        started = time.perf_counter()
        try:
            answers = self._loop.run_until_complete(self._publish_all(events))
        except Exception as failed:  # no connection: every event of the batch failed
            return [Sent(False, None, f"{type(failed).__name__}: {failed}"[:500])] * len(events)
        ms = int((time.perf_counter() - started) * 1000)
        return [
            Sent(True, duration_ms=ms) if a is None else Sent(False, None, a[:500], ms)
            for a in answers
        ]

    async def _publish_all(self, events: Sequence[EventEnvelope]) -> list[str | None]:
        # Plain publishes with a reply subject each, under one subscription of the
        # connection's own that takes every acknowledgement: nats-py's ``js.publish`` is a
        # request per event (a future, a timer and a task each, and its answer parsed into
        # a dataclass), most of the worker's CPU per event on this channel.
        await self._connect()
        nc = self._nc
        assert nc is not None
        inbox = await self._acks_inbox(nc)
        loop = asyncio.get_running_loop()
        waiting: list[tuple[str, asyncio.Future[str | None]]] = []
        for event in events:
            self._serial += 1
            token = str(self._serial)
            future: asyncio.Future[str | None] = loop.create_future()
            self._waiting[token] = future
            waiting.append((token, future))
            await nc.publish(
                subject(self.prefix, event),
                orjson.dumps(event),
                reply=f"{inbox}.{token}",
                headers={"Nats-Msg-Id": event["id"]},
            )
        if not waiting:
            return []
        try:
            await asyncio.wait([f for _t, f in waiting], timeout=TIMEOUT)
        finally:
            for token, _f in waiting:
                self._waiting.pop(token, None)
        return [
            f.result() if f.done() else f"TimeoutError: no acknowledgement within {TIMEOUT:g} s"
            for _t, f in waiting
        ]

    async def _acks_inbox(self, nc: Client) -> str:
        """The subject prefix acknowledgements come back to (subscribed once per
        connection)."""
        if self._acks is None or self._acks[0] is not nc:
            inbox = nc.new_inbox()
            await nc.subscribe(f"{inbox}.*", cb=self._on_ack)
            self._acks = (nc, inbox)
        return self._acks[1]

    async def _on_ack(self, msg: Msg) -> None:
        future = self._waiting.pop(msg.subject.rpartition(".")[2], None)
        if future is not None and not future.done():
            future.set_result(ack_error(msg))

    def close(self) -> None:
        """Drain the connection and close the loop."""
        if self._nc is not None and not self._nc.is_closed:
            # closing a broken connection: nothing is left to keep
            with contextlib.suppress(Exception):
                self._loop.run_until_complete(self._nc.close())
        self._loop.close()
