"""The outbox's delivery on both databases, to a real webhook receiver on 127.0.0.1 (and
NATS JetStream when it answers): signed per Standard Webhooks, in each member's order,
retried with backoff when the receiver is down and delivered later under the same id,
dead-lettered after a day, taken over when a worker's lease expires, redelivered on
demand. Time is the frozen clock's: no test sleeps."""

from __future__ import annotations

import json
import os
import random
import socket
import threading
from dataclasses import replace
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from kopilka.domain.errors import ValidationError
from kopilka.services import delivery, points, webhooks
from kopilka.services import worker as worker_svc
from kopilka.services.context import DeliverySettings
from kopilka.services.points import Adjust
from kopilka.store.repos.delivery import DeliveryRepo, Settled

SETTINGS = DeliverySettings(allow_private_webhooks=True, retry_base=10, retry_cap=3600)


class Receiver:
    """A webhook receiver: records what it got; ``status`` is what it answers."""

    def __init__(self) -> None:
        self.got: list[tuple[dict[str, str], bytes]] = []
        self.status = 204
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                outer.got.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(outer.status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _h, body in self.got]


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.stop()


@pytest.fixture
def dctx(ctx):
    return replace(ctx, delivery=SETTINGS)


def adjust(ctx, program, member_id, delta, key):
    points.adjust(ctx, program, Adjust(member_id, delta, key=key, reason="goodwill", actor="a"))


def deliver(ctx, program, holder="W", seed=1):
    """One delivery run as the worker's job makes it (its own HTTP client)."""
    with webhooks.http_client(ctx) as client:
        channels = webhooks.open_channels(ctx, program, client)
        try:
            return delivery.run_delivery(ctx, program, channels, holder, rng=random.Random(seed))
        finally:
            for channel in channels:
                channel.close()


def test_events_arrive_signed_and_in_member_order(dctx, make_program, make_member, receiver):
    """Every event reaches the subscription once, each member's in its order, and the
    Standard Webhooks verifier accepts each signature with the subscription's secret."""
    program = make_program()
    sub = webhooks.add_subscription(dctx, program, webhooks.AddSubscription(receiver.url))
    a, b = make_member(program), make_member(program)
    adjust(dctx, program, a, 10, "d-a1")
    adjust(dctx, program, b, 20, "d-b1")
    adjust(dctx, program, a, 30, "d-a2")
    done = deliver(dctx, program)
    assert done["dispatched"] == 5
    assert done["delivered"] == 5
    verifier = Webhook(sub["secret"])
    for headers, body in receiver.got:
        verified = verifier.verify(body, headers)
        assert verified["id"] == headers["webhook-id"]
    got = receiver.events()
    for member in (a, b):
        seqs = [e["sequence"] for e in got if e["member_id"] == member]
        assert seqs == sorted(seqs)
        assert seqs[0] == 1
    assert deliver(dctx, program)["delivered"] == 0  # nothing twice


def test_a_receiver_down_is_retried_with_backoff_and_gets_the_same_id(
    dctx, clock, make_program, make_member, receiver
):
    """While the receiver is down the delivery fails (logged with its error) and waits
    its backoff; a run before then sends nothing; once the receiver is back and the
    time has come, the event arrives with the id it had."""
    program = make_program()
    sub = webhooks.add_subscription(
        dctx, program, webhooks.AddSubscription(receiver.url, ("points.adjusted",))
    )
    m = make_member(program)
    adjust(dctx, program, m, 10, "d-down")
    receiver.status = 503
    first = deliver(dctx, program)
    assert (first["delivered"], first["failed"]) == (0, 1)
    failed_id = receiver.events()[0]["id"]
    log = webhooks.delivery_log(dctx, program, sub["id"])
    assert (log[0]["status_code"], log[0]["error"]) == (503, "HTTP 503")
    receiver.status = 204
    assert deliver(dctx, program)["delivered"] == 0  # its backoff has not passed
    clock.advance(timedelta(seconds=10))  # the first retry waits 5-10 s (jitter)
    assert deliver(dctx, program)["delivered"] == 1
    assert receiver.events()[-1]["id"] == failed_id
    assert [e["type"] for e in receiver.events()] == ["points.adjusted"] * 2
    assert [line["attempt"] for line in webhooks.delivery_log(dctx, program, sub["id"])] == [2, 1]


def test_an_unreachable_receiver_is_dead_lettered_after_a_day(
    dctx, clock, make_program, make_member, receiver
):
    """Connection refused, again and again: the delivery is retried until the event is a
    day old, then it is dead and no run sends it again."""
    program = make_program()
    receiver.stop()
    webhooks.add_subscription(dctx, program, webhooks.AddSubscription(receiver.url))
    m = make_member(program)
    dead = 0
    for _ in range(40):
        done = deliver(dctx, program)
        dead += done["dead"]
        clock.advance(timedelta(hours=1))
    assert dead == 1
    (event_delivery,) = [
        d for e in _event_ids(dctx, program, m) for d in delivery.deliveries(dctx, e)
    ]
    assert event_delivery.status == "dead"
    assert "ConnectError" in (event_delivery.last_error or "")
    receiver.__init__()  # a new receiver, so the fixture's stop has one


