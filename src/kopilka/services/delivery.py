"""The outbox's delivery: events to their channels, at least once, in each member's order.

A run of the worker's ``outbox`` job (``services/worker/outbox.py``) for a program
1. **dispatches**: makes one delivery per new event and channel (each webhook subscription
   whose types match, and NATS when configured), and marks the event dispatched;
2. **delivers**: leases a batch of due deliveries (``FOR UPDATE SKIP LOCKED``: no two
   workers take the same one; a crashed worker's lease expires and another takes over),
   sends each one outside any transaction, and records the outcome and the attempt (the
   delivery log). A delivery waits while an earlier event of its member is pending on its
   channel, so one member's events leave in order: a batch may hold several of one
   member's, sent one after another, each after the earlier one succeeded. A failure is
   retried after ``retry_base * 2**(attempt-1)`` seconds (at most ``retry_cap``), less up
   to half of it at random (jitter), until the event is ``retry_for`` old (a day): then
   it is dead.

Delivery is at least once: a worker that dies after sending and before recording sends
again; the event's id lets the consumer drop the duplicate.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Protocol, TypedDict

from kopilka.domain.program import Program
from kopilka.services.context import DeliverySettings, ServiceContext
from kopilka.services.outbox import EventEnvelope
from kopilka.store.repos.delivery import (
    DEAD,
    DELIVERED,
    PENDING,
    ClaimedDelivery,
    DeliveryRepo,
    Settled,
)

BATCH = 500
LEASE = timedelta(minutes=2)
NATS = "nats"


@dataclass(frozen=True, slots=True)
class Sent:
    """What one attempt got: ``ok``, the HTTP status (None for another channel or when no
    answer came) and the error (None when ``ok``)."""

    ok: bool
    status_code: int | None = None
    error: str | None = None
    duration_ms: int = 0


class Channel(Protocol):
    """Where events go: a webhook subscription, NATS."""

    name: str

    def send(self, event: EventEnvelope) -> Sent:
        """Deliver one event (never raises for a delivery failure: answers it). A channel
        may also have ``send_many(events) -> list[Sent]``: independent events at once,
        each answer with its ``duration_ms`` (see :func:`send_all`)."""
        ...

    def close(self) -> None:
        """Release the channel's connections."""
        ...


# how a program's channels are opened: a test injects its own
ChannelFactory = Callable[[ServiceContext, Program], Sequence[Channel]]


class Delivered(TypedDict):
    """What a run of the delivery did."""

    dispatched: int
    delivered: int
    failed: int
    dead: int


def retry_delay(settings: DeliverySettings, attempt: int, rng: random.Random) -> timedelta:
    """The wait before attempt ``attempt + 1`` after ``attempt`` failed: exponential, capped,
    with up to half of it taken off at random so failed deliveries do not retry in step."""
    full = min(settings.retry_base * 2 ** max(attempt - 1, 0), settings.retry_cap)
    return timedelta(seconds=full * (1 - rng.random() / 2))


def dispatch(
    ctx: ServiceContext,
    program: Program,
    wants: Mapping[str, Callable[[str], bool]],
    limit: int = 1000,
) -> int:
    """One delivery per undispatched event and channel whose ``wants(type)`` is true;
    returns the events dispatched."""
    with ctx.uow() as uow:
        repo = DeliveryRepo(uow.conn)
        now = ctx.now()
        events = repo.undispatched(program.id, limit)
        # each type asked once per channel: a batch has a handful of types
        types = sorted({type_ for _id, _member, _seq, type_ in events})
        pairs = [(t, name) for t in types for name, want in wants.items() if want(t)]
        repo.dispatch(program.id, events, pairs, now)
        uow.commit()
    return len(events)


def _envelope(program: Program, c: ClaimedDelivery) -> EventEnvelope:
    return {
        "id": c.event_id,
        "type": c.type,
        "schema_version": c.schema_version,
        "program": program.code,
        "member_id": c.member_id,
        "sequence": c.seq,
        "created_at": c.created_at.isoformat(),
        "data": c.payload,
    }


def send_all(channel: Channel, events: Sequence[EventEnvelope]) -> list[Sent]:
    """Send ``events`` (independent of each other: no two of one member) on ``channel``:
    all at once when it can (``send_many``: concurrent requests, pipelined publishes),
    else one after another; each answer with its own duration."""
    many = getattr(channel, "send_many", None)
    if callable(many):
        answers = many(events)
        assert len(answers) == len(events)
        return list(answers)
    out: list[Sent] = []
    for event in events:
        started = time.perf_counter()
        sent = channel.send(event)
        out.append(replace(sent, duration_ms=int((time.perf_counter() - started) * 1000)))
    return out


def _waves(claimed: Sequence[ClaimedDelivery]) -> list[list[ClaimedDelivery]]:
    # the k-th delivery of each member in the k-th wave: a wave's are independent and go
    # at once, and a member's later event waits for its earlier one's answer (a claim
    # takes up to PER_MEMBER of one member and channel, in their order)
    waves: list[list[ClaimedDelivery]] = []
    count: dict[int | None, int] = {}
    for c in sorted(claimed, key=lambda c: (c.member_id or 0, c.seq)):
        k = 0 if c.member_id is None else count.get(c.member_id, 0)
        if c.member_id is not None:
            count[c.member_id] = k + 1
        while len(waves) <= k:
            waves.append([])
        waves[k].append(c)
    return waves


