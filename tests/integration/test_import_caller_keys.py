"""The importer and a caller under its own (namespaced) key agree on a receipt's key: a
receipt imported is not booked again by a till, and one a till booked is not imported."""

from __future__ import annotations

from datetime import timedelta

import pytest

from kopilka.domain.errors import KopilkaError
from kopilka.ledger.idempotency import caller_key
from kopilka.services import purchases
from kopilka.services.imports import import_purchases
from tests import commands

from .test_import_factories import (
    by_receipt,
    commit_body,
    enroll_cards,
    loyalty_program,
    purchase_rows,
    write_csv,
)


def test_an_imported_receipt_sent_by_a_till_under_its_key_is_a_conflict(ctx, clock, tmp_path):
    """A till re-sending an imported receipt under its own Idempotency-Key (stored as
    ``caller:<id>:<key>``) gets 409 idempotency_conflict, and its key then replays it."""
    program = loyalty_program(ctx, clock)
    rows = purchase_rows(enroll_cards(ctx, program, 1), 1, redeem_every=1000)
    import_purchases(ctx, program, write_csv(tmp_path / "p.csv", rows))
    body = commit_body(by_receipt(rows)[0])
    till = caller_key("7", "till-retry-1")
    for _ in range(2):
        with pytest.raises(KopilkaError) as err:
            purchases.commit(ctx, program, commands.purchase(ctx, program, body), caller_key=till)
        assert err.value.code == "idempotency_conflict"


def test_a_receipt_a_till_booked_is_not_imported_again(ctx, clock, tmp_path):
    """A receipt booked under a caller's key first is counted as ``already`` by the import."""
    program = loyalty_program(ctx, clock)
    rows = purchase_rows(enroll_cards(ctx, program, 2), 4, redeem_every=1000)
    receipts = by_receipt(rows)
    clock.set(max(r["occurred_at"] for r in rows) + timedelta(minutes=1))
    till = caller_key("7", "till-1")
    purchases.commit(
        ctx, program, commands.purchase(ctx, program, commit_body(receipts[0])), caller_key=till
    )
    report = import_purchases(ctx, program, write_csv(tmp_path / "p.csv", rows))
    assert (report.imported, report.already) == (len(receipts) - 1, 1)