def _event_ids(ctx, program, member_id):
    from kopilka.services import outbox

    return [e["id"] for e in outbox.member_events(ctx, program, member_id)]


def test_an_earlier_failed_event_holds_back_the_members_later_ones(
    dctx, clock, make_program, make_member, receiver
):
    """While a member's first event fails, their later events wait; another member's
    events go."""
    program = make_program()
    webhooks.add_subscription(dctx, program, webhooks.AddSubscription(receiver.url))
    a = make_member(program)
    receiver.status = 500
    deliver(dctx, program)  # a's enrolment fails
    receiver.status = 204
    adjust(dctx, program, a, 10, "d-held")
    b = make_member(program)
    done = deliver(dctx, program)
    assert [e["member_id"] for e in receiver.events()[1:]] == [b]
    assert done["delivered"] == 1
    clock.advance(timedelta(seconds=10))
    deliver(dctx, program)
    assert [(e["member_id"], e["sequence"]) for e in receiver.events()[2:]] == [(a, 1), (a, 2)]


def test_a_dead_workers_lease_is_taken_over(dctx, clock, make_program, make_member, receiver):
    """A worker that leased deliveries and died keeps them from others until its lease
    expires; then another worker delivers them, and the dead one's late outcome is
    refused."""
    program = make_program()
    webhooks.add_subscription(dctx, program, webhooks.AddSubscription(receiver.url))
    make_member(program)
    delivery.dispatch(dctx, program, {"webhook:" + str(_sub_id(dctx, program)): lambda t: True})
    now = dctx.now()
    with dctx.uow() as uow:
        (claimed,) = DeliveryRepo(uow.conn).claim(program.id, "A", now, now + delivery.LEASE, 10)
        uow.commit()
    assert deliver(dctx, program, holder="B")["delivered"] == 0
    clock.advance(delivery.LEASE)
    assert deliver(dctx, program, holder="B")["delivered"] == 1
    with dctx.uow() as uow:
        # A's late outcome (a dead letter, say) finds the lease gone: it changes nothing
        DeliveryRepo(uow.conn).settle_many(
            "A",
            [Settled(claimed.id, claimed.channel, "dead", 1, now, None, "late", now, None, 0)],
        )
        uow.commit()
    (row,) = delivery.deliveries(dctx, claimed.event_id)
    assert (row.status, row.attempts) == ("delivered", 1)
    assert len(receiver.got) == 1


def _sub_id(ctx, program):
    return webhooks.list_subscriptions(ctx, program)[0]["id"]


def test_redelivery_of_one_event_and_of_a_time_range(
    dctx, clock, make_program, make_member, receiver
):
    """An event redelivered goes again with its id; a time range takes the events created
    in it (a subscription added later too); asking for neither is refused."""
    program = make_program()
    sub = webhooks.add_subscription(dctx, program, webhooks.AddSubscription(receiver.url))
    start = dctx.now()
    make_member(program)
    clock.advance(timedelta(hours=1))
    make_member(program)
    deliver(dctx, program)
    first = receiver.events()[0]["id"]
    assert webhooks.redeliver(dctx, program, sub["id"], event_id=first) == 1
    deliver(dctx, program)
    assert receiver.events()[-1]["id"] == first
    n = webhooks.redeliver(dctx, program, sub["id"], since=start, until=start + timedelta(hours=2))
    assert n == 2
    deliver(dctx, program)
    assert len(receiver.got) == 5
    with pytest.raises(ValidationError):
        webhooks.redeliver(dctx, program, sub["id"])
    # a subscription added later gets the earlier events only when asked for them
    late = webhooks.add_subscription(dctx, program, webhooks.AddSubscription(receiver.url))
    assert deliver(dctx, program)["delivered"] == 0
    assert webhooks.redeliver(dctx, program, late["id"], since=start) == 2
    deliver(dctx, program)
    assert len(receiver.got) == 7


