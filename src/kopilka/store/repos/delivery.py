"""The outbox's delivery rows: webhook subscriptions, deliveries (one per event and
channel) with their leases, and the delivery log.

Deliveries are claimed with ``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL (SQLite has
one worker; the clause is not rendered there): two workers never take the same one. A
claim takes, per member and channel, the member's earliest pending deliveries as long as
each is due and nobody holds its lease (a prefix of the member's pending ones, up to
:data:`PER_MEMBER`), so one member's events leave in their order: a later one is never
claimed while an earlier one is waiting for its retry or held by another worker.
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
    select,
    text,
    update,
)

from kopilka.store.repos import new_id
from kopilka.store.tables import (
    delivery_attempts,
    outbox_deliveries,
    outbox_events,
    webhook_subscriptions,
)
from kopilka.store.types import UTCDateTime

PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"

# at most this many deliveries of one member and channel in one claim (they go one after
# another, each after the earlier one's answer: a claim of many members' goes faster)
PER_MEMBER = 32

# The claim's candidates: each pending delivery with its rank in its member's order on its
# channel (a program event, no member, is a partition of its own: it has no order among
# others) and whether it and every earlier one are free (due, nobody's lease); the free
# ones are a prefix of each member's. Breadth first (every member's first, then their
# seconds, ...), oldest due first within a rank.
_CANDIDATES = text(
    """
