"""The NATS channel's batch against the real JetStream server on 127.0.0.1:4222: each
publish is answered by its own acknowledgement (stored, or a duplicate of an id stored),
and a publish no stream takes fails with the reason, not as delivered."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid

import nats
import pytest

from kopilka.services.nats import NatsChannel, stream_name
from kopilka.services.outbox import EventEnvelope

URL = "nats://127.0.0.1:4222"


def _nats_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 4222), timeout=0.5):
            return True
    except OSError:
        return False


pytestmark = pytest.mark.skipif(
    not _nats_up() and os.environ.get("KOPILKA_REQUIRE_NATS") != "1",
    reason="no NATS server on 127.0.0.1:4222 (KOPILKA_REQUIRE_NATS=1 makes this a failure)",
)


def event(member_id: int, seq: int) -> EventEnvelope:
    return {
        "id": str(uuid.uuid4()),
        "type": "points.adjusted",
        "schema_version": 1,
        "program": "p",
        "member_id": member_id,
        "sequence": seq,
        "created_at": "2026-01-01T00:00:00+00:00",
        "data": {"member_id": member_id},
    }


async def _stream_state(prefix: str, delete: bool) -> int:
    nc = await nats.connect(URL)
    try:
        js = nc.jetstream()
        info = await js.stream_info(stream_name(prefix))
        if delete:
            await js.delete_stream(stream_name(prefix))
        return int(info.state.messages)
    finally:
        await nc.close()


def test_a_batch_is_acknowledged_event_by_event() -> None:
    """A batch of 300 is stored (the stream holds 300), the same ids again are
    acknowledged as duplicates (delivered, nothing stored twice), and once the stream is
    gone every publish of a batch fails, saying no stream takes the subject."""
    prefix = f"kt{uuid.uuid4().hex[:10]}"
    channel = NatsChannel(URL, prefix)
    try:
        batch = [event(m, 1) for m in range(300)]
        assert all(s.ok for s in channel.send_many(batch))
        assert all(s.ok for s in channel.send_many(batch[:10]))
        assert asyncio.run(_stream_state(prefix, delete=True)) == 300
        lost = channel.send_many([event(1, 2), event(2, 2)])
        assert [s.ok for s in lost] == [False, False]
        assert all((s.error or "").startswith("NoRespondersError") for s in lost)
    finally:
        channel.close()
