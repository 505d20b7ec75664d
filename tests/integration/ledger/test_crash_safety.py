"""Crash safety: an operation that fails half-way leaves no trace (invariants 1 and 7 of
docs/architecture.md).

The fault is injected into the store: a ``LedgerRepo`` write runs, then raises, as if
the process died or the database refused the next statement. Journal, postings, draws,
lots, holds, balances and idempotency keys must be exactly as before, and verify clean.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from kopilka.domain.program import Program
from kopilka.services import jobs, points
from kopilka.services.context import ServiceContext
from kopilka.services.points import Capture, Earn, PlaceHold, Redeem, Reverse, VoidHold
from kopilka.store.repos.ledger import LedgerRepo
from tests.integration.ledger.conftest import assert_verifies, ledger_rows


class Crash(RuntimeError):
    """The injected failure."""


def crash_after(monkeypatch: pytest.MonkeyPatch, method: str) -> None:
    """Make ``LedgerRepo.<method>`` do its write and then fail."""
    real = getattr(LedgerRepo, method)

    def write_then_crash(self: LedgerRepo, *args: Any, **kwargs: Any) -> Any:
        real(self, *args, **kwargs)
        raise Crash(f"injected after {method}")

    monkeypatch.setattr(LedgerRepo, method, write_then_crash)


Prepared = Callable[[], Any]


def prepare(
    operation: str, ctx: ServiceContext, clock: Any, program: Program, member: int
) -> Prepared:
    """Set the scene for ``operation`` and return the call that will crash."""
    if operation == "earn":
        return lambda: points.earn(ctx, program, Earn(member, 50, key="x"))
    if operation == "redeem":
        return lambda: points.redeem(ctx, program, Redeem(member, 150, key="x"))
    if operation == "hold":
        return lambda: points.hold(ctx, program, PlaceHold(member, 150, key="x"))
    if operation in ("capture", "capture_partial", "void"):
        hold_id = points.hold(ctx, program, PlaceHold(member, 150, key="h"))["hold_id"]
        if operation == "void":
            return lambda: points.void(ctx, program, VoidHold(hold_id, key="x"))
        part = 100 if operation == "capture_partial" else None
        return lambda: points.capture(ctx, program, Capture(hold_id, key="x", points=part))
    if operation == "reverse_earn":
        earned = points.earn(ctx, program, Earn(member, 80, key="e"))
        return lambda: points.reverse(ctx, program, Reverse(earned["entry_id"], key="x"))
    if operation == "reverse_redeem":
        spent = points.redeem(ctx, program, Redeem(member, 120, key="r"))
        clock.advance(timedelta(days=40))  # its lot has expired: a reissue lot is made
        return lambda: points.reverse(ctx, program, Reverse(spent["entry_id"], key="x", points=90))
    if operation == "expire_sweep":
        clock.advance(timedelta(days=40))
        return lambda: jobs.expire_due(ctx, program)
    if operation == "hold_sweep":
        points.hold(ctx, program, PlaceHold(member, 150, key="h"))
        clock.advance(timedelta(days=2))
        return lambda: jobs.expire_holds(ctx, program)
    raise AssertionError(operation)


# (operation, the LedgerRepo write after which it crashes)
CASES = [
    ("earn", "write_entries"),
    ("earn", "insert_lots"),
    ("earn", "insert_draws"),  # repaying a debt
    ("redeem", "write_entries"),
    ("redeem", "update_lots"),
    ("hold", "write_entries"),
    ("hold", "insert_hold"),
    ("capture", "write_entries"),
    ("capture", "update_hold"),
    ("capture_partial", "update_lots"),
    ("capture_partial", "update_hold"),
    ("void", "write_entries"),
    ("void", "update_hold"),
    ("reverse_earn", "write_entries"),
    ("reverse_redeem", "write_entries"),
    ("reverse_redeem", "insert_lots"),
    ("expire_sweep", "expire_lots"),
    ("hold_sweep", "update_hold"),
]


@pytest.mark.parametrize(("operation", "method"), CASES)
def test_failure_midway_leaves_no_trace(
    operation, method, ctx, clock, make_program, funded_member, monkeypatch
):
    """An operation that dies after one of its writes leaves every ledger row as it was."""
    program = make_program(
        expiry_kind="days", expiry_n=30, negative_balance="debt", restore_policy="reissue"
    )
    member = funded_member(program, 300)
    if method == "insert_draws":  # a debt, so that the next earning repays it
        earned = points.earn(ctx, program, Earn(member, 100, key="d-earn"))
        points.redeem(ctx, program, Redeem(member, 400, key="d-spend"))
        points.reverse(ctx, program, Reverse(earned["entry_id"], key="d-claw"))
    call = prepare(operation, ctx, clock, program, member)
    before = ledger_rows(ctx, program.id)
    totals = assert_verifies(ctx, program.id)

    crash_after(monkeypatch, method)
    with pytest.raises(Crash):
        call()
    monkeypatch.undo()

    assert ledger_rows(ctx, program.id) == before
    assert assert_verifies(ctx, program.id) == totals
    call()  # and the same request, retried under its key, now goes through
    assert ledger_rows(ctx, program.id) != before
    assert_verifies(ctx, program.id)
