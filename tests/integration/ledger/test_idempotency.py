"""Idempotency keys: one key, at most one effect (docs/architecture.md, invariant 5)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from kopilka.domain.errors import HoldExpired, IdempotencyConflict, InsufficientPoints
from kopilka.domain.program import Program
from kopilka.services import audit, points
from kopilka.services.context import ServiceContext
from kopilka.services.points import Adjust, Capture, Earn, PlaceHold, Redeem, Reverse, VoidHold
from tests.integration.ledger.conftest import assert_verifies, ledger_rows

# Each case: a name and a function that sends the request under ``key`` for a member
# holding 500 points (it may set up what it needs under other keys first).
Send = Callable[[ServiceContext, Program, int, str], dict[str, Any]]


def _capture(ctx: ServiceContext, program: Program, member: int, key: str) -> dict[str, Any]:
    held = points.hold(ctx, program, PlaceHold(member, 100, key=f"{key}-hold"))
    return points.capture(ctx, program, Capture(held["hold_id"], key=key, points=60))


def _void(ctx: ServiceContext, program: Program, member: int, key: str) -> dict[str, Any]:
    held = points.hold(ctx, program, PlaceHold(member, 100, key=f"{key}-hold"))
    return points.void(ctx, program, VoidHold(held["hold_id"], key=key))


def _reverse(ctx: ServiceContext, program: Program, member: int, key: str) -> dict[str, Any]:
    spent = points.redeem(ctx, program, Redeem(member, 100, key=f"{key}-redeem"))
    return points.reverse(ctx, program, Reverse(spent["entry_id"], key=key, points=40))


OPERATIONS: dict[str, Send] = {
    "earn": lambda ctx, pr, m, key: points.earn(ctx, pr, Earn(m, 120, key=key)),
    "redeem": lambda ctx, pr, m, key: points.redeem(ctx, pr, Redeem(m, 70, key=key)),
    "hold": lambda ctx, pr, m, key: points.hold(ctx, pr, PlaceHold(m, 90, key=key)),
    "capture": _capture,
    "void": _void,
    "reverse": _reverse,
    "adjust": lambda ctx, pr, m, key: points.adjust(
        ctx, pr, Adjust(m, -30, key=key, reason="damaged card", actor="agent")
    ),
}


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_repeated_key_returns_first_result_and_changes_nothing(
    operation, ctx, make_program, funded_member
):
    """The same key with the same request returns the original result and writes nothing."""
    program = make_program()
    member = funded_member(program, 500)
    send = OPERATIONS[operation]
    first = send(ctx, program, member, "k-1")
    before = ledger_rows(ctx, program.id)
    history = audit.history(ctx, program, member)
    totals = assert_verifies(ctx, program.id)
    # the request itself again (not its set-up steps, which had keys of their own)
    again = _resend(ctx, program, member, operation, first)
    assert again == first
    assert ledger_rows(ctx, program.id) == before
    assert audit.history(ctx, program, member) == history
    assert assert_verifies(ctx, program.id) == totals


def _resend(
    ctx: ServiceContext, program: Program, member: int, operation: str, first: dict[str, Any]
) -> dict[str, Any]:
    hold_id = first["hold_id"]
    return {
        "earn": lambda: points.earn(ctx, program, Earn(member, 120, key="k-1")),
        "redeem": lambda: points.redeem(ctx, program, Redeem(member, 70, key="k-1")),
        "hold": lambda: points.hold(ctx, program, PlaceHold(member, 90, key="k-1")),
        "capture": lambda: points.capture(ctx, program, Capture(hold_id, key="k-1", points=60)),
        "void": lambda: points.void(ctx, program, VoidHold(hold_id, key="k-1")),
        "reverse": lambda: points.reverse(
            ctx, program, Reverse(first["details"]["reverses_entry_id"], key="k-1", points=40)
        ),
        "adjust": lambda: points.adjust(
            ctx, program, Adjust(member, -30, key="k-1", reason="damaged card", actor="agent")
        ),
    }[operation]()


@pytest.mark.parametrize(
    "different",
    [
        pytest.param(lambda ctx, pr, m: points.earn(ctx, pr, Earn(m, 121, key="k")), id="points"),
        pytest.param(
            lambda ctx, pr, m: points.earn(ctx, pr, Earn(m, 120, key="k", reason="x")), id="reason"
        ),
        pytest.param(
            lambda ctx, pr, m: points.redeem(ctx, pr, Redeem(m, 120, key="k")), id="operation"
        ),
        pytest.param(
            lambda ctx, pr, m: points.earn(ctx, pr, Earn(m + 1, 120, key="k")), id="member"
        ),
    ],
)
def test_same_key_different_request_is_a_conflict(different, ctx, make_program, funded_member):
    """The same key with any difference in the request is an IdempotencyConflict."""
    program = make_program()
    member = funded_member(program, 500)
    funded_member(program, 10)  # member + 1 exists, so only the key can refuse
    points.earn(ctx, program, Earn(member, 120, key="k"))
    before = ledger_rows(ctx, program.id)
    with pytest.raises(IdempotencyConflict):
        different(ctx, program, member)
    assert ledger_rows(ctx, program.id) == before


def test_keys_belong_to_their_program(ctx, make_program, funded_member):
    """The same key in two programs is two requests, not a conflict."""
    one, two = make_program(), make_program()
    a, b = funded_member(one, 100), funded_member(two, 100)
    points.earn(ctx, one, Earn(a, 5, key="shared"))
    assert points.earn(ctx, two, Earn(b, 7, key="shared"))["points"] == 7


def test_a_failed_request_stays_failed_under_its_key(ctx, make_program, funded_member):
    """A refused redemption is refused again on retry, even after the member has enough."""
    program = make_program()
    member = funded_member(program, 100)
    with pytest.raises(InsufficientPoints) as first:
        points.redeem(ctx, program, Redeem(member, 300, key="r-1"))
    points.earn(ctx, program, Earn(member, 1000, key="e-1"))
    before = ledger_rows(ctx, program.id)
    with pytest.raises(InsufficientPoints) as retry:
        points.redeem(ctx, program, Redeem(member, 300, key="r-1"))
    assert retry.value.to_dict() == first.value.to_dict()
    assert retry.value.details["available"] == 100  # the answer given the first time
    assert ledger_rows(ctx, program.id) == before
    assert (
        points.redeem(ctx, program, Redeem(member, 300, key="r-2"))["balance"]["available"] == 800
    )


def test_a_capture_refused_as_expired_stays_refused_after_the_clock_goes_back(
    ctx, clock, make_program, funded_member
):
    """A hold captured too late stays "expired" under that key, whatever the clock says next."""
    program = make_program()
    member = funded_member(program, 100)
    held = points.hold(ctx, program, PlaceHold(member, 50, key="h", ttl_seconds=60))
    clock.advance(timedelta(seconds=60))
    with pytest.raises(HoldExpired):
        points.capture(ctx, program, Capture(held["hold_id"], key="c"))
    clock.advance(timedelta(seconds=-30))
    with pytest.raises(HoldExpired):
        points.capture(ctx, program, Capture(held["hold_id"], key="c"))
    assert_verifies(ctx, program.id)
