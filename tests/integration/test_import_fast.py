"""Import paths added for speed: they must book and report exactly like the checked ones."""

from __future__ import annotations

from kopilka.services import audit, members
from kopilka.services.imports import import_purchases
from kopilka.services.points import PlaceHold
from tests import commands

from .test_import_factories import enroll_cards, loyalty_program, purchase_rows, write_csv


def _twin_programs(ctx, clock, n_cards):
    """Two programs with the same rules and the same ``n_cards`` members: one books the
    purchases one by one, the other imports them."""
    one_by_one = loyalty_program(ctx, clock)
    bulk = loyalty_program(ctx, clock)
    cards = enroll_cards(ctx, one_by_one, n_cards)
    for card in cards:
        members.enroll(ctx, bulk, members.Enroll((members.identifier("card", card),)))
    return one_by_one, bulk, cards


def test_a_receipt_with_duplicate_line_ids_is_reported_at_its_first_line(ctx, clock, tmp_path):
    """The basket's own check names a line id, not a file line: the receipt's line is used
    (a non-numeric line id used to stop the whole import)."""
    program = loyalty_program(ctx, clock)
    cards = enroll_cards(ctx, program, 2)
    rows = purchase_rows(cards, 4, redeem_every=1000)
    extra = [
        f"DUP,{cards[0]},2025-10-01T10:00:00+00:00,s1,A,SKU1,dairy,1,10.00,",
        f"DUP,{cards[0]},2025-10-01T10:00:00+00:00,s1,A,SKU2,dairy,1,11.00,",
    ]
    path = write_csv(tmp_path / "p.csv", rows, extra)
    report = import_purchases(ctx, program, path)
    assert (report.imported, report.rejected) == (4, 1)
    first = len(rows) + 2
    assert report.first_errors[0]["line"] == first
    assert report.first_errors[0]["code"] == "validation_error"
    assert audit.verify_ledger(ctx, program.id).ok


def test_a_batch_loads_through_the_driver_what_sqlalchemy_reads(ctx, clock, tmp_path):
    """The batch loads balances, open lots and holds with raw SQL: same rows, same aware
    UTC datetimes, same statuses as the SQLAlchemy column types give."""
    from dataclasses import astuple
    from datetime import timedelta

    from sqlalchemy import or_, select

    from kopilka.services import points
    from kopilka.store.bulk.ledger import MemoryLedgerPort
    from kopilka.store.bulk.writer import BulkWriter
    from kopilka.store.repos.ledger import HOLD_COLUMNS, LOT_COLUMNS
    from kopilka.store.tables import holds, lots, member_balances

    from .test_import_factories import HISTORY_START

    clock.set(HISTORY_START + timedelta(days=125))  # after the history, before it expires
    program = loyalty_program(ctx, clock, activation_delay_days=2)
    cards = enroll_cards(ctx, program, 3)
    import_purchases(ctx, program, write_csv(tmp_path / "p.csv", purchase_rows(cards, 30)))
    holder = members.lookup(ctx, program, "card", cards[0])
    points.hold(ctx, program, PlaceHold(holder.id, 1, key="h1", reference="till-1"))
    with ctx.uow() as uow:
        conn = uow.conn
        ids = sorted(
            conn.execute(select(lots.c.member_id).where(lots.c.program_id == program.id))
            .scalars()
            .unique()
            .all()
        )
        want_lots = [
            tuple(r)
            for r in conn.execute(
                select(*LOT_COLUMNS)
                .where(
                    lots.c.member_id.in_(ids),
                    lots.c.expired_at.is_(None),
                    or_(lots.c.remaining > 0, lots.c.activated_at.is_(None)),
                )
                .order_by(lots.c.member_id, lots.c.id)
            )
        ]
        want_holds = [
            tuple(r)
            for r in conn.execute(
                select(*HOLD_COLUMNS).where(holds.c.member_id.in_(ids), holds.c.status == "active")
            )
        ]
        want_balances = {
            r[0]: tuple(r)
            for r in conn.execute(
                select(
                    member_balances.c.member_id,
                    member_balances.c.available,
                    member_balances.c.pending,
                    member_balances.c.held,
                ).where(member_balances.c.member_id.in_(ids))
            )
        }
        port = MemoryLedgerPort(BulkWriter(conn), program.id)
        port.load(ids)
    got_lots = [astuple(lot) for m in ids for lot in port.open_lots[m]]
    assert want_lots
    assert got_lots == want_lots
    assert [type(v) for v in got_lots[0]] == [type(v) for v in want_lots[0]]
    assert got_lots[0][6].utcoffset() is not None
    got_holds = [astuple(h) for hs in port.active_holds.values() for h in hs]
    assert len(want_holds) == 1
    assert got_holds == want_holds
    assert port.active_holds[holder.id][0].status == "active"
    assert {m: astuple(b)[:4] for m, b in port.balances.items()} == want_balances
    assert {b.status for b in port.balances.values()} == {"active"}


