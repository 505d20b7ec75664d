"""Importing purchases: the same ledger as committing them one by one, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from kopilka.domain.errors import KopilkaError, ValidationError
from kopilka.services import audit, jobs, members, purchases
from kopilka.services.imports import import_purchases
from kopilka.store.tables import journal_entries, line_awards, lots, purchase_lines
from kopilka.store.tables import purchases as purchases_t
from tests import commands

from .test_import_factories import (
    by_receipt,
    commit_body,
    enroll_cards,
    loyalty_program,
    purchase_rows,
    write_csv,
    write_parquet,
)

NOW = datetime(2026, 3, 14, 12, 0, tzinfo=UTC)


def ledger_snapshot(ctx, program) -> list[dict[str, Any]]:
    """Everything a member's points consist of, without database ids."""
    out = []
    with ctx.uow(read_only=True) as uow:
        conn = uow.conn
        p, pl, la, lt, je = (
            purchases_t.c,
            purchase_lines.c,
            line_awards.c,
            lots.c,
            journal_entries.c,
        )
        ids = conn.execute(
            select(p.member_id).where(p.program_id == program.id).distinct().order_by(p.member_id)
        ).scalars()
        for member_id in ids:
            bal = uow.members.balance(member_id)
            out.append(
                {
                    "balance": (bal.available, bal.pending, bal.held),
                    "purchases": conn.execute(
                        select(
                            p.receipt_id,
                            p.occurred_at,
                            p.total_minor,
                            p.discount_minor,
                            p.points_earned,
                            p.points_redeemed,
                            p.rule_version,
                        )
                        .where(p.member_id == member_id)
                        .order_by(p.receipt_id)
                    ).all(),
                    "lines": conn.execute(
                        select(p.receipt_id, pl.line_id, pl.points_earned, pl.points_redeemed)
                        .join(purchases_t, p.id == pl.purchase_id)
                        .where(p.member_id == member_id)
                        .order_by(p.receipt_id, pl.line_id)
                    ).all(),
                    "awards": conn.execute(
                        select(p.receipt_id, la.line_id, la.rule_id, la.rule_version, la.points)
                        .join(purchases_t, p.id == la.purchase_id)
                        .where(p.member_id == member_id)
                        .order_by(p.receipt_id, la.line_id, la.rule_id)
                    ).all(),
                    "lots": conn.execute(
                        select(
                            lt.source,
                            lt.amount,
                            lt.remaining,
                            lt.earned_at,
                            lt.available_at,
                            lt.expires_at,
                            lt.activated_at,
                            lt.expired_at,
                        )
                        .where(lt.member_id == member_id)
                        .order_by(lt.id)
                    ).all(),
                    "entries": conn.execute(
                        select(je.kind, je.points, je.occurred_at, je.rule_version, je.reference)
                        .where(je.member_id == member_id)
                        .order_by(je.id)
                    ).all(),
                }
            )
    return out


def count(ctx, table, program) -> int:
    with ctx.uow(read_only=True) as uow:
        return int(
            uow.conn.execute(
                select(func.count()).select_from(table).where(table.c.program_id == program.id)
            ).scalar_one()
        )


def test_bulk_import_books_the_same_ledger_as_committing_one_by_one(ctx, clock, tmp_path):
    """An import equals committing each purchase at its own time: balances, per-line awards
    with rule versions, lots with retroactive expiry, refusals; and the lots expire later."""
    clock.set(NOW)
    one_by_one = loyalty_program(ctx, clock, activation_delay_days=2)
    bulk = loyalty_program(ctx, clock, activation_delay_days=2)
    cards = enroll_cards(ctx, one_by_one, 6)
    for card in cards:
        members.enroll(ctx, bulk, members.Enroll((members.identifier("card", card),)))
    rows = purchase_rows(cards, 90, redeem_every=3)
    refused = 0
    for receipt in by_receipt(rows):
        clock.set(receipt[0]["occurred_at"])
        try:
            purchases.commit(
                ctx, one_by_one, commands.purchase(ctx, one_by_one, commit_body(receipt))
            )
        except KopilkaError:
            refused += 1
    clock.set(NOW)
    report = import_purchases(ctx, bulk, write_csv(tmp_path / "p.csv", rows), batch_size=16)
    assert refused > 0
    assert report.rejected == refused
    assert report.imported == 90 - refused
    assert ledger_snapshot(ctx, bulk) == ledger_snapshot(ctx, one_by_one)
    # history older than the expiry period: the sweep expires those lots now
    expired = jobs.expire_due(ctx, bulk, NOW)
    assert expired > 0
    assert jobs.expire_due(ctx, one_by_one, NOW) == expired
    assert ledger_snapshot(ctx, bulk) == ledger_snapshot(ctx, one_by_one)
    for program in (bulk, one_by_one):
        report_ok = audit.verify_ledger(ctx, program.id)
        assert report_ok.ok, report_ok.to_dict()
    assert audit.verify_ledger(ctx, bulk.id).totals["breakage"] > 0


