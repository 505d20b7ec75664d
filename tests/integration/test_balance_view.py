"""The balance a till or a member reads is as of now: what fell due since the last
operation or sweep (activation, expiry, a timed-out hold) is shown as booked, and the
read books nothing. tests/integration/ledger/test_stateful.py checks the same after every
step of random sequences."""

from __future__ import annotations

from datetime import timedelta

from kopilka.services import audit, jobs, points
from kopilka.services.balance_view import balance_view
from kopilka.services.points import Earn, PlaceHold

DAY = timedelta(days=1)


def stored(ctx, member_id):
    with ctx.uow(read_only=True) as uow:
        bal = uow.members.balance(member_id)
    return bal.available, bal.pending, bal.held


def shown(ctx, program, member_id):
    view = balance_view(ctx, program, member_id)
    return view.available, view.pending, view.held


def test_due_activation_and_expiry_are_shown_booked_and_left_unbooked(
    ctx, clock, make_program, make_member
):
    program = make_program(expiry_kind="days", expiry_n=30, activation_delay_days=14)
    member = make_member(program)
    points.earn(ctx, program, Earn(member, 100, key="first"))
    clock.advance(10 * DAY)
    points.earn(ctx, program, Earn(member, 40, key="second"))
    assert shown(ctx, program, member) == stored(ctx, member) == (0, 140, 0)

    clock.advance(5 * DAY)  # the first lot's activation is due
    assert shown(ctx, program, member) == (100, 40, 0)
    assert stored(ctx, member) == (0, 140, 0)

    clock.advance(16 * DAY)  # the first lot has expired, the second is active
    view = balance_view(ctx, program, member)
    assert (view.available, view.pending, view.held) == (40, 0, 0)
    assert [d.points for d in view.expiring] == [40]
    assert view.pending_lots == []
    totals = audit.verify_ledger(ctx, program.id).totals
    assert stored(ctx, member) == (0, 140, 0)

    jobs.activate_due(ctx, program)
    jobs.expire_due(ctx, program)
    assert stored(ctx, member) == (40, 0, 0)
    assert audit.verify_ledger(ctx, program.id).totals != totals


def test_a_timed_out_hold_is_shown_released(ctx, clock, make_program, make_member):
    program = make_program()
    member = make_member(program)
    points.earn(ctx, program, Earn(member, 100, key="earn"))
    points.hold(ctx, program, PlaceHold(member, 30, ttl_seconds=60, key="hold"))
    assert shown(ctx, program, member) == (70, 0, 30)
    clock.advance(timedelta(seconds=61))
    assert shown(ctx, program, member) == (100, 0, 0)
    assert stored(ctx, member) == (70, 0, 30)