def test_one_big_batch_sent_in_chunks_books_what_commits_book(ctx, clock, tmp_path):
    """One batch of 90 receipts: on PostgreSQL its rows go out in chunks while it is
    booked, and lots sent in one chunk are spent (or refused) in later ones."""
    from kopilka.domain.errors import KopilkaError
    from kopilka.services import purchases

    from .test_import_factories import by_receipt, commit_body
    from .test_import_purchases import NOW, ledger_snapshot

    clock.set(NOW)
    one_by_one, bulk, cards = _twin_programs(ctx, clock, 3)
    rows = purchase_rows(cards, 90, redeem_every=2)
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
    report = import_purchases(ctx, bulk, write_csv(tmp_path / "p.csv", rows), batch_size=1000)
    assert report.batches == 1
    assert (report.imported, report.rejected) == (90 - refused, refused)
    assert report.points_redeemed > 0
    assert ledger_snapshot(ctx, bulk) == ledger_snapshot(ctx, one_by_one)
    assert audit.verify_ledger(ctx, bulk.id).ok


def test_a_failure_while_chunks_are_in_flight_leaves_nothing_of_the_batch(
    ctx, clock, tmp_path, monkeypatch
):
    """A crash after some chunks were sent (PostgreSQL) rolls the whole batch back; the
    re-run books it all."""
    import pytest
    from sqlalchemy import func, select

    from kopilka.services.imports import booking
    from kopilka.store.tables import journal_entries
    from kopilka.store.tables import purchases as purchases_t

    program = loyalty_program(ctx, clock)
    cards = enroll_cards(ctx, program, 3)
    path = write_csv(tmp_path / "p.csv", purchase_rows(cards, 40, redeem_every=1000))
    real = booking._book_one
    calls = 0

    def failing(*args, **kwargs):
        nonlocal calls
        calls += 1
        if calls == 30:
            raise RuntimeError("power cut")
        return real(*args, **kwargs)

    monkeypatch.setattr(booking, "_book_one", failing)
    with pytest.raises(RuntimeError):
        import_purchases(ctx, program, path, batch_size=1000)
    monkeypatch.setattr(booking, "_book_one", real)

    def count(table):
        with ctx.uow(read_only=True) as uow:
            return uow.conn.execute(
                select(func.count()).select_from(table).where(table.c.program_id == program.id)
            ).scalar_one()

    assert count(purchases_t) == 0
    assert count(journal_entries) == 0
    report = import_purchases(ctx, program, path, batch_size=1000)
    assert report.imported == 40
    assert count(purchases_t) == 40
    assert audit.verify_ledger(ctx, program.id).ok


