"""A short end-to-end walk through the ledger on both databases."""

from __future__ import annotations

from datetime import timedelta

from kopilka.services import audit, jobs, points
from kopilka.services.points import Earn, Redeem


def test_earn_spend_expire_and_verify(ctx, clock, make_program, make_member):
    """Points earned, spent and expired leave a ledger that verifies clean."""
    program = make_program(expiry_kind="months_end", expiry_n=12)
    member = make_member(program)
    points.earn(ctx, program, Earn(member, 100, key="e1"))
    points.redeem(ctx, program, Redeem(member, 30, key="r1"))
    clock.advance(timedelta(days=400))
    assert jobs.expire_due(ctx, program) == 1
    report = audit.verify_ledger(ctx, program.id)
    assert report.ok, report.to_dict()
    assert report.totals["breakage"] == 70
    assert report.totals["liability"] == 0


def test_a_program_cannot_move_another_programs_points(ctx, make_program, make_member):
    """Ledger operations of one program do not find the members of another."""
    import pytest

    from kopilka.domain.errors import NotFoundError

    mine, theirs = make_program(), make_program()
    member = make_member(theirs)
    with pytest.raises(NotFoundError):
        points.earn(ctx, mine, Earn(member, 100, key="cross"))
    assert audit.verify_ledger(ctx, theirs.id).totals["liability"] == 0