def test_parquet_and_csv_of_the_same_purchases_import_alike(ctx, clock, tmp_path):
    """A Parquet file with typed columns books exactly what the same rows in CSV book."""
    from_csv = loyalty_program(ctx, clock)
    from_parquet = loyalty_program(ctx, clock)
    cards = enroll_cards(ctx, from_csv, 4)
    for card in cards:
        members.enroll(ctx, from_parquet, members.Enroll((members.identifier("card", card),)))
    rows = purchase_rows(cards, 40)
    a = import_purchases(ctx, from_csv, write_csv(tmp_path / "p.csv", rows), batch_size=7)
    b = import_purchases(
        ctx, from_parquet, write_parquet(tmp_path / "p.parquet", rows), batch_size=7
    )
    assert (a.imported, a.rejected, a.points_earned) == (b.imported, b.rejected, b.points_earned)
    assert ledger_snapshot(ctx, from_parquet) == ledger_snapshot(ctx, from_csv)
    assert audit.verify_ledger(ctx, from_parquet.id).ok


BAD_LINES = [
    "{rid}-bad1,{card},2025-10-01T10:00:00+00:00,s1,1,SKU1,dairy,1,abc,",
    "{rid}-bad2,NOSUCHCARD,2025-10-01T10:00:00+00:00,s1,1,SKU1,dairy,1,10.00,",
    "{rid}-bad3,{card},yesterday,s1,1,SKU1,dairy,1,10.00,",
    "{rid}-bad4,{card},2025-10-01T10:00:00+00:00,s1,1,SKU1,dairy",
]


def _with_bad_rows(tmp_path, cards):
    rows = purchase_rows(cards, 20, redeem_every=1000)
    extra = [line.format(rid="X", card=cards[0]) for line in BAD_LINES]
    return write_csv(tmp_path / "p.csv", rows, extra), len(rows)


def test_bad_rows_are_skipped_and_reported_with_their_line_numbers(ctx, clock, tmp_path):
    """--on-error skip books the good receipts and lists each bad one with its CSV line."""
    program = loyalty_program(ctx, clock)
    cards = enroll_cards(ctx, program, 3)
    path, n = _with_bad_rows(tmp_path, cards)
    report = import_purchases(ctx, program, path, batch_size=6)
    assert (report.imported, report.rejected) == (20, 4)
    first = n + 2  # header is line 1
    rejects = (tmp_path / "p.csv.rejects.csv").read_text().splitlines()
    assert rejects[0] == "line,key,code,field,message"
    got = [(int(r.split(",")[0]), r.split(",")[2]) for r in rejects[1:]]
    assert got == [
        (first, "validation_error"),
        (first + 1, "not_found"),
        (first + 2, "validation_error"),
        (first + 3, "validation_error"),
    ]
    assert audit.verify_ledger(ctx, program.id).ok


def test_reject_mode_writes_nothing_when_any_row_is_bad(ctx, clock, tmp_path):
    """--on-error reject refuses the whole file, naming the first bad line, and books nothing."""
    program = loyalty_program(ctx, clock)
    cards = enroll_cards(ctx, program, 3)
    path, n = _with_bad_rows(tmp_path, cards)
    with pytest.raises(ValidationError) as err:
        import_purchases(ctx, program, path, on_error="reject", batch_size=6)
    assert err.value.details["line"] == n + 2
    assert err.value.details["rejected"] == 4
    assert count(ctx, purchases_t, program) == 0
    assert count(ctx, journal_entries, program) == 0


