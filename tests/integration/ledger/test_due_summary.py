"""``jobs.due`` (``kopilka expire --dry-run``): what the sweeps would do, read without writing.

On the bulk-expiry history (active, pending, partly and fully spent lots, lots not yet
due) plus a hold that times out, the preview's counts equal what the real sweeps then
report, and the preview leaves every row as it was."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from kopilka.domain.clock import FrozenClock
from kopilka.services import jobs, points
from kopilka.services.context import ServiceContext
from kopilka.services.points import PlaceHold
from kopilka.store.tables import (
    holds,
    journal_entries,
    lot_draws,
    lots,
    member_balances,
    postings,
)

from .test_bulk_expiry import SPEC, _history

TABLES = (journal_entries, postings, lots, lot_draws, holds, member_balances)


def _rows(ctx: ServiceContext) -> dict[str, Any]:
    with ctx.uow(read_only=True) as uow:
        return {t.name: sorted(tuple(r) for r in uow.conn.execute(select(t)).all()) for t in TABLES}


def test_due_reports_what_the_sweeps_then_do_and_writes_nothing(
    ctx: ServiceContext, clock: FrozenClock, make_program, make_member
) -> None:
    """Counts, points and members per sweep match the real run; no row changes."""
    program = make_program(**SPEC)
    members = _history(ctx, clock, program, make_member)
    # a hold on member f's 5 points, timed out by the sweep's instant
    points.hold(ctx, program, PlaceHold(members[5], 5, key="hold-f", ttl_seconds=60))
    at = clock.now() + timedelta(days=1)
    before = _rows(ctx)

    due = jobs.due(ctx, program, at)

    assert _rows(ctx) == before
    assert (due["expire_holds"].count, due["expire_holds"].points) == (1, 5)
    # a: 100 (70 left) and 50; b: 20; d: 40; e: 7 and 8 (six lots of four members)
    assert (due["expire_due"].count, due["expire_due"].points) == (6, 70 + 50 + 20 + 40 + 15)
    assert due["expire_due"].members == 4
    done = {
        "expire_holds": jobs.expire_holds(ctx, program, at),
        "activate_due": jobs.activate_due(ctx, program, at),
        "expire_due": jobs.expire_due(ctx, program, at),
    }
    assert done == {name: d.count for name, d in due.items()}
    assert all(d.count == 0 for d in jobs.due(ctx, program, at).values())
