"""The outbox's claim on both databases: a batch takes several events of one member, in
their order, and sends each after the earlier one's answer; a later event whose earlier
one failed in the batch, or that the batch had no time left for, is given back without
an attempt counted; on PostgreSQL a member's events locked by another worker's claim
break the member's run, so no worker takes a later event ahead of an earlier one."""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select

from kopilka.services import delivery, points
from kopilka.services.context import DeliverySettings
from kopilka.services.delivery import Sent
from kopilka.services.outbox import EventEnvelope
from kopilka.services.points import Adjust
from kopilka.store.repos.delivery import DeliveryRepo
from kopilka.store.tables import outbox_deliveries

SETTINGS = DeliverySettings(retry_base=10, retry_cap=3600)


class Recorder:
    """A channel that keeps what it was sent, in order, and fails the events of the
    members in ``failing``; each batch sleeps ``pause`` seconds."""

    name = "rec"

    def __init__(self, failing: Sequence[int] = (), pause: float = 0.0) -> None:
        self.got: list[tuple[int | None, int]] = []
        self.batches: list[int] = []
        self.failing = set(failing)
        self.pause = pause

    def wants(self, event_type: str) -> bool:
        return True

    def send(self, event: EventEnvelope) -> Sent:
        return self.send_many([event])[0]

    def send_many(self, events: Sequence[EventEnvelope]) -> list[Sent]:
        time.sleep(self.pause)
        self.batches.append(len(events))
        out = []
        for e in events:
            self.got.append((e["member_id"], e["sequence"]))
            failed = e["member_id"] in self.failing
            out.append(Sent(False, 500, "HTTP 500") if failed else Sent(True))
        return out

    def close(self) -> None:
        pass


@pytest.fixture
def dctx(ctx):
    return replace(ctx, delivery=SETTINGS)


def adjust(ctx, program, member_id, n):
    for i in range(n):
        points.adjust(
            ctx, program, Adjust(member_id, 10, key=f"c-{member_id}-{i}", reason="r", actor="a")
        )


def rows(ctx, program):
    d = outbox_deliveries.c
    with ctx.uow(read_only=True) as uow:
        q = (
            select(d.member_id, d.seq, d.status, d.attempts, d.lease_holder)
            .where(d.program_id == program.id)
            .order_by(d.member_id, d.seq)
        )
        return [tuple(r) for r in uow.conn.execute(q)]


def test_one_batch_takes_a_members_events_in_their_order(dctx, make_program, make_member):
    """Five events of one member and one of another go in one batch: the member's one
    after another in their sequence (five sends), the other's beside the first."""
    program = make_program()
    a = make_member(program)
    adjust(dctx, program, a, 4)
    b = make_member(program)
    channel = Recorder()
    done = delivery.run_delivery(dctx, program, [channel], "W", rng=random.Random(1))
    assert done["delivered"] == 6
    assert [s for m, s in channel.got if m == a] == [1, 2, 3, 4, 5]
    assert [s for m, s in channel.got if m == b] == [1]
    assert channel.batches == [2, 1, 1, 1, 1]  # a's first with b's, then a's one by one
    assert {r[2] for r in rows(dctx, program)} == {"delivered"}


def test_a_failure_gives_back_the_members_later_events_without_an_attempt(
    dctx, clock, make_program, make_member
):
    """The member's first event fails: their later ones claimed in the same batch are not
    sent, keep no lease and count no attempt, and go in order once the first succeeds;
    another member's events all go meanwhile."""
    program = make_program()
    a, b = make_member(program), make_member(program)
    adjust(dctx, program, a, 2)
    adjust(dctx, program, b, 2)
    channel = Recorder(failing=[a])
    done = delivery.run_delivery(dctx, program, [channel], "W", rng=random.Random(1))
    assert (done["delivered"], done["failed"]) == (3, 1)
    assert [s for m, s in channel.got if m == a] == [1]
    assert [r[1:] for r in rows(dctx, program) if r[0] == a] == [
        (1, "pending", 1, None),
        (2, "pending", 0, None),
        (3, "pending", 0, None),
    ]
    channel.failing.clear()
    clock.advance(timedelta(seconds=10))
    done = delivery.run_delivery(dctx, program, [channel], "W", rng=random.Random(1))
    assert done["delivered"] == 3
    assert [s for m, s in channel.got if m == a] == [1, 1, 2, 3]
    assert [r[3] for r in rows(dctx, program) if r[0] == a] == [2, 1, 1]


def test_no_wave_starts_once_half_the_lease_is_gone(dctx, make_program, make_member):
    """A batch whose first wave outlasts half its lease sends no later wave: those
    deliveries are given back (no lease, no attempt) and the next run sends them, in
    order."""
    program = make_program()
    a = make_member(program)
    adjust(dctx, program, a, 2)
    channel = Recorder(pause=0.3)
    delivery.dispatch(dctx, program, {"rec": channel.wants})
    step = delivery.deliver_batch(
        dctx,
        program,
        {"rec": channel},
        "W",
        random.Random(1),
        lease=timedelta(seconds=0.4),
    )
    assert step["delivered"] == 1
    assert [r[1:] for r in rows(dctx, program)] == [
        (1, "delivered", 1, None),
        (2, "pending", 0, None),
        (3, "pending", 0, None),
    ]
    channel.pause = 0.0
    assert delivery.run_delivery(dctx, program, [channel], "W")["delivered"] == 2
    assert [s for _m, s in channel.got] == [1, 2, 3]


def test_a_members_event_locked_by_another_claim_holds_back_their_later_ones(
    dctx, backend, make_program, make_member
):
    """PostgreSQL: while another worker's claim has locked a member's first delivery
    (not yet leased: its transaction is open), a claim skips it and takes none of that
    member's later ones, and takes another member's; once that worker has leased the
    first, a claim still takes nothing of the member."""
    if not backend.startswith("postgresql"):
        pytest.skip("SQLite takes one worker: nothing else locks a delivery")
    program = make_program()
    a, b = make_member(program), make_member(program)
    adjust(dctx, program, a, 2)
    delivery.dispatch(dctx, program, {"rec": lambda _t: True})
    d = outbox_deliveries.c
    now = dctx.now()
    with dctx.uow() as other:
        first = other.conn.execute(
            select(d.id)
            .where(d.program_id == program.id, d.member_id == a, d.seq == 1)
            .with_for_update()
        ).scalar_one()
        with dctx.uow() as uow:
            claimed = DeliveryRepo(uow.conn).claim(program.id, "B", now, now + delivery.LEASE, 50)
            uow.commit()
        assert [(c.member_id, c.seq) for c in claimed] == [(b, 1)]
        other.conn.execute(
            outbox_deliveries.update()
            .where(d.id == first)
            .values(lease_holder="A", lease_expires_at=now + delivery.LEASE)
        )
        other.commit()
    with dctx.uow() as uow:
        assert DeliveryRepo(uow.conn).claim(program.id, "C", now, now + delivery.LEASE, 50) == []
        uow.commit()
