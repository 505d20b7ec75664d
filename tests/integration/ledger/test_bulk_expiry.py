"""The set-based whole-database expiry sweep records exactly what expiring lot by lot does.

Two programs get the same history (active lots, pending lots, partly and fully spent
lots, lots not yet due, members with nothing due); one is swept by ``jobs.expire_due`` in
small batches (``store/repos/bulk_expiry.py``), the other member by member through
``Ledger.settle`` (``SweepOps._expire``, lot by lot). Their ledgers must match row for row
once ids are replaced by positions.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from kopilka.domain.clock import FrozenClock
from kopilka.domain.program import Program
from kopilka.ledger.ledger import Ledger
from kopilka.services import jobs, points
from kopilka.services.context import ServiceContext
from kopilka.services.points import Adjust, Earn, Redeem
from kopilka.store.tables import journal_entries, lot_draws, lots, member_balances, postings

from .conftest import assert_verifies

SPEC = {"expiry_kind": "days", "expiry_n": 30, "activation_delay_days": 40}


def _history(
    ctx: ServiceContext, clock: FrozenClock, program: Program, make_member: Callable[..., int]
) -> list[int]:
    """Members a-f; the clock ends 35 days on, where the first lots are due."""
    start = clock.now()
    a, b, c, d, e, f = (make_member(program) for _ in range(6))
    key = iter(range(1000))

    def adjust(m: int, n: int) -> None:
        points.adjust(ctx, program, Adjust(m, n, key=f"k{next(key)}", reason="test", actor="test"))

    adjust(a, 100)  # active, then partly spent
    points.redeem(ctx, program, Redeem(a, 30, key=f"k{next(key)}"))
    points.earn(ctx, program, Earn(a, 50, key=f"k{next(key)}"))  # pending when it expires
    points.earn(ctx, program, Earn(b, 20, key=f"k{next(key)}"))  # only a pending lot
    adjust(c, 10)  # fully spent: nothing left to expire
    points.redeem(ctx, program, Redeem(c, 10, key=f"k{next(key)}"))
    adjust(d, 40)
    adjust(e, 7)
    adjust(e, 8)
    clock.set(start + timedelta(days=20))
    adjust(d, 60)  # not due yet at day 35
    adjust(f, 5)  # nothing of f is due
    clock.set(start + timedelta(days=35))
    return [a, b, c, d, e, f]


def _by_account(
    posts: Any, entry_pos: dict[int, int], member_pos: dict[int, int]
) -> list[tuple[Any, ...]]:
    """Postings summed per entry and account: lot by lot, an entry moves each bucket to
    breakage separately (a breakage posting per bucket); the bulk sweep posts one breakage
    total per entry. Same accounts, same amounts."""
    sums: dict[tuple[Any, ...], int] = {}
    for r in posts:
        member = None if r.member_id is None else member_pos[r.member_id]
        k = (entry_pos[r.entry_id], r.account, member)
        sums[k] = sums.get(k, 0) + r.amount
    return [(*k, v) for k, v in sums.items()]


def _snapshot(ctx: ServiceContext, program: Program, members: list[int]) -> dict[str, Any]:
    """The program's ledger with ids replaced by (member position, rank) pairs."""
    member_pos = {m: i for i, m in enumerate(members)}
    with ctx.uow(read_only=True) as uow:
        conn = uow.conn
        lot_rows = conn.execute(
            select(lots).where(lots.c.program_id == program.id).order_by(lots.c.id)
        ).all()
        lot_pos = {r.id: (member_pos[r.member_id], i) for i, r in enumerate(lot_rows)}
        entries = conn.execute(
            select(journal_entries)
            .where(journal_entries.c.program_id == program.id, journal_entries.c.kind == "expire")
            .order_by(journal_entries.c.id)
        ).all()
        entry_pos = {r.id: member_pos[r.member_id] for r in entries}
        draws = conn.execute(
            select(lot_draws).where(lot_draws.c.entry_id.in_(list(entry_pos)))
        ).all()
        posts = conn.execute(select(postings).where(postings.c.entry_id.in_(list(entry_pos)))).all()
        balances = conn.execute(
            select(member_balances).where(member_balances.c.program_id == program.id)
        ).all()
    return {
        "lots": [
            (lot_pos[r.id], r.amount, r.remaining, r.activated_at, r.expires_at, r.expired_at)
            for r in lot_rows
        ],
        "entries": sorted(
            (member_pos[r.member_id], r.kind, r.points, r.occurred_at, r.reverses_entry_id)
            for r in entries
        ),
        "draws": sorted(
            (lot_pos[r.lot_id], entry_pos[r.entry_id], r.kind, r.amount) for r in draws
        ),
        "postings": sorted(_by_account(posts, entry_pos, member_pos)),
        "balances": sorted(
            (member_pos[r.member_id], r.available, r.pending, r.held) for r in balances
        ),
    }


@pytest.mark.parametrize("workers", [1, 2])
def test_bulk_sweep_records_what_lot_by_lot_expiry_records(
    ctx: ServiceContext, clock: FrozenClock, make_program, make_member, workers: int
) -> None:
    """Also with two transactions at once, each expiring its own share of the members."""
    start = clock.now()
    bulk = make_program(**SPEC)
    bulk_members = _history(ctx, clock, bulk, make_member)
    clock.set(start)
    single = make_program(**SPEC)
    single_members = _history(ctx, clock, single, make_member)
    now = clock.now()

    # lots of a (2), b, d, e (2)
    assert jobs.expire_due(ctx, bulk, now, batch=2, workers=workers) == 6
    for member in single_members:
        with ctx.uow() as uow:
            lg = Ledger(uow.ledger, single)
            lg.lock(member)
            lg.settle(member, now)
            uow.commit()

    expected = _snapshot(ctx, single, single_members)
    got = _snapshot(ctx, bulk, bulk_members)
    assert got == expected
    accounts = {p[1] for p in got["postings"]}
    assert accounts == {"available", "pending", "breakage"}
    assert sum(p[3] for p in got["postings"] if p[1] == "breakage") == 70 + 50 + 20 + 40 + 15
    assert_verifies(ctx, bulk.id)
    assert_verifies(ctx, single.id)
    # a second sweep finds nothing more
    assert jobs.expire_due(ctx, bulk, now, batch=2, workers=workers) == 0
    assert _snapshot(ctx, bulk, bulk_members) == got


def test_bulk_sweep_leaves_other_programs_and_members_alone(
    ctx: ServiceContext, clock: FrozenClock, make_program, make_member
) -> None:
    start = clock.now()
    swept = make_program(**SPEC)
    _history(ctx, clock, swept, make_member)
    clock.set(start)
    other = make_program(**SPEC)
    other_members = _history(ctx, clock, other, make_member)
    before = _snapshot(ctx, other, other_members)
    assert jobs.expire_due(ctx, swept, clock.now(), batch=1000) == 6
    assert _snapshot(ctx, other, other_members) == before