def test_private_addresses_are_refused_unless_allowed(ctx, make_program):
    """Loopback and private addresses are refused when the setting is off, and so is a
    port out of range or not a number; types must be known."""
    program = make_program()
    odd = ("http://a.b:99999/x", "http://a.b:x/", "http://[::1/x")
    for url in ("http://127.0.0.1:9/x", "http://10.1.2.3/x", "http://[::1]/x", "ftp://a.b/x", *odd):
        with pytest.raises(ValidationError):
            webhooks.add_subscription(ctx, program, webhooks.AddSubscription(url))
    allowed = replace(ctx, delivery=SETTINGS)
    with pytest.raises(ValidationError):
        webhooks.add_subscription(
            allowed, program, webhooks.AddSubscription("http://127.0.0.1/x", ("no.such",))
        )
    webhooks.add_subscription(allowed, program, webhooks.AddSubscription("http://127.0.0.1/x"))
    assert len(webhooks.list_subscriptions(ctx, program)) == 1


def test_the_worker_runs_the_outbox_job(dctx, make_program, make_member, receiver):
    """``kopilka worker --once`` runs the ``outbox`` job, which delivers and records its
    counts."""
    program = make_program()
    webhooks.add_subscription(dctx, program, webhooks.AddSubscription(receiver.url))
    make_member(program)
    options = worker_svc.WorkerOptions(
        worker_id="W",
        lease=timedelta(minutes=2),
        poll_seconds=0.01,
        once=True,
        program_ids=(program.id,),
        jobs=("outbox",),
    )
    worker_svc.Worker(dctx, options).run()
    (run,) = worker_svc.list_runs(dctx, program, 10, "outbox")
    assert run["outcome"] == "ok"
    assert run["counts"]["delivered"] == 1
    assert len(receiver.got) == 1


def _nats_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 4222), timeout=0.5):
            return True
    except OSError:
        return False


NATS_UP = _nats_up()


@pytest.mark.skipif(
    not NATS_UP and os.environ.get("KOPILKA_REQUIRE_NATS") != "1",
    reason="no NATS server on 127.0.0.1:4222 (KOPILKA_REQUIRE_NATS=1 makes this a failure)",
)
def test_events_are_published_to_jetstream_once_per_id(dctx, make_program, make_member):
    """Every event is published to <prefix>.<program>.<type> with its id as Nats-Msg-Id:
    a consumer reads each once, and a redelivery of the same id is dropped by JetStream."""
    import asyncio

    import nats

    from kopilka.services.nats import NatsChannel, stream_name

    prefix = f"kt{random.randrange(10**9)}"
    program = make_program()
    m = make_member(program)
    adjust(dctx, program, m, 10, "d-nats")
    channel = NatsChannel("nats://127.0.0.1:4222", prefix)
    try:
        done = delivery.run_delivery(dctx, program, [channel], "W", rng=random.Random(1))
        assert done["delivered"] == 2
        from kopilka.services import outbox

        again = outbox.member_events(dctx, program, m)[0]
        assert channel.send(again).ok  # the same id again: acknowledged as a duplicate
    finally:
        channel.close()

    async def read() -> list[dict[str, Any]]:
        nc = await nats.connect("nats://127.0.0.1:4222")
        js = nc.jetstream()
        sub = await js.pull_subscribe(f"{prefix}.>", durable=None, stream=stream_name(prefix))
        msgs = await sub.fetch(10, timeout=1)
        for msg in msgs:
            await msg.ack()
        ids = [dict(msg.headers or {}).get("Nats-Msg-Id") for msg in msgs]
        out = [
            json.loads(msg.data) | {"_msg_id": i, "_subject": msg.subject}
            for msg, i in zip(msgs, ids, strict=True)
        ]
        await js.delete_stream(stream_name(prefix))
        await nc.close()
        return out

    got = asyncio.run(read())
    assert [e["type"] for e in got] == ["member.enrolled", "points.adjusted"]
    assert all(e["_msg_id"] == e["id"] for e in got)
    assert got[0]["_subject"] == f"{prefix}.{program.code}.member.enrolled"


def test_a_worker_dying_after_sending_means_a_duplicate_with_the_same_id(
    dctx, clock, make_program, make_member, receiver, monkeypatch
):
    """A worker that sent an event and died before recording it (its outcome never
    written) leaves the delivery leased; once the lease expires another worker sends it
    again: at least once, and the duplicate carries the same id for the receiver to drop."""
    program = make_program()
    webhooks.add_subscription(dctx, program, webhooks.AddSubscription(receiver.url))
    make_member(program)

    def die(*args, **kwargs):
        raise SystemExit("killed between sending and recording")

    monkeypatch.setattr(DeliveryRepo, "settle_many", die)
    with pytest.raises(SystemExit):
        deliver(dctx, program, holder="A")
    monkeypatch.undo()
    assert len(receiver.got) == 1
    assert deliver(dctx, program, holder="B")["delivered"] == 0  # A's lease still holds
    clock.advance(delivery.LEASE)
    assert deliver(dctx, program, holder="B")["delivered"] == 1
    first, again = receiver.events()
    assert first["id"] == again["id"]
    assert deliver(dctx, program, holder="B")["delivered"] == 0