def test_an_interrupted_import_resumes_without_redoing_or_losing_a_batch(ctx, clock, tmp_path):
    """A crash inside batch 3 leaves batches 1-2 committed and nothing of batch 3; the
    re-run finishes the file and the result equals an uninterrupted import."""
    clean = loyalty_program(ctx, clock)
    crashed = loyalty_program(ctx, clock)
    cards = enroll_cards(ctx, clean, 5)
    for card in cards:
        members.enroll(ctx, crashed, members.Enroll((members.identifier("card", card),)))
    path = write_csv(tmp_path / "p.csv", purchase_rows(cards, 60, redeem_every=1000))
    import_purchases(ctx, clean, path, batch_size=10)

    def crash(batch: int) -> None:
        if batch == 3:
            raise RuntimeError("power cut")

    with pytest.raises(RuntimeError):
        import_purchases(ctx, crashed, path, batch_size=10, before_commit=crash)
    assert count(ctx, purchases_t, crashed) == 20
    report = import_purchases(ctx, crashed, path, batch_size=10)
    assert report.resumed_from_row > 0
    assert report.imported == 60
    assert count(ctx, purchases_t, crashed) == 60
    assert ledger_snapshot(ctx, crashed) == ledger_snapshot(ctx, clean)
    assert audit.verify_ledger(ctx, crashed.id).ok


def test_reimporting_never_books_a_receipt_twice(ctx, clock, tmp_path):
    """The same file again is a no-op; another file with the same receipts books none."""
    program = loyalty_program(ctx, clock)
    cards = enroll_cards(ctx, program, 3)
    rows = purchase_rows(cards, 25)
    first = import_purchases(ctx, program, write_csv(tmp_path / "a.csv", rows))
    before = audit.verify_ledger(ctx, program.id).totals
    again = import_purchases(ctx, program, write_csv(tmp_path / "a.csv", rows))
    assert again.status == "already_done"
    copy = import_purchases(ctx, program, write_parquet(tmp_path / "b.parquet", rows))
    assert (copy.imported, copy.already) == (0, first.imported)
    assert audit.verify_ledger(ctx, program.id).totals == before
    assert count(ctx, purchases_t, program) == first.imported


def test_blocked_members_earn_nothing_from_an_import(ctx, clock, tmp_path):
    """Receipts of a blocked member are rejected as member_blocked; others are booked."""
    program = loyalty_program(ctx, clock)
    cards = enroll_cards(ctx, program, 2)
    blocked = members.lookup(ctx, program, "card", cards[0])
    members.set_blocked(ctx, program, blocked.id, True, "fraud")
    rows = purchase_rows(cards, 10, redeem_every=1000)
    report = import_purchases(ctx, program, write_csv(tmp_path / "p.csv", rows))
    assert (report.imported, report.rejected) == (5, 5)
    assert {e["code"] for e in report.first_errors} == {"member_blocked"}
    assert members.get_balance(ctx, program, blocked.id).available == 0
    with ctx.uow(read_only=True) as uow:
        stored = uow.conn.execute(
            select(func.count()).where(purchases_t.c.member_id == blocked.id)
        ).scalar_one()
    assert stored == 0


def test_an_imported_receipt_sent_again_over_the_api_is_a_conflict(ctx, clock, tmp_path):
    """A till re-sending a receipt the import booked gets a conflict, never double points."""
    program = loyalty_program(ctx, clock)
    cards = enroll_cards(ctx, program, 1)
    rows = purchase_rows(cards, 1, redeem_every=1000)
    import_purchases(ctx, program, write_csv(tmp_path / "p.csv", rows))
    clock.set(rows[0]["occurred_at"] + timedelta(minutes=1))
    with pytest.raises(KopilkaError) as err:
        purchases.commit(
            ctx, program, commands.purchase(ctx, program, commit_body(by_receipt(rows)[0]))
        )
    assert err.value.code == "idempotency_conflict"