def deliver_batch(
    ctx: ServiceContext,
    program: Program,
    channels: Mapping[str, Channel],
    holder: str,
    rng: random.Random,
    limit: int = BATCH,
    lease: timedelta = LEASE,
) -> Delivered:
    """Lease one batch of due deliveries, send each channel's at once (outside any
    transaction; a member's in its order, wave after wave), and record every outcome and
    attempt in one transaction. A member's delivery whose earlier one failed in the batch
    is not sent, nor is any wave once half the lease is gone (the lease must outlive the
    sending): their leases are given up, with no attempt counted, and a later claim takes
    them in order."""
    out: Delivered = {"dispatched": 0, "delivered": 0, "failed": 0, "dead": 0}
    now = ctx.now()
    with ctx.uow() as uow:
        claimed = DeliveryRepo(uow.conn).claim(program.id, holder, now, now + lease, limit)
        uow.commit()
    # on the wall clock, not the context's (a test's frozen clock does not move)
    give_up = time.monotonic() + lease.total_seconds() / 2
    by_channel: dict[str, list[ClaimedDelivery]] = {}
    for c in claimed:
        by_channel.setdefault(c.channel, []).append(c)
    results: list[tuple[ClaimedDelivery, Sent, datetime]] = []
    released: list[int] = []
    for name, mine in by_channel.items():
        channel = channels.get(name)
        blocked: set[int] = set()  # a member whose earlier event failed waits
        for wave in _waves(mine):
            go: list[ClaimedDelivery] = []
            late = time.monotonic() >= give_up
            for c in wave:
                if late or (c.member_id is not None and c.member_id in blocked):
                    released.append(c.id)
                else:
                    go.append(c)
            if not go:
                continue
            if channel is None:
                answers = [Sent(False, None, f"channel {name} is not configured")] * len(go)
            else:
                answers = send_all(channel, [_envelope(program, c) for c in go])
            at = ctx.now()
            for c, sent in zip(go, answers, strict=True):
                if not sent.ok and c.member_id is not None:
                    blocked.add(c.member_id)
                results.append((c, sent, at))
    settings = ctx.delivery
    outcomes: list[Settled] = []
    for c, sent, at in results:
        attempt = c.attempts + 1
        if sent.ok:
            status, next_at, done_at = DELIVERED, at, at
            out["delivered"] += 1
        else:
            next_at = at + retry_delay(settings, attempt, rng)
            dead = next_at >= c.created_at + timedelta(seconds=settings.retry_for)
            status, done_at = (DEAD if dead else PENDING), None
            out["dead" if dead else "failed"] += 1
        error = None if sent.ok else (sent.error or "")[:500]
        outcomes.append(
            Settled(
                c.id,
                c.channel,
                status,
                attempt,
                next_at,
                done_at,
                error,
                at,
                sent.status_code,
                sent.duration_ms,
            )
        )
    with ctx.uow() as uow:
        DeliveryRepo(uow.conn).settle_many(holder, outcomes, released)
        uow.commit()
    return out


def run_delivery(
    ctx: ServiceContext,
    program: Program,
    channels: Sequence[Channel],
    holder: str,
    checkpoint: Callable[[int], None] | None = None,
    rng: random.Random | None = None,
    lease: timedelta = LEASE,
) -> Delivered:
    """Dispatch the program's new events to ``channels``, then deliver every due delivery,
    batch after batch (``checkpoint`` between batches: the worker's lease and stop), each
    batch leased for ``lease`` (the worker's: a dead worker's batch is taken over when its
    job is)."""
    by_name = {c.name: c for c in channels}
    wants = {c.name: _wants(c) for c in channels}
    total: Delivered = {"dispatched": 0, "delivered": 0, "failed": 0, "dead": 0}
    while True:
        n = dispatch(ctx, program, wants)
        total["dispatched"] += n
        if n < 1000:
            break
    r = rng or random.Random()  # noqa: S311 - jitter, not a secret
    while True:
        step = deliver_batch(ctx, program, by_name, holder, r, lease=lease)
        handled = step["delivered"] + step["failed"] + step["dead"]
        total["delivered"] += step["delivered"]
        total["failed"] += step["failed"]
        total["dead"] += step["dead"]
        if handled == 0 or step["delivered"] == 0:
            # nothing more is due, or everything due failed: the next run retries
            return total
        if checkpoint is not None:
            checkpoint(handled)


def _wants(channel: Channel) -> Callable[[str], bool]:
    want = getattr(channel, "wants", None)
    return want if callable(want) else (lambda _type: True)


@dataclass(frozen=True, slots=True)
class DeliveryView:
    """One event's delivery on one channel."""

    channel: str
    status: str
    attempts: int
    next_attempt_at: datetime
    delivered_at: datetime | None
    last_error: str | None


def deliveries(ctx: ServiceContext, event_id: str) -> list[DeliveryView]:
    """An event's deliveries, one per channel."""
    with ctx.uow(read_only=True) as uow:
        rows = DeliveryRepo(uow.conn).deliveries(event_id)
    return [
        DeliveryView(
            r.channel, r.status, r.attempts, r.next_attempt_at, r.delivered_at, r.last_error
        )
        for r in rows
    ]
