"""The outbox's delivery rows: webhook subscriptions, deliveries (one per event and
channel) with their leases, and the delivery log.

Deliveries are claimed with ``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL (SQLite has
one worker; the clause is not rendered there): two workers never take the same one. A
delivery is claimable only when no earlier event of its member is still pending on its
channel, so one member's events leave in their order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Integer,
    String,
    and_,
    bindparam,
    exists,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.orm import aliased

from kopilka.store.repos import new_id
from kopilka.store.tables import (
    delivery_attempts,
    outbox_deliveries,
    outbox_events,
    webhook_subscriptions,
)
from kopilka.store.types import UTCDateTime

PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"


@dataclass(frozen=True, slots=True)
class SubscriptionRow:
    id: int
    program_id: int
    url: str
    event_types: list[str]
    secret: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    id: int
    event_id: str
    channel: str
    attempts: int
    member_id: int | None  # None: a program event
    seq: int
    type: str
    schema_version: int
    payload: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class AttemptRow:
    id: int
    delivery_id: int
    event_id: str
    channel: str
    attempt: int
    at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int
    event_type: str
    delivery_status: str  # the delivery's status now: pending, delivered or dead


@dataclass(frozen=True, slots=True)
class DeliveryRow:
    id: int
    event_id: str
    channel: str
    status: str
    attempts: int
    next_attempt_at: datetime
    delivered_at: datetime | None
    last_error: str | None


@dataclass(frozen=True, slots=True)
class Settled:
    """One delivery's outcome and its attempt, as :meth:`DeliveryRepo.settle_many` writes."""

    delivery_id: int
    channel: str
    status: str
    attempts: int
    next_attempt_at: datetime
    delivered_at: datetime | None
    error: str | None
    at: datetime
    status_code: int | None
    duration_ms: int


_D = outbox_deliveries.c
# a batch's outcomes in one statement each (executemany): only while its holder still
# holds the lease and the delivery is pending (a late worker's outcome is refused)
_SETTLE = (
    update(outbox_deliveries)
    .where(
        _D.id == bindparam("b_id"),
        _D.lease_holder == bindparam("b_holder"),
        _D.status == PENDING,
    )
    .values(
        status=bindparam("b_status"),
        attempts=bindparam("b_attempts"),
        next_attempt_at=bindparam("b_next", type_=UTCDateTime),
        delivered_at=bindparam("b_done", type_=UTCDateTime),
        last_error=bindparam("b_error"),
        lease_holder=None,
        lease_expires_at=None,
    )
)


def _member(value: Any) -> int | None:
    return None if value is None else int(value)


def _sub(r: Any) -> SubscriptionRow:
    return SubscriptionRow(r.id, r.program_id, r.url, list(r.event_types), r.secret, r.created_at)