SELECT c.id, c.rank, c.channel, c.member_id FROM (
  SELECT d.id, d.channel, d.next_attempt_at, d.member_id, d.seq,
    row_number() OVER w AS rank,
    min(CASE WHEN d.next_attempt_at <= :now
             AND (d.lease_expires_at IS NULL OR d.lease_expires_at <= :now)
        THEN 1 ELSE 0 END) OVER w AS free
  FROM outbox_deliveries AS d
  WHERE d.program_id = :program_id AND d.status = 'pending'
  WINDOW w AS (
    PARTITION BY d.channel, d.member_id, CASE WHEN d.member_id IS NULL THEN d.id END
    ORDER BY d.seq ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
) AS c
WHERE c.free = 1 AND c.rank <= :per_member
ORDER BY c.rank, c.next_attempt_at, c.member_id, c.seq
LIMIT :limit
"""
).bindparams(bindparam("now", type_=UTCDateTime))
# PostgreSQL: the candidates still free, locked; one another worker holds locked is
# skipped (its claim is under way), one it leased meanwhile is no longer free. By the
# primary key: a plan that does not depend on the table's statistics.
_PG_LOCK = text(
    """
SELECT d.id FROM outbox_deliveries AS d
WHERE d.id = ANY(CAST(:ids AS bigint[])) AND d.status = 'pending'
  AND d.next_attempt_at <= :now
  AND (d.lease_expires_at IS NULL OR d.lease_expires_at <= :now)
FOR UPDATE SKIP LOCKED
"""
).bindparams(bindparam("now", type_=UTCDateTime))
# PostgreSQL: the kept deliveries leased and answered with their events, in one statement
_PG_LEASE = (
    text(
        """
UPDATE outbox_deliveries AS d SET lease_holder = :holder, lease_expires_at = :until
FROM outbox_events AS e
WHERE d.id = ANY(CAST(:ids AS bigint[])) AND e.id = d.event_id
RETURNING d.id, d.event_id, d.channel, d.attempts, e.member_id, e.seq, e.type,
  e.schema_version, e.payload, e.created_at
"""
    )
    .bindparams(bindparam("until", type_=UTCDateTime))
    .columns(created_at=UTCDateTime)
)


def _runs(candidates: Sequence[Any], locked: set[int]) -> list[int]:
    """Of the candidates (id, rank, channel, member), per member and channel the run of
    ranks 1, 2, 3, ... that were all locked: one skipped (another worker's claim holds
    it) ends the member's run, so no later event goes ahead of it."""
    by_member: dict[tuple[object, ...], list[tuple[int, int]]] = {}
    for c in candidates:
        key = (c.channel, c.member_id) if c.member_id is not None else ("", int(c.id))
        by_member.setdefault(key, []).append((int(c.rank), int(c.id)))
    kept: list[int] = []
    for run in by_member.values():
        run.sort()
        for expected, (rank, delivery_id) in enumerate(run, start=1):
            if rank != expected or delivery_id not in locked:
                break
            kept.append(delivery_id)
    return kept


# PostgreSQL: a batch's outcomes and its delivery log in one statement over arrays (an
# ``executemany`` is a statement per row); an outcome is written only while its holder
# still holds the lease and the delivery is pending, every attempt is logged
_PG_SETTLE = text(
    """
WITH v AS (
  SELECT * FROM unnest(CAST(:ids AS bigint[]), CAST(:channels AS varchar[]),
    CAST(:statuses AS varchar[]), CAST(:attempts AS integer[]),
    CAST(:next_at AS timestamptz[]), CAST(:done_at AS timestamptz[]),
    CAST(:errors AS varchar[]), CAST(:at AS timestamptz[]),
    CAST(:codes AS integer[]), CAST(:ms AS integer[]))
  AS v(id, channel, status, attempts, next_at, done_at, error, at, code, ms)
),
settled AS (
  UPDATE outbox_deliveries AS d SET status = v.status, attempts = v.attempts,
    next_attempt_at = v.next_at, delivered_at = v.done_at, last_error = v.error,
    lease_holder = NULL, lease_expires_at = NULL
  FROM v WHERE d.id = v.id AND d.lease_holder = :holder AND d.status = 'pending'
)
INSERT INTO delivery_attempts (delivery_id, channel, attempt, at, status_code, error,
  duration_ms)
SELECT v.id, v.channel, v.attempts, v.at, v.code, v.error, v.ms FROM v
"""
)
# PostgreSQL: a dispatch's events marked and their deliveries made in one statement: a
# delivery per event and channel that wants its type (``types``/``channels``: the pairs)
_PG_DISPATCH = text(
    """
WITH ev AS (
  UPDATE outbox_events AS e SET dispatched_at = :now
  WHERE e.id = ANY(CAST(:ids AS varchar[]))
  RETURNING e.id, e.program_id, e.member_id, e.seq, e.type
)
INSERT INTO outbox_deliveries (event_id, program_id, channel, member_id, seq, status,
  attempts, next_attempt_at)
SELECT ev.id, ev.program_id, w.channel, ev.member_id, ev.seq, 'pending', 0, :now
FROM ev JOIN unnest(CAST(:types AS varchar[]), CAST(:channels AS varchar[]))
  AS w(type, channel) ON w.type = ev.type
ORDER BY ev.member_id, ev.seq
"""
).bindparams(bindparam("now", type_=UTCDateTime))


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


def _claimed(r: Any) -> ClaimedDelivery:
    # the row's columns in the dataclass's order, as the driver typed them (ids and
    # numbers int, text str, the payload a dict, the time UTC): built positionally, a
    # claim is 500 of them
    return ClaimedDelivery(*r)


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
        return [(r[0], r[1], r[2], r[3]) for r in self.conn.execute(q)]

    def dispatch(
        self,
        program_id: int,
        events: Sequence[tuple[str, int | None, int, str]],
        wants: Sequence[tuple[str, str]],
        now: datetime,
    ) -> None:
        """Mark ``events`` (as :meth:`undispatched` answers them) dispatched and make a
        delivery, due ``now``, for each event and channel in ``wants`` (type, channel)
        pairs. PostgreSQL: one statement; SQLite: two."""
        if not events:
            return
        if self.conn.dialect.name == "postgresql":
            self.conn.execute(
                _PG_DISPATCH,
                {
                    "now": now,
                    "ids": [e[0] for e in events],
                    "types": [t for t, _ in wants],
                    "channels": [ch for _, ch in wants],
                },
            )
            return
        by_type: dict[str, list[str]] = {}
        for type_, channel in wants:
            by_type.setdefault(type_, []).append(channel)
        rows = [
            {
                "event_id": event_id,
                "program_id": program_id,
                "channel": channel,
                "member_id": member_id,
                "seq": seq,
                "status": PENDING,
                "attempts": 0,
                "next_attempt_at": now,
            }
            for event_id, member_id, seq, type_ in events
            for channel in by_type.get(type_, ())
        ]
        if rows:
            self.conn.execute(insert(outbox_deliveries), rows)
        c = outbox_events.c
        self.conn.execute(
            update(outbox_events).where(c.id.in_([e[0] for e in events])).values(dispatched_at=now)
        )

    # --- claims ------------------------------------------------------------------------

    def claim(
        self, program_id: int, holder: str, now: datetime, lease_until: datetime, limit: int
    ) -> list[ClaimedDelivery]:
        """Lease up to ``limit`` due deliveries, per member and channel the earliest
        pending ones while each is free (due, unleased; at most :data:`PER_MEMBER`);
        answers them with their events, by channel and in member order."""
        params = {
            "program_id": program_id,
            "now": now,
            "per_member": PER_MEMBER,
            "limit": limit,
        }
        candidates = self.conn.execute(_CANDIDATES, params).all()
        if not candidates:
            return []
        if self.conn.dialect.name == "postgresql":
            ids = [int(c.id) for c in candidates]
            found = self.conn.execute(_PG_LOCK, {"ids": ids, "now": now}).scalars()
            locked = {int(i) for i in found}
            kept = _runs(candidates, locked)
            if not kept:
                return []
            rows = self.conn.execute(
                _PG_LEASE, {"ids": kept, "holder": holder, "until": lease_until}
            ).all()
            return sorted(
                (_claimed(r) for r in rows), key=lambda c: (c.channel, c.member_id or 0, c.seq)
            )
        # SQLite: one worker, nothing to lock
        kept = [int(c.id) for c in candidates]
        d = outbox_deliveries.c
        e = outbox_events.c
        self.conn.execute(
            update(outbox_deliveries)
            .where(d.id.in_(kept))
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
            .where(d.id.in_(kept))
            .order_by(d.channel, e.member_id, e.seq)
        )
        return [_claimed(r) for r in self.conn.execute(q)]

    def settle_many(
        self, holder: str, outcomes: Sequence[Settled], released: Sequence[int] = ()
    ) -> None:
        """Record a batch's outcomes (those whose lease ``holder`` still holds) and every
        attempt in the delivery log, and give up the lease of the ``released`` deliveries
        (not sent: no attempt is counted). PostgreSQL: one statement for the outcomes;
        SQLite: two."""
        if released:
            d = outbox_deliveries.c
            self.conn.execute(
                update(outbox_deliveries)
                .where(d.id.in_(list(released)), d.lease_holder == holder)
                .values(lease_holder=None, lease_expires_at=None)
            )
        if not outcomes:
            return
        if self.conn.dialect.name == "postgresql":
            self.conn.execute(
                _PG_SETTLE,
                {
                    "holder": holder,
                    "ids": [o.delivery_id for o in outcomes],
                    "channels": [o.channel for o in outcomes],
                    "statuses": [o.status for o in outcomes],
                    "attempts": [o.attempts for o in outcomes],
                    "next_at": [o.next_attempt_at for o in outcomes],
                    "done_at": [o.delivered_at for o in outcomes],
                    "errors": [o.error for o in outcomes],
                    "at": [o.at for o in outcomes],
                    "codes": [o.status_code for o in outcomes],
                    "ms": [o.duration_ms for o in outcomes],
                },
            )
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