def test_set_based_updates_write_what_row_updates_write(ctx, clock, tmp_path):
    """BulkWriter.update (one statement per table on PostgreSQL) sets lots, holds, balances
    and members to the values given, nulls and aware datetimes included, and nothing else."""
    from datetime import timedelta

    from sqlalchemy import select

    from kopilka.services import points
    from kopilka.store.bulk.writer import BulkWriter
    from kopilka.store.tables import holds, lots, member_balances
    from kopilka.store.tables import members as members_table

    from .test_import_factories import HISTORY_START

    clock.set(HISTORY_START + timedelta(days=125))
    program = loyalty_program(ctx, clock)
    cards = enroll_cards(ctx, program, 3)
    import_purchases(ctx, program, write_csv(tmp_path / "p.csv", purchase_rows(cards, 12)))
    holder = members.lookup(ctx, program, "card", cards[0])
    points.hold(ctx, program, PlaceHold(holder.id, 1, key="h1", reference="till-1"))
    at = clock.now() + timedelta(hours=1)
    with ctx.uow() as uow:
        conn = uow.conn
        lot_ids = (
            conn.execute(
                select(lots.c.id).where(lots.c.program_id == program.id).order_by(lots.c.id)
            )
            .scalars()
            .all()[:3]
        )
        [hold_id] = conn.execute(select(holds.c.id).where(holds.c.member_id == holder.id)).scalars()
        member_ids = sorted(
            conn.execute(
                select(members_table.c.id).where(members_table.c.program_id == program.id)
            ).scalars()
        )
        untouched = conn.execute(
            select(lots.c.id, lots.c.remaining).where(lots.c.id.notin_(lot_ids))
        ).all()
        w = BulkWriter(conn)
        w.update(
            "lots",
            (
                ("remaining", "bigint"),
                ("activated_at", "timestamptz"),
                ("expired_at", "timestamptz"),
            ),
            ("id", "bigint"),
            [
                (i, w.ts(at), w.ts(at) if i == 0 else None, lot_id)
                for i, lot_id in enumerate(lot_ids)
            ],
        )
        w.update(
            "holds",
            (("status", "varchar"), ("captured", "bigint"), ("resolved_entry_id", "bigint")),
            ("id", "bigint"),
            [("voided", 0, None, hold_id)],
        )
        w.update(
            "member_balances",
            (("available", "bigint"), ("pending", "bigint"), ("held", "bigint")),
            ("member_id", "bigint"),
            [(100 + m, m, 0, m) for m in member_ids],
        )
        w.update(
            "members",
            (("lifetime_spend_minor", "bigint"), ("purchase_count", "integer")),
            ("id", "bigint"),
            [(5_000 + m, 7, m) for m in member_ids],
        )
        w.update("members", (("purchase_count", "integer"),), ("id", "bigint"), [])
        got_lots = conn.execute(
            select(lots.c.id, lots.c.remaining, lots.c.activated_at, lots.c.expired_at)
            .where(lots.c.id.in_(lot_ids))
            .order_by(lots.c.id)
        ).all()
        assert [tuple(r) for r in got_lots] == [
            (lot_id, i, at, at if i == 0 else None) for i, lot_id in enumerate(lot_ids)
        ]
        assert got_lots[0].activated_at.utcoffset() == timedelta(0)
        hold = conn.execute(select(holds).where(holds.c.id == hold_id)).one()
        assert (hold.status, hold.captured, hold.resolved_entry_id) == ("voided", 0, None)
        balances = conn.execute(
            select(
                member_balances.c.member_id, member_balances.c.available, member_balances.c.pending
            )
            .where(member_balances.c.member_id.in_(member_ids))
            .order_by(member_balances.c.member_id)
        ).all()
        assert [tuple(r) for r in balances] == [(m, 100 + m, m) for m in member_ids]
        people = conn.execute(
            select(
                members_table.c.id,
                members_table.c.lifetime_spend_minor,
                members_table.c.purchase_count,
            )
            .where(members_table.c.id.in_(member_ids))
            .order_by(members_table.c.id)
        ).all()
        assert [tuple(r) for r in people] == [(m, 5_000 + m, 7) for m in member_ids]
        assert (
            conn.execute(select(lots.c.id, lots.c.remaining).where(lots.c.id.notin_(lot_ids))).all()
            == untouched
        )


def test_imported_json_is_stored_as_the_column_type_stores_it(ctx, clock, tmp_path):
    """The journal's ``meta`` text an import writes is the text a committed purchase's
    entry gets through SQLAlchemy's JSON type (the engine's serializer), byte for byte.
    (Entries without meta are left out: the type stores JSON ``null`` where the import
    stores SQL NULL, which every reader takes as None.)"""
    from kopilka.services import purchases

    from .test_import_factories import by_receipt, commit_body
    from .test_import_purchases import NOW

    clock.set(NOW)
    one_by_one, bulk, cards = _twin_programs(ctx, clock, 2)
    rows = purchase_rows(cards, 12, redeem_every=1000)
    for receipt in by_receipt(rows):
        clock.set(receipt[0]["occurred_at"])
        purchases.commit(ctx, one_by_one, commands.purchase(ctx, one_by_one, commit_body(receipt)))
    clock.set(NOW)
    report = import_purchases(ctx, bulk, write_csv(tmp_path / "p.csv", rows))
    assert report.imported == 12

    def metas(program_id: int) -> list[str]:
        with ctx.uow() as uow:
            return list(
                uow.conn.exec_driver_sql(
                    "SELECT CAST(meta AS TEXT) FROM journal_entries "
                    f"WHERE program_id = {int(program_id)} AND meta IS NOT NULL "
                    "AND CAST(meta AS TEXT) <> 'null' ORDER BY id"
                ).scalars()
            )

    stored = metas(bulk.id)
    assert len(stored) == 12
    assert stored == metas(one_by_one.id)