class DeliveryRepo:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # --- subscriptions ---------------------------------------------------------------

    def add_subscription(
        self, program_id: int, url: str, event_types: Sequence[str], secret: str, now: datetime
    ) -> int:
        return new_id(
            self.conn.execute(
                insert(webhook_subscriptions).values(
                    program_id=program_id,
                    url=url,
                    event_types=list(event_types),
                    secret=secret,
                    created_at=now,
                )
            )
        )

    def subscriptions(self, program_id: int) -> list[SubscriptionRow]:
        c = webhook_subscriptions.c
        q = (
            select(webhook_subscriptions)
            .where(c.program_id == program_id, c.removed_at.is_(None))
            .order_by(c.id)
        )
        return [_sub(r) for r in self.conn.execute(q)]

    def subscription(self, subscription_id: int) -> SubscriptionRow | None:
        c = webhook_subscriptions.c
        r = self.conn.execute(
            select(webhook_subscriptions).where(c.id == subscription_id, c.removed_at.is_(None))
        ).first()
        return _sub(r) if r is not None else None

    def change_subscription(
        self, subscription_id: int, url: str | None, event_types: Sequence[str] | None
    ) -> None:
        values: dict[str, object] = {}
        if url is not None:
            values["url"] = url
        if event_types is not None:
            values["event_types"] = list(event_types)
        if values:
            c = webhook_subscriptions.c
            self.conn.execute(
                update(webhook_subscriptions).where(c.id == subscription_id).values(**values)
            )

    def remove_subscription(self, program_id: int, subscription_id: int, now: datetime) -> bool:
        c = webhook_subscriptions.c
        done = self.conn.execute(
            update(webhook_subscriptions)
            .where(c.id == subscription_id, c.program_id == program_id, c.removed_at.is_(None))
            .values(removed_at=now)
        )
        return bool(done.rowcount)

    # --- dispatch: events to deliveries ------------------------------------------------

    def undispatched(self, program_id: int, limit: int) -> list[tuple[str, int | None, int, str]]:
        """The next events no delivery was made for yet, locked (id, member, seq, type)."""
        c = outbox_events.c
        q = (
            select(c.id, c.member_id, c.seq, c.type)
            .where(c.program_id == program_id, c.dispatched_at.is_(None))
            .order_by(c.created_at, c.member_id, c.seq)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [
            (str(r.id), _member(r.member_id), int(r.seq), str(r.type)) for r in self.conn.execute(q)
        ]

    def add_deliveries(self, rows: Sequence[dict[str, object]]) -> None:
        if rows:
            self.conn.execute(insert(outbox_deliveries), list(rows))

    def mark_dispatched(self, event_ids: Sequence[str], now: datetime) -> None:
        if event_ids:
            c = outbox_events.c
            self.conn.execute(
                update(outbox_events).where(c.id.in_(list(event_ids))).values(dispatched_at=now)
            )

    # --- claims ------------------------------------------------------------------------

    def claim(
        self, program_id: int, holder: str, now: datetime, lease_until: datetime, limit: int
    ) -> list[ClaimedDelivery]:
        """Lease up to ``limit`` due deliveries whose member has no earlier event pending
        on the same channel; answers them with their events, in member order."""
        d = outbox_deliveries.c
        earlier = aliased(outbox_deliveries)
        e = outbox_events.c
        ids_q = (
            select(d.id)
            .where(
                d.program_id == program_id,
                d.status == PENDING,
                d.next_attempt_at <= now,
                or_(d.lease_expires_at.is_(None), d.lease_expires_at <= now),
                ~exists().where(
                    and_(
                        earlier.c.channel == d.channel,
                        earlier.c.member_id == d.member_id,
                        earlier.c.seq < d.seq,
                        earlier.c.status == PENDING,
                    )
                ),
            )
            .order_by(d.next_attempt_at, d.member_id, d.seq)
            .limit(limit)
            .with_for_update(skip_locked=True, of=outbox_deliveries)
        )
        ids = [int(i) for i in self.conn.execute(ids_q).scalars()]
        if not ids:
            return []
        self.conn.execute(
            update(outbox_deliveries)
            .where(d.id.in_(ids))
            .values(lease_holder=holder, lease_expires_at=lease_until)
        )
        q = (
            select(
                d.id,
                d.event_id,
                d.channel,
                d.attempts,
                e.member_id,
                e.seq,
                e.type,
                e.schema_version,
                e.payload,
                e.created_at,
            )
            .join(outbox_events, e.id == d.event_id)
            .where(d.id.in_(ids))
            .order_by(d.channel, e.member_id, e.seq)
        )
        return [
            ClaimedDelivery(
                int(r.id),
                str(r.event_id),
                str(r.channel),
                int(r.attempts),
                _member(r.member_id),
                int(r.seq),
                str(r.type),
                int(r.schema_version),
                dict(r.payload),
                r.created_at,
            )
            for r in self.conn.execute(q)
        ]

    def settle_many(self, holder: str, outcomes: Sequence[Settled]) -> None:
        """Record a batch's outcomes (those whose lease ``holder`` still holds) and every
        attempt in the delivery log: two statements, whatever the batch's size."""
        if not outcomes:
            return
        self.conn.execute(
            _SETTLE,
            [
                {
                    "b_id": o.delivery_id,
                    "b_holder": holder,
                    "b_status": o.status,
                    "b_attempts": o.attempts,
                    "b_next": o.next_attempt_at,
                    "b_done": o.delivered_at,
                    "b_error": o.error,
                }
                for o in outcomes
            ],
        )
        self.conn.execute(
            insert(delivery_attempts),
            [
                {
                    "delivery_id": o.delivery_id,
                    "channel": o.channel,
                    "attempt": o.attempts,
                    "at": o.at,
                    "status_code": o.status_code,
                    "error": o.error,
                    "duration_ms": o.duration_ms,
                }
                for o in outcomes
            ],
        )

    # --- reads and redelivery ------------------------------------------------------------

    def deliveries(self, event_id: str) -> list[DeliveryRow]:
        d = outbox_deliveries.c
        q = select(outbox_deliveries).where(d.event_id == event_id).order_by(d.channel)
        return [
            DeliveryRow(
                r.id,
                r.event_id,
                r.channel,
                r.status,
                r.attempts,
                r.next_attempt_at,
                r.delivered_at,
                r.last_error,
            )
            for r in self.conn.execute(q)
        ]

    def attempts(self, channel: str, limit: int) -> list[AttemptRow]:
        """The channel's delivery log, newest first."""
        a = delivery_attempts.c
        d = outbox_deliveries.c
        e = outbox_events.c
        q = (
            select(delivery_attempts, d.event_id, d.status.label("delivery_status"), e.type)
            .join(outbox_deliveries, d.id == a.delivery_id)
            .join(outbox_events, e.id == d.event_id)
            .where(a.channel == channel)
            .order_by(a.id.desc())
            .limit(limit)
        )
        return [
            AttemptRow(
                r.id,
                r.delivery_id,
                r.event_id,
                r.channel,
                r.attempt,
                r.at,
                r.status_code,
                r.error,
                r.duration_ms,
                r.type,
                r.delivery_status,
            )
            for r in self.conn.execute(q)
        ]

    def redeliver(
        self,
        program_id: int,
        channel: str,
        now: datetime,
        *,
        event_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        event_types: Sequence[str] = (),
    ) -> int:
        """Make the channel's deliveries of one event, or of the events created in
        [``since``, ``until``), pending again, due now; the dispatched events of
        ``event_types`` (empty: any) that have no delivery on the channel (they came
        before its subscription) get one. Returns how many."""
        d = outbox_deliveries.c
        e = outbox_events.c
        events = select(e.id).where(e.program_id == program_id, e.dispatched_at.is_not(None))
        if event_id is not None:
            events = events.where(e.id == event_id)
        if since is not None:
            events = events.where(e.created_at >= since)
        if until is not None:
            events = events.where(e.created_at < until)
        missing = select(
            e.id,
            e.program_id,
            literal(channel, String(64)),
            e.member_id,
            e.seq,
            literal(PENDING, String(16)),
            literal(0, Integer),
            literal(now, UTCDateTime),
        ).where(
            e.id.in_(events),
            ~exists().where(and_(d.event_id == e.id, d.channel == channel)),
        )
        if event_types:
            missing = missing.where(e.type.in_(list(event_types)))
        self.conn.execute(
            insert(outbox_deliveries).from_select(
                [
                    "event_id",
                    "program_id",
                    "channel",
                    "member_id",
                    "seq",
                    "status",
                    "attempts",
                    "next_attempt_at",
                ],
                missing,
            )
        )
        done = self.conn.execute(
            update(outbox_deliveries)
            .where(d.channel == channel, d.event_id.in_(events))
            .values(
                status=PENDING,
                attempts=0,
                next_attempt_at=now,
                lease_holder=None,
                lease_expires_at=None,
            )
        )
        return int(done.rowcount)
