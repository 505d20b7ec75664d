"""What a lot's expiry counts from (the program's ``expiry_from``), and "N days" ending
at the end of the local day, through the points service and the ledger's lots."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from kopilka.services import audit, points
from kopilka.services import programs as program_svc
from kopilka.services.points import Earn
from kopilka.store.tables import lots


def _lot(ctx: Any, member_id: int) -> tuple[datetime, datetime | None]:
    """The member's one lot: when it became spendable and when it expires."""
    query = select(lots.c.available_at, lots.c.expires_at).where(lots.c.member_id == member_id)
    with ctx.uow(read_only=True) as uow:
        ((available_at, expires_at),) = uow.conn.execute(query).all()
    return available_at, expires_at


@pytest.mark.parametrize(
    ("tz", "expiry", "delay", "expiry_from", "now", "gone_local"),
    [
        # earned 10:00 UTC on 1 March: 30 days run to the end of 31 March
        pytest.param("UTC", ("days", 30), 0, "earning", (2026, 3, 1, 10), (2026, 4, 1), id="utc"),
        # Moscow (UTC+3, no DST): 22:30 UTC on 1 March is already 2 March there
        pytest.param(
            "Europe/Moscow",
            ("days", 30),
            0,
            "earning",
            (2026, 3, 1, 22, 30),
            (2026, 4, 2),
            id="msk",
        ),
        # a 14-day delay: from the earning the period ends as without it ...
        pytest.param(
            "Europe/Moscow",
            ("days", 30),
            14,
            "earning",
            (2026, 3, 1, 10),
            (2026, 4, 1),
            id="delay-from-earning",
        ),
        # ... from the activation (15 March) it ends 30 days after that: end of 14 April
        pytest.param(
            "Europe/Moscow",
            ("days", 30),
            14,
            "activation",
            (2026, 3, 1, 10),
            (2026, 4, 15),
            id="delay-from-activation",
        ),
        # one month to the month's end: the activation (8 February) falls into the next month
        pytest.param(
            "Asia/Kathmandu",
            ("months_end", 1),
            14,
            "activation",
            (2026, 1, 25, 12),
            (2026, 4, 1),
            id="month-end-from-activation",
        ),
        pytest.param(
            "Asia/Kathmandu",
            ("months_end", 1),
            14,
            "earning",
            (2026, 1, 25, 12),
            (2026, 3, 1),
            id="month-end-from-earning",
        ),
    ],
)
def test_a_lot_expires_by_the_program_option(
    ctx: Any,
    clock: Any,
    make_program: Any,
    make_member: Any,
    tz: str,
    expiry: tuple[str, int],
    delay: int,
    expiry_from: str,
    now: tuple[int, ...],
    gone_local: tuple[int, int, int],
) -> None:
    """The lot's expiry is the local midnight the option and the policy give, and the
    ledger verifies."""
    clock.set(datetime(*now, tzinfo=UTC))  # type: ignore[misc]
    program = make_program(
        timezone=tz,
        expiry_kind=expiry[0],
        expiry_n=expiry[1],
        activation_delay_days=delay,
        expiry_from=expiry_from,
    )
    member = make_member(program)
    points.earn(ctx, program, Earn(member, 100, key="earn"))
    available_at, expires_at = _lot(ctx, member)
    assert expires_at == datetime(*gone_local, tzinfo=ZoneInfo(tz))
    assert available_at == datetime(*now, tzinfo=UTC) + timedelta(days=delay)  # type: ignore[misc]
    assert audit.verify_ledger(ctx, program.id).ok


def test_the_option_is_stored_and_changes_later_earnings_only(
    ctx: Any, clock: Any, make_program: Any, make_member: Any
) -> None:
    """Set to activation, the program reads back so, and only points earned afterwards
    count from their activation."""
    clock.set(datetime(2026, 3, 1, 10, tzinfo=UTC))
    program = make_program(expiry_kind="days", expiry_n=10, activation_delay_days=5)
    first, second = make_member(program), make_member(program)
    points.earn(ctx, program, Earn(first, 10, key="a"))
    changed = program_svc.set_expiry_from(
        ctx, program_svc.SetExpiryFrom(program.code, program_svc.ExpiryFrom.ACTIVATION)
    )
    assert program_svc.get_program(ctx, program.code).expiry_from == "activation"
    points.earn(ctx, changed, Earn(second, 10, key="b"))
    assert _lot(ctx, first)[1] == datetime(2026, 3, 12, tzinfo=UTC)
    assert _lot(ctx, second)[1] == datetime(2026, 3, 17, tzinfo=UTC)
