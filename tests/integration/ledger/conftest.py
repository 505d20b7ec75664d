"""Helpers for the ledger tests: a whole-program snapshot of every ledger row."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from kopilka.domain.program import Program
from kopilka.services import audit, points
from kopilka.services.context import ServiceContext
from kopilka.services.points import Adjust
from kopilka.store.tables import (
    holds,
    idempotency_keys,
    journal_entries,
    lot_draws,
    lots,
    member_balances,
    postings,
)


def ledger_rows(ctx: ServiceContext, program_id: int) -> dict[str, list[tuple[Any, ...]]]:
    """Every ledger row of a program (journal, postings, draws, lots, holds, balances,
    idempotency keys), in id order: equal snapshots mean nothing was written."""
    lot_ids = select(lots.c.id).where(lots.c.program_id == program_id)
    queries = {
        "journal_entries": select(journal_entries).where(
            journal_entries.c.program_id == program_id
        ),
        "postings": select(postings).where(postings.c.program_id == program_id),
        "lot_draws": select(lot_draws).where(lot_draws.c.lot_id.in_(lot_ids)),
        "lots": select(lots).where(lots.c.program_id == program_id),
        "holds": select(holds).where(holds.c.program_id == program_id),
        "member_balances": select(member_balances).where(
            member_balances.c.program_id == program_id
        ),
        "idempotency_keys": select(idempotency_keys).where(
            idempotency_keys.c.program_id == program_id
        ),
    }
    with ctx.uow(read_only=True) as uow:
        return {
            name: [tuple(r) for r in uow.conn.execute(q.order_by(*q.selected_columns[:2]))]
            for name, q in queries.items()
        }


def assert_verifies(ctx: ServiceContext, program_id: int) -> dict[str, Any]:
    """``kopilka verify`` is clean for the program; returns its totals."""
    report = audit.verify_ledger(ctx, program_id)
    assert report.ok, [c for c in report.to_dict()["checks"] if not c["ok"]]
    return report.totals


@pytest.fixture
def funded_member(
    ctx: ServiceContext, make_member: Callable[..., int]
) -> Callable[[Program, int], int]:
    """Enroll a member and credit them ``points`` available at once."""

    def make(program: Program, amount: int) -> int:
        member = make_member(program)
        points.adjust(
            ctx,
            program,
            Adjust(member, amount, key=f"fund-{member}", reason="welcome", actor="test"),
        )
        return member

    return make
