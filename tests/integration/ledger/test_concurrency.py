"""Concurrent requests on PostgreSQL: row locks serialize a member (invariant 7 of
docs/architecture.md).

Threads start together at a barrier and hit one member (or a few) at once. With the
locks on, nobody overspends, no update is lost and verify stays clean; with the locks
off (``lock_rows=False``, the control) the same load breaks the ledger, which is what
proves the locks are doing the work. SQLite has a single writer, so these run on
PostgreSQL only.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest

from kopilka.domain.errors import InsufficientPoints, KopilkaError
from kopilka.domain.program import Program
from kopilka.ledger.ledger import Ledger
from kopilka.services import audit, jobs, points
from kopilka.services import members as member_svc
from kopilka.services.context import ServiceContext
from kopilka.services.points import Adjust, Earn, PlaceHold, Redeem, VoidHold
from tests.integration.ledger.conftest import assert_verifies

THREADS = 12


@pytest.fixture
def pg_ctx(ctx: ServiceContext, backend: str) -> ServiceContext:
    if not backend.startswith("postgresql"):
        pytest.skip("concurrency needs PostgreSQL: SQLite has one writer")
    return ctx


def together(jobs_: list[Callable[[], Any]]) -> list[Any]:
    """Run the jobs on threads released at the same instant; results or raised errors."""
    barrier = threading.Barrier(len(jobs_))

    def run(job: Callable[[], Any]) -> Any:
        barrier.wait()
        try:
            return job()
        except KopilkaError as err:
            return err

    with ThreadPoolExecutor(len(jobs_)) as pool:
        return list(pool.map(run, jobs_))


def spend_race(
    ctx: ServiceContext, program: Program, member: int, round_: int
) -> tuple[int, list[Any]]:
    """Every thread redeems or holds 100 points at once; returns (points taken, outcomes)."""

    def job(i: int) -> Callable[[], Any]:
        key = f"race-{round_}-{i}"
        if i % 2:
            return lambda: points.hold(ctx, program, PlaceHold(member, 100, key=key))
        return lambda: points.redeem(ctx, program, Redeem(member, 100, key=key))

    outcomes = together([job(i) for i in range(THREADS)])
    taken = sum(o["points"] for o in outcomes if isinstance(o, dict))
    return taken, outcomes


def test_concurrent_spending_never_overspends(pg_ctx, make_program, funded_member):
    """Twelve redemptions and holds of 100 at once on 500 points: five succeed, none lost."""
    ctx, program = pg_ctx, make_program()
    member = funded_member(program, 500)
    holds: list[int] = []
    for round_ in range(3):
        if round_:  # refill what the previous round took
            points.adjust(
                ctx, program, Adjust(member, 500, key=f"refill-{round_}", reason="r", actor="t")
            )
            for hold in holds:
                points.void(ctx, program, VoidHold(hold, key=f"void-{hold}"))
        before = member_svc.get_balance(ctx, program, member).available
        taken, outcomes = spend_race(ctx, program, member, round_)
        failures = [o for o in outcomes if not isinstance(o, dict)]
        assert all(isinstance(f, InsufficientPoints) for f in failures), failures
        holds = [o["hold_id"] for o in outcomes if isinstance(o, dict) and o["hold_id"]]
        assert taken == 100 * (THREADS - len(failures)) <= before
        assert taken == before  # every point that could be spent was, by someone
        bal = member_svc.get_balance(ctx, program, member)
        held = 100 * len(holds)
        assert (bal.available, bal.held) == (before - taken, held)
        assert_verifies(ctx, program.id)


def test_concurrent_earnings_lose_no_update(pg_ctx, make_program, funded_member):
    """Twelve earnings at once on one member all count: the balance is their sum."""
    ctx, program = pg_ctx, make_program()
    member = funded_member(program, 0 + 1)
    outcomes = together(
        [
            (lambda i=i: points.earn(ctx, program, Earn(member, 10 + i, key=f"earn-{i}")))
            for i in range(THREADS)
        ]
    )
    assert all(isinstance(o, dict) for o in outcomes), outcomes
    expected = 1 + sum(10 + i for i in range(THREADS))
    assert member_svc.get_balance(ctx, program, member).available == expected
    assert_verifies(ctx, program.id)


def test_same_key_at_once_has_one_effect(pg_ctx, make_program, funded_member):
    """Twelve copies of one request (same key) at once: one effect, everyone the same answer."""
    ctx, program = pg_ctx, make_program()
    member = funded_member(program, 1000)
    outcomes = together(
        [lambda: points.redeem(ctx, program, Redeem(member, 300, key="once"))] * THREADS
    )
    assert all(o == outcomes[0] for o in outcomes), outcomes
    assert member_svc.get_balance(ctx, program, member).available == 700
    assert_verifies(ctx, program.id)


def test_without_row_locks_the_race_breaks_the_ledger(pg_ctx, make_program, funded_member):
    """Control: with SELECT ... FOR UPDATE off, the same race overspends or loses updates.

    This is the expected behaviour of the unlocked code and proves the locks matter; the
    race needs threads to interleave, so it is retried for a bounded number of rounds.
    """
    unlocked = ServiceContext(pg_ctx.engine, pg_ctx.clock, lock_rows=False)
    program = make_program()
    broken = []
    for round_ in range(20):
        member = funded_member(program, 500)
        taken, _ = spend_race(unlocked, program, member, round_)
        report = audit.verify_ledger(pg_ctx, program.id)
        if taken > 500 or not report.ok:
            broken.append((round_, taken, [c.name for c in report.checks if not c.ok]))
            break
    assert broken, "the unlocked race never showed in 20 rounds"


def test_members_locked_in_different_orders_do_not_deadlock(
    pg_ctx, clock, make_program, funded_member
):
    """Transactions touching the same members in opposite orders, with sweeps over all of
    them, all finish: locks are taken in ascending id order."""
    ctx, program = pg_ctx, make_program(expiry_kind="days", expiry_n=1)
    members = [funded_member(program, 10_000) for _ in range(4)]
    clock.advance(timedelta(days=-2))  # a small lot each that is already due to expire
    for m in members:
        points.earn(ctx, program, Earn(m, 5, key=f"old-{m}"))
    clock.advance(timedelta(days=2))

    def move(order: list[int], i: int) -> Callable[[], Any]:
        def run() -> None:
            with ctx.uow() as uow:
                ledger = Ledger(uow.ledger, program)
                ledger.lock(*order)  # asked for in this thread's order
                now = ctx.now()
                for j, m in enumerate(order):
                    if j % 2:
                        ledger.earn(m, 3, now)
                    else:
                        ledger.redeem(m, 1, now)
                uow.commit()

        return run

    rng = random.Random(7)
    work: list[Callable[[], Any]] = []
    for i in range(THREADS - 2):
        order = members[:]
        rng.shuffle(order)
        work.append(move(order, i))
    work.append(lambda: jobs.expire_due(ctx, program))
    work.append(lambda: jobs.activate_due(ctx, program))
    for _ in range(3):
        outcomes = together(work)
        assert not [o for o in outcomes if isinstance(o, BaseException)]
    assert_verifies(ctx, program.id)
    liability = audit.verify_ledger(ctx, program.id).totals["liability"]
    assert liability == 4 * 10_000 + 3 * (THREADS - 2) * (3 * 2 - 1 * 2)
