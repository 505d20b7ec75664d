"""Importing purchases under rules with their own expiry books the lots a commit books:
one per expiry, with the same expiry instants, and returns of imported receipts claw back
from the lot each rule earned into."""

from __future__ import annotations

import contextlib
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from kopilka.domain.errors import KopilkaError
from kopilka.domain.program import Program
from kopilka.services import audit, members, programs, purchases, rules
from kopilka.services.context import ServiceContext
from kopilka.services.imports import import_purchases
from kopilka.store.tables import lots
from tests import commands
from tests.program_spec import program_command

from .test_import_factories import (
    HISTORY_START,
    RULES,
    by_receipt,
    commit_body,
    enroll_cards,
    purchase_rows,
    write_csv,
)
from .test_import_purchases import ledger_snapshot

NOW = datetime(2026, 3, 14, 12, 0, tzinfo=UTC)
# the dairy multiplier's points last to the end of the month, the big-basket bonus 30 days
OWN_EXPIRY = RULES.replace(
    "scope: {categories: [dairy]}}", "scope: {categories: [dairy]}, expires: {end_of: month}}"
).replace('min_amount: "3000"}', 'min_amount: "3000", expires: {days: 30}}')


def _program(ctx: ServiceContext, clock: Any) -> Program:
    """Points expire after 60 days by the program; rules with their own expiry beside."""
    now = clock.now()
    program = programs.create_program(
        ctx,
        program_command(
            f"imx-{uuid.uuid4().hex[:10]}",
            expiry_kind="days",
            expiry_n=60,
            timezone="Europe/Moscow",
        ),
    )
    clock.set(HISTORY_START - timedelta(days=30))
    rules.publish(ctx, program, OWN_EXPIRY, actor="test")
    clock.set(now)
    return program


def test_an_import_books_the_lots_a_commit_books(ctx: Any, clock: Any, tmp_path: Any) -> None:
    """The same receipts committed one by one and imported give the same lots (amounts,
    expiries) and balances; a full return of every imported receipt leaves no earned
    point in any lot, and both ledgers verify."""
    assert OWN_EXPIRY.count("expires:") == 2
    clock.set(NOW)
    one_by_one, bulk = _program(ctx, clock), _program(ctx, clock)
    cards = enroll_cards(ctx, one_by_one, 4)
    for card in cards:
        members.enroll(ctx, bulk, members.Enroll((members.identifier("card", card),)))
    rows = purchase_rows(cards, 40, redeem_every=1000)
    for receipt in by_receipt(rows):
        clock.set(receipt[0]["occurred_at"])
        with contextlib.suppress(KopilkaError):
            purchases.commit(
                ctx, one_by_one, commands.purchase(ctx, one_by_one, commit_body(receipt))
            )
    clock.set(NOW)
    report = import_purchases(ctx, bulk, write_csv(tmp_path / "p.csv", rows), batch_size=8)
    assert report.imported > 0
    assert ledger_snapshot(ctx, bulk) == ledger_snapshot(ctx, one_by_one)
    with ctx.uow(read_only=True) as uow:
        per_entry = uow.conn.execute(
            select(func.count())
            .select_from(lots)
            .where(lots.c.program_id == bulk.id)
            .group_by(lots.c.entry_id)
            .having(func.count() > 1)
        ).all()
    assert per_entry, "no purchase earned under two expiries"
    for receipt in by_receipt(rows):
        rid = receipt[0]["receipt_id"]
        try:
            purchases.process_return(ctx, bulk, commands.return_(rid, {"return_id": "all"}))
        except KopilkaError:
            continue  # not booked (refused at import) or earned nothing to return
    with ctx.uow(read_only=True) as uow:
        left = uow.conn.execute(
            select(func.coalesce(func.sum(lots.c.remaining), 0)).where(
                lots.c.program_id == bulk.id, lots.c.source == "earn"
            )
        ).scalar_one()
    assert left == 0
    for program in (bulk, one_by_one):
        assert audit.verify_ledger(ctx, program.id).ok
