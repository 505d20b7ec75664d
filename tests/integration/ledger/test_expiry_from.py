"""What a lot's expiry counts from (the program's ``expiry_from``), and "N days" ending
at the end of the local day, through the points service and the ledger's lots."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from kopilka.domain.errors import ValidationError
from kopilka.domain.expiry import ExpiryKind, ExpiryPolicy
from kopilka.ledger.ledger import Ledger
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


def test_an_earning_in_several_lots_refuses_parts_that_do_not_add_up(
    ctx: Any, clock: Any, make_program: Any, make_member: Any
) -> None:
    """Ledger.earn's lots must add up to its points, each positive; a reversal's lots must
    be the earning's own. Nothing is written by a refusal."""
    clock.set(datetime(2026, 3, 1, 10, tzinfo=UTC))
    program = make_program(expiry_kind="months_end", expiry_n=12)
    member = make_member(program)
    days = ExpiryPolicy(ExpiryKind.DAYS, 30)
    for parts in ([(5, None), (4, days)], [(10, None), (0, days)], []):
        with ctx.uow() as uow, pytest.raises(ValidationError, match="add up"):
            Ledger(uow.ledger, program).earn(member, 10, clock.now(), expiries=parts)
    with ctx.uow() as uow:
        lg = Ledger(uow.ledger, program)
        first = lg.earn(member, 10, clock.now(), expiries=[(6, None), (4, days)])
        other = lg.earn(member, 3, clock.now())
        uow.commit()
    assert len(first.details["lots"]) == 2
    with ctx.uow() as uow, pytest.raises(ValidationError, match="not of entry"):
        Ledger(uow.ledger, program).reverse(
            first.entry_id, clock.now(), points=2, from_lots=[(int(other.details["lot_id"]), 2)]
        )
    with ctx.uow() as uow:
        lg = Ledger(uow.ledger, program)
        lg.reverse(
            first.entry_id,
            clock.now(),
            points=5,
            from_lots=[(first.details["lots"][1], 4), (first.details["lots"][0], 1)],
        )
        uow.commit()
    query = (
        select(lots.c.amount, lots.c.remaining)
        .where(lots.c.member_id == member)
        .order_by(lots.c.id)
    )
    with ctx.uow(read_only=True) as uow:
        assert [tuple(r) for r in uow.conn.execute(query)] == [(6, 5), (4, 0), (3, 3)]
    assert audit.verify_ledger(ctx, program.id).ok
